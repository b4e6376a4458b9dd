"""Run the ``tokenomist`` command line as a user would, in a fresh interpreter (tests)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

CLI = (sys.executable, "-m", "tokenomist")


def run_cli(*args: str, timeout: float = 300, **kwargs: Any
            ) -> subprocess.CompletedProcess[str]:
    """``tokenomist ARGS``: its exit code, standard output and standard error as text."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          **kwargs)
