"""End-to-end tests that need a real tool (a server, a browser): skipped where it is not
installed, failed instead under ``TOKENOMIST_REQUIRE_E2E=1`` (what ``.ci/run`` sets)."""

from __future__ import annotations

import os


def need(ok: bool, what: str) -> None:
    """Skip the calling test (fail it under TOKENOMIST_REQUIRE_E2E=1) unless ``ok``."""
    if ok:
        return
    import pytest

    if os.environ.get("TOKENOMIST_REQUIRE_E2E") == "1":
        pytest.fail(f"{what} is not installed but TOKENOMIST_REQUIRE_E2E=1")
    pytest.skip(f"{what} is not installed (see .ci/run)")
