"""Keeping freed memory for the estimator's next call (tokenomist.perf.memory)."""

import subprocess
import sys

CALL = "from tokenomist.perf.memory import keep_freed_memory; print(keep_freed_memory())"


def _call(env: dict[str, str] | None = None) -> str:
    """keep_freed_memory() in a process of its own (it sets process-wide allocator
    options)."""
    import os
    return subprocess.run([sys.executable, "-c", CALL], capture_output=True, text=True,
                          check=True, env={**os.environ, **(env or {})}).stdout.strip()


def test_keep_freed_memory_sets_glibc_thresholds_unless_the_user_did() -> None:
    """On Linux with glibc, mallopt accepts both thresholds (it returns 0 for a parameter
    or value it refuses); malloc options the user set through the environment are left
    alone; another platform or C library is left alone."""
    import ctypes
    glibc = sys.platform.startswith("linux") \
        and hasattr(ctypes.CDLL(None), "gnu_get_libc_version")
    assert _call() == str(glibc)
    assert _call({"MALLOC_TRIM_THRESHOLD_": "131072"}) == "False"
    assert _call({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"}) == "False"
