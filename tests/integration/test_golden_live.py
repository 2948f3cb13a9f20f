"""Golden views of live runs (issue 21: no behaviour change): ``rtcdiag selftest`` and each network command
against coturn on loopback, compared with tests/golden/live.json (tests/golden_view.py: the lines, the
normalisations, ``RTCDIAG_UPDATE_GOLDEN=1``).

Each run is the real command in a subprocess (``python -m rtcdiag ... --json``). Live runs record what does
not depend on the network's mood: exit code and status, every finding's id, severity, subject, check, step,
parameter *names* and explained_by, the roots and what they explain, the report rows, table titles and the
JSON structure. Left out, because they measure this machine, not the tool:
- parameter values, table rows, evidence, notes, results values (RTTs, mapped addresses, relay ports);
- the verdict line (its counts move with the skipped findings below);
- the warnings ``TURN-DATA-LOSS``, ``STUN-PACKET-LOSS`` and ``STUN-HIGH-RTT`` (loss, retransmissions and RTT
  through loopback measure how busy this machine is: 2 shared cores), with the row and the status they
  alone turned to ``warn`` (the report as if they had not been made: tests/golden_view.without_findings);
- the examples' ``max_rtt_ms`` expectations (removed from the adapted config: an RTT bound on a loaded
  machine is the machine's).
The servers' ports are chosen at random per run and normalised to ``<port:NAME>`` (the selftest's own coturn
is read from its note).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_examples import PASSWORD, REST_SECRET, USER, example_config, example_ice_servers

from rtcdiag.commands.selftest import selftest_coturn_options
from rtcdiag.coturn import CoturnOptions, RunningCoturn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from golden_view import REPO, Normaliser, Recorded, compare, parse_report, record

Factory = Callable[[CoturnOptions], RunningCoturn]
LOAD_DEPENDENT = ("TURN-DATA-LOSS", "STUN-PACKET-LOSS", "STUN-HIGH-RTT")
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_")}
SELFTEST_NOTE = re.compile(r"coturn \S+ port (\d+) \(UDP/TCP\) and (\d+) \(TLS\)")


@pytest.fixture(scope="module")
def servers(coturn_factory: Factory) -> tuple[RunningCoturn, RunningCoturn]:
    """The selftest's coturn (two loopback addresses, TLS, a user) and a TURN REST API coturn."""
    return (coturn_factory(selftest_coturn_options({USER: PASSWORD})),
            coturn_factory(CoturnOptions(static_auth_secret=REST_SECRET)))


def _rtcdiag(args: list[str]) -> tuple[int, str, str]:
    env = {**CLEAN_ENV, "GOLDEN_PASSWORD": PASSWORD, "GOLDEN_WRONG": "not-" + PASSWORD,
           "TURN_PASSWORD": PASSWORD, "TURN_REST_SECRET": REST_SECRET}
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", *args, "--json"], capture_output=True, text=True,
                          timeout=120, env=env, cwd=REPO, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_live_reports_are_the_golden_ones(servers: tuple[RunningCoturn, RunningCoturn], dead_port: int,
                                          tmp_path: Path) -> None:
    coturn, rest = servers
    assert coturn.tls_port is not None and coturn.ca_cert is not None
    ports = {coturn.port: "coturn", coturn.tls_port: "coturn-tls", coturn.alt_port: "coturn-alt",
             rest.port: "rest", dead_port: "dead"}
    if coturn.alt_tls_port:
        ports[coturn.alt_tls_port] = "coturn-alt-tls"
    if rest.tls_port:
        ports[rest.tls_port] = "rest-tls"
    norm = Normaliser(texts={str(tmp_path): "<tmp>", str(coturn.ca_cert): "<ca>"}, ports=ports)
    host, port, tls = "127.0.0.1", coturn.port, coturn.tls_port
    ca = ["--ca", str(coturn.ca_cert)]
    user = ["-u", USER, "--password-env", "GOLDEN_PASSWORD"]
    config = tmp_path / "rtcdiag.toml"
    text = example_config(coturn, rest)
    text, bounds = re.subn(r"^max_rtt_ms = .*\n", "", text, flags=re.M)
    assert bounds >= 1
    config.write_text(text)
    ice_servers = tmp_path / "ice-servers.json"
    ice_servers.write_text(json.dumps(example_ice_servers(coturn, rest)))
    runs: dict[str, list[str]] = {
        "stun": ["stun", f"{host}:{port}", "-t", "udp,tcp"],
        "stun-tls": ["stun", f"stuns:{host}:{tls}", *ca],
        "stun-dead-port": ["stun", f"{host}:{dead_port}", "-t", "udp,tcp"],
        "turn-check": ["turn-check", f"{host}:{port}", "--tls-port", str(tls), *user, *ca],
        "turn-check-wrong-password": ["turn-check", f"{host}:{port}", "-t", "udp,tcp", "-u", USER,
                                      "--password-env", "GOLDEN_WRONG"],
        "ports": ["ports", host, "--no-default-ports", "--ports",
                  f"udp:{port},tcp:{port},tls:{tls},udp:{dead_port},tcp:{dead_port}", *ca],
        "ice": ["ice", f"stun:{host}:{port}", f"turn:{host}:{port}", *user],
        "nat-type": ["nat-type", "--server", f"stun:{host}:{port}"],
        "check-example-config": ["check", "--config", str(config)],
        "check-example-ice-servers": ["check", "--ice-servers", str(ice_servers), *ca],
        "selftest": ["selftest"],
    }
    recorded: dict[str, Recorded] = {}
    for name, args in runs.items():
        code, out, err = _rtcdiag(args)
        run_norm = norm
        if name == "selftest":
            report = parse_report(out)
            note = next((m for n in (report or {}).get("notes", []) if (m := SELFTEST_NOTE.search(n))), None)
            assert note is not None, err
            run_norm = Normaliser(ports={int(note.group(1)): "selftest", int(note.group(2)): "selftest-tls"})
        recorded[name] = record(args, code, out, err, run_norm, live=True, skip_findings=LOAD_DEPENDENT)
    compare("live", recorded, results_union=False)
