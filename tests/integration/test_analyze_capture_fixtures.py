"""Committed real captures of the two Chromium calls that must outlast RFC 7675's 30 s consent timeout.

Made by tests/integration/test_analyze_capture_browser.py (``RTCDIAG_BROWSER_ALL=1 RTCDIAG_SAVE_CAPTURES=1``):
a real headless Chromium relay-only call through a real coturn on loopback, captured with tcpdump —
``killed``: coturn SIGKILLed mid-call; ``vanish``: the callee closes without a word. Each live run takes
~47 s, so CI judges these captures (same assertions as the live tests) instead of waiting out the timeout.
No credential is in them: TURN carries only the user name and a MESSAGE-INTEGRITY, never the password.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from test_analyze_capture_browser import PASSWORD, check_callee_vanished, check_server_killed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "capture"


def _meta(name: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return meta


def test_committed_capture_of_coturn_killed_mid_call_names_the_server() -> None:
    meta = _meta("killed")
    check_server_killed(FIXTURES / "killed.pcap.gz", meta["server_port"], meta["page"])


def test_committed_capture_of_the_callee_vanishing_is_consent_lost() -> None:
    check_callee_vanished(FIXTURES / "vanish.pcap.gz", _meta("vanish")["page"])


def test_committed_captures_hold_no_password() -> None:
    for name in ("killed", "vanish"):
        assert PASSWORD.encode() not in gzip.decompress((FIXTURES / f"{name}.pcap.gz").read_bytes())
        assert PASSWORD not in (FIXTURES / f"{name}.json").read_text()
