"""Keeping freed memory for the estimator's next call (tokenomist.perf.memory)."""

import ctypes

from tokenomist.perf import memory


def test_keep_freed_memory_sets_glibc_thresholds_unless_the_user_did(monkeypatch):
    """tokenomist.perf.memory: on glibc, mallopt accepts both thresholds (it returns 0 for
    a parameter or value it refuses); a threshold the user set through the environment is
    left alone; another C library is left alone."""
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "gnu_get_libc_version"):
        assert memory.keep_freed_memory() is False
        return
    assert memory.keep_freed_memory() is True
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert memory.keep_freed_memory() is False
