"""Both spellings of a list option run every item, against real coturns on loopback (issue 20 item 5).

Before: ``nat-type --servers a --servers b`` asked only b (and said "1 ordinary STUN server"), ``turn-check
--transport udp --transport tcp`` checked only TCP, ``stun -t udp,tcp`` was refused. Each command runs here
through the real entry point (a subprocess), once repeated and once comma-separated, and the report must
hold every item asked for. Parsing of every list option of every command: tests/unit/test_list_options.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from rtcdiag import exitcodes
from rtcdiag.coturn import CoturnOptions, RunningCoturn

Factory = Callable[[CoturnOptions], RunningCoturn]


def rtcdiag(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", *args, "--json"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _spellings(flag: str, items: list[str]) -> list[list[str]]:
    """``--x a --x b`` and ``--x a,b``."""
    return [[arg for item in items for arg in (flag, item)], [flag, ",".join(items)]]


@pytest.fixture(scope="module")
def second(coturn_factory: Factory) -> RunningCoturn:
    return coturn_factory(CoturnOptions(no_auth=True))


@pytest.mark.parametrize("spelling", [0, 1], ids=["repeated", "comma"])
def test_nat_type_servers_asks_every_server(coturn: RunningCoturn, second: RunningCoturn,
                                            spelling: int) -> None:
    uris = [f"stun:127.0.0.1:{coturn.port}", f"stun:127.0.0.1:{second.port}"]
    _, report = rtcdiag("nat-type", "--timeout", "1", *_spellings("--servers", uris)[spelling])
    across = report["results"]["across"]
    assert across["servers"] == uris
    mapping = next(f for f in report["findings"] if f["id"] == "NAT-MAPPING")
    assert [line.split(":")[0:2] for line in mapping["evidence"]] == [
        ["127.0.0.1", str(coturn.port)], ["127.0.0.1", str(second.port)]]


@pytest.mark.parametrize("spelling", [0, 1], ids=["repeated", "comma"])
def test_nat_type_server_runs_every_server(coturn: RunningCoturn, second: RunningCoturn,
                                           spelling: int) -> None:
    uris = [f"stun:127.0.0.1:{coturn.port}", f"stun:127.0.0.1:{second.port}"]
    _, report = rtcdiag("nat-type", "--timeout", "1", *_spellings("--server", uris)[spelling])
    assert sorted({c["suite"] for c in report["checks"]} - {"local network"}) == sorted(uris)


@pytest.mark.parametrize("spelling", [0, 1], ids=["repeated", "comma"])
def test_turn_check_transport_checks_every_transport(coturn: RunningCoturn, spelling: int) -> None:
    [(user, password)] = coturn.users.items()
    code, report = rtcdiag("turn-check", f"127.0.0.1:{coturn.port}", "-u", user,
                           *_spellings("--transport", ["udp", "tcp"])[spelling],
                           env={"RTCDIAG_TURN_PASSWORD": password})
    assert code == exitcodes.OK, report["findings"]
    [result] = report["results"]["turn"]
    assert [(t["transport"], t["allocated"]) for t in result["transports"]] == [("udp", True), ("tcp", True)]


@pytest.mark.parametrize("spelling", [0, 1], ids=["repeated", "comma"])
def test_stun_transport_asks_over_every_transport(coturn: RunningCoturn, spelling: int) -> None:
    code, report = rtcdiag("stun", f"127.0.0.1:{coturn.port}", *_spellings("-t", ["udp", "tcp"])[spelling])
    assert code == exitcodes.OK, report["findings"]
    assert [(r["transport"], r["outcome"]) for r in report["results"]] == [("udp", "success"),
                                                                           ("tcp", "success")]


@pytest.mark.parametrize("spelling", [0, 1], ids=["repeated", "comma"])
def test_ports_probes_every_port(coturn: RunningCoturn, spelling: int) -> None:
    items = [f"udp:{coturn.port}", f"tcp:{coturn.port}"]
    code, report = rtcdiag("ports", "127.0.0.1", "--no-default-ports",
                           *_spellings("--ports", items)[spelling])
    assert code == exitcodes.OK, report["findings"]
    assert [(p["transport"], p["port"], p["state"]) for p in report["results"]["ports"]] == [
        ("udp", coturn.port, "open"), ("tcp", coturn.port, "open")]


@pytest.mark.parametrize("spelling", [0, 1], ids=["repeated", "comma"])
def test_check_checks_runs_every_check(coturn: RunningCoturn, spelling: int) -> None:
    [(user, password)] = coturn.users.items()
    code, report = rtcdiag("check", f"turn:127.0.0.1:{coturn.port}", "-u", user,
                           *_spellings("--checks", ["stun", "turn"])[spelling],
                           env={"RTCDIAG_TURN_PASSWORD": password})
    assert code == exitcodes.OK, report["findings"]
    assert report["results"]["checks"] == ["stun", "turn"]
    assert {c["name"].split("/")[0] for c in report["checks"]} - {"config"} == {"stun", "turn"}
