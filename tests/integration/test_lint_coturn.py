"""What ``rtcdiag lint`` says coturn does with a line, checked against the installed coturn itself: the
version comes from the local ``turnserver --version`` (as ``rtcdiag lint`` takes it) and the rules' claims
(ignored, refused, fatal) are what this turnserver really does with the same lines."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from rtcdiag.coturn import CoturnOptions, RunningCoturn, turnserver_path
from rtcdiag.lint.turnserver_conf import parse_text
from rtcdiag.lint.versions import V4_7_0, V4_11_0, local_version
from rtcdiag.triage.finding import Severity
from rtcdiag.triage.lint import LintPlan, judge

Factory = Callable[[CoturnOptions], RunningCoturn]


def lint(text: str) -> dict[str, list[Severity]]:
    found: dict[str, list[Severity]] = {}
    for f in judge(LintPlan(parse_text(text, "t.conf"), local_version())).findings:
        found.setdefault(f.id, []).append(f.severity)
    return found


def test_local_version_is_read_from_the_binary() -> None:
    known = local_version()
    assert known.version is not None and known.version >= (4, 5)
    assert known.detail == turnserver_path()


def test_malformed_peer_range_and_removed_option_as_this_coturn_treats_them(coturn_factory: Factory) -> None:
    version = local_version().version
    assert version is not None
    lines = ("denied-peer-ip=10.0.0.0/8",) + (("no-loopback-peers",) if version < V4_7_0 else ())
    found = lint("\n".join(lines))
    assert Severity.ERROR in found["LINT-PEER-IP-MALFORMED"]
    if version >= V4_11_0:
        return  # coturn refuses to start with the malformed line (PR #1872); nothing more to observe
    server = coturn_factory(CoturnOptions(users={"alice": "pw-lint"}, extra_lines=lines))
    log = server.log_tail(400)
    assert "Wrong address format: 10.0.0.0/8" in log  # logged, ignored, and the server runs
    assert server.alive()
    if version < V4_7_0:
        assert "Bad configuration format: no-loopback-peers" in log
        assert found["LINT-OPTION-REJECTED"] == [Severity.WARNING]  # ignored, not fatal, before 4.7.0


def test_inline_comment_on_a_boolean_stops_coturn(tmp_path: Path) -> None:
    found = lint("no-cli # the console stays off")
    assert found["LINT-BAD-VALUE"] == [Severity.ERROR]
    conf = tmp_path / "turnserver.conf"
    conf.write_text(f"listening-ip=127.0.0.1\nlistening-port=9\nno-tls\nno-dtls\nlog-file=stdout\n"
                    f"pidfile={tmp_path / 'pid'}\nuserdb={tmp_path / 'db'}\nno-cli # the console stays off\n")
    done = subprocess.run([turnserver_path(), "-c", str(conf)], capture_output=True, text=True, timeout=20)
    assert done.returncode != 0
    assert "Unknown boolean value" in done.stdout + done.stderr
