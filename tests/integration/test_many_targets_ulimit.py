"""Many targets under a low open-files limit (``ulimit -n 256``) against a real coturn on loopback: the
concurrency cap keeps the sockets in flight within the limit, so the run never ends in ``Too many open files``
(exit 4, issue 9); every target is still checked."""

from __future__ import annotations

import json
import os
import resource
import secrets
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn

Factory = Callable[[CoturnOptions], RunningCoturn]
CAROL = "carol-" + secrets.token_hex(8)
ADDRESSES = [f"127.0.0.{i}" for i in range(1, 81)]  # 80 servers (one coturn listening on each)


@pytest.fixture(scope="module")
def many(coturn_factory: Factory) -> RunningCoturn:
    return coturn_factory(CoturnOptions(users={"carol": CAROL}, listening_ips=tuple(ADDRESSES),
                                        self_signed=True, realm="many.test"))


def _limit_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def _run(args: list[str]) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_")}
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", *args, "--json"], capture_output=True, text=True,
                          env={**env, "RTCDIAG_TURN_PASSWORD": CAROL}, preexec_fn=_limit_open_files,
                          timeout=300)
    assert "Too many open files" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stdout, proc.stderr[-2000:]
    return proc.returncode, json.loads(proc.stdout)


def test_turn_check_of_80_servers_over_three_transports_under_ulimit_256(many: RunningCoturn) -> None:
    assert many.tls_port is not None
    code, report = _run(["turn-check", *(f"{ip}:{many.port}" for ip in ADDRESSES), "--tls-port",
                         str(many.tls_port), "--insecure", "-u", "carol"])
    ids = {f["id"] for f in report["findings"]}
    assert code == 0 and "INTERNAL-ERROR" not in ids and "LOCAL-RESOURCES" not in ids, ids
    legs = [t for server in report["results"]["turn"] for t in server["transports"]]
    assert len(legs) == 240 and all(leg["allocated"] and leg["released"] for leg in legs)


def test_stun_to_160_targets_under_ulimit_256(many: RunningCoturn) -> None:
    code, report = _run(["stun", *(f"{ip}:{many.port}" for ip in ADDRESSES), "-t", "udp", "-t", "tcp",
                         "--concurrency", "200"])
    assert code == 0, [f["id"] for f in report["findings"]]
    assert len(report["results"]) == 160 and all(r["outcome"] == "success" for r in report["results"])
