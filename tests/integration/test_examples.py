"""The shipped examples pass: examples/rtcdiag.toml and examples/ice-servers.json, with their example hosts
replaced by real servers on loopback, give a clean PASS (exit 0, no error or warning finding).

The servers: the coturn ``rtcdiag selftest`` starts (same options: two loopback addresses for RFC 5780, a
self-signed certificate for TLS, users with long-term credentials) stands for turn.example.com and
stun.example.com; a second coturn with ``use-auth-secret`` stands for the TURN REST API server
(turn2.example.com), which one coturn cannot be at the same time as a long-term-credential server.
The example GitHub workflow's check step runs as written (its `run:` line through bash) against them too.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.commands.selftest import selftest_coturn_options
from rtcdiag.coturn import CoturnOptions, RunningCoturn

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
USER = "webrtc-user"  # the user name the examples use
PASSWORD = "example-" + secrets.token_hex(8)
REST_SECRET = "rest-" + secrets.token_hex(8)
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_")}

Factory = Callable[[CoturnOptions], RunningCoturn]


@pytest.fixture(scope="module")
def selftest_coturn(coturn_factory: Factory) -> RunningCoturn:
    return coturn_factory(selftest_coturn_options({USER: PASSWORD}))


@pytest.fixture(scope="module")
def rest_coturn(coturn_factory: Factory) -> RunningCoturn:
    return coturn_factory(CoturnOptions(static_auth_secret=REST_SECRET))


def substitute(text: str, coturn: RunningCoturn, rest: RunningCoturn) -> str:
    """The example hosts -> the loopback servers; nothing else of the example changes."""
    assert coturn.tls_port is not None and coturn.ca_cert is not None
    replaced = (text.replace("turn.example.com:3478", f"127.0.0.1:{coturn.port}")
                .replace("turn.example.com:443", f"127.0.0.1:{coturn.tls_port}")
                .replace("turn2.example.com:3478", f"127.0.0.1:{rest.port}")
                .replace("stun.example.com:3478", f"127.0.0.1:{coturn.port}"))
    return replaced


def rtcdiag(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", *args, "--json"], capture_output=True, text=True,
                          timeout=120, env={**CLEAN_ENV, **(env or {})}, check=False)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


# Loss through a loopback relay measures how busy this machine is (2 shared cores), not the example.
LOAD_DEPENDENT = {"TURN-DATA-LOSS"}


def problems(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every error finding, and every warning but the load-dependent ones: a clean run has none."""
    return [(f["id"], f["severity"], f.get("symptom", "")) for f in report["findings"]
            if f["severity"] == "error" or (f["severity"] == "warning" and f["id"] not in LOAD_DEPENDENT)]


def example_config(coturn: RunningCoturn, rest: RunningCoturn) -> str:
    """examples/rtcdiag.toml on loopback: its hosts replaced, and the two commented settings that need a real
    server turned on: the CA of its self-signed certificate and the RFC 5780 server for the NAT check (the
    selftest coturn listens on two addresses)."""
    text = substitute((EXAMPLES / "rtcdiag.toml").read_text(), coturn, rest)
    text, cas = re.subn(r'^# ca = "certs/ca.pem"$', f'ca = "{coturn.ca_cert}"', text, flags=re.M)
    text, nats = re.subn(r"^# (nat_servers = .*)$", r"\1", text, flags=re.M)
    assert (cas, nats) == (1, 1)
    uncommented = "\n".join(line.split("#")[0] for line in text.splitlines())
    assert "example.com" not in uncommented  # every server of the example is a real one now
    return text


def example_ice_servers(coturn: RunningCoturn, rest: RunningCoturn) -> dict[str, Any]:
    """examples/ice-servers.json on loopback, with the password of the selftest coturn's user."""
    data: dict[str, Any] = json.loads(substitute((EXAMPLES / "ice-servers.json").read_text(), coturn, rest))
    for server in data["iceServers"]:
        if "credential" in server:
            server["credential"] = PASSWORD
    return data


def test_example_config_passes_against_the_selftest_server(
        selftest_coturn: RunningCoturn, rest_coturn: RunningCoturn, tmp_path: Path) -> None:
    config = tmp_path / "rtcdiag.toml"
    config.write_text(example_config(selftest_coturn, rest_coturn))
    code, report, stderr = rtcdiag("check", "--config", str(config),
                                   env={"TURN_PASSWORD": PASSWORD, "TURN_REST_SECRET": REST_SECRET})
    assert problems(report) == [], stderr
    assert code == 0 and report["status"] == "pass"
    statuses = {(c["suite"], c["name"]): c["status"] for c in report["checks"]}
    relay = {suite: status for (suite, name), status in statuses.items() if name == "expect/relay"}
    # Expected of the two TURN servers only, never of the STUN server (a global expect_relay failed it).
    assert relay == {"127.0.0.1 (production TURN)": "pass", "127.0.0.1 (REST TURN)": "pass"}
    legs = {(server["target"], t["transport"], t["allocated"]) for results in report["results"]["turn"]
            for server in results for t in server["transports"]}
    assert {(transport, allocated) for _, transport, allocated in legs} == {("udp", True), ("tcp", True),
                                                                            ("tls", True)}
    assert ("config/fallback" in {name for _, name in statuses}) and report["results"]["nat"]
    assert PASSWORD not in json.dumps(report) and REST_SECRET not in json.dumps(report)


def test_example_ice_servers_pass_in_check_and_turn_check(selftest_coturn: RunningCoturn,
                                                          rest_coturn: RunningCoturn, tmp_path: Path) -> None:
    ice = tmp_path / "ice-servers.json"
    ice.write_text(json.dumps(example_ice_servers(selftest_coturn, rest_coturn)))
    assert selftest_coturn.ca_cert is not None
    ca = ["--ca", str(selftest_coturn.ca_cert)]
    code, report, stderr = rtcdiag("turn-check", str(ice), *ca)
    assert problems(report) == [], stderr
    assert code == 0
    assert [b["outcome"] for b in report["results"]["stun"]] == ["success"]  # the stun: entry
    assert sorted(t["transport"] for server in report["results"]["turn"] for t in server["transports"]) == \
        ["tcp", "tls", "udp"]
    code, report, stderr = rtcdiag("check", "--ice-servers", str(ice), *ca)
    assert problems(report) == [], stderr
    assert code == 0 and report["status"] == "pass"
    assert PASSWORD not in json.dumps(report)


def test_example_workflow_check_step_runs_as_written(
        selftest_coturn: RunningCoturn, rest_coturn: RunningCoturn, tmp_path: Path) -> None:
    """The workflow's check step, its `run:` line verbatim through bash, in a checkout laid out as the
    workflow says (rtcdiag.toml at the root), its secrets from the environment: it passes and writes the
    files the next steps publish."""
    yaml = pytest.importorskip("yaml", reason="PyYAML parses the workflow")
    steps = yaml.safe_load((EXAMPLES / "github-actions" / "webrtc-connectivity.yml").read_text())[
        "jobs"]["rtcdiag-check"]["steps"]
    step = next(s for s in steps if s.get("run", "").startswith("rtcdiag check"))
    assert step["env"] == {"TURN_PASSWORD": "${{ secrets.TURN_PASSWORD }}",
                           "TURN_REST_SECRET": "${{ secrets.TURN_REST_SECRET }}"}
    # RTT bounds out: on this loaded machine they would measure the machine (the step is what is tested)
    text = re.sub(r"^max_rtt_ms = .*\n", "", example_config(selftest_coturn, rest_coturn), flags=re.M)
    (tmp_path / "rtcdiag.toml").write_text(text)
    env = {**CLEAN_ENV, "TURN_PASSWORD": PASSWORD, "TURN_REST_SECRET": REST_SECRET,
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}  # the installed `rtcdiag`
    proc = subprocess.run(["bash", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    publish = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    for name in publish["with"]["path"].split():
        written = (tmp_path / name).read_text()
        assert PASSWORD not in written and REST_SECRET not in written
    junit = (tmp_path / next(s for s in steps if "action-junit-report" in s.get("uses", ""))["with"][
        "report_paths"]).read_text()
    assert "<testcase" in junit and "<failure" not in junit
