"""The shipped examples stay valid: rtcdiag.toml loads, ice-servers.json parses, the workflow uses secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtcdiag.config import ConfigError, load_config
from rtcdiag.targets import load_ice_servers

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_config_loads_with_secrets_from_the_environment() -> None:
    config = load_config(EXAMPLES / "rtcdiag.toml",
                         environ={"TURN_PASSWORD": "example-pw", "TURN_REST_SECRET": "example-secret"})
    production, rest, stun = config.servers
    assert production.password == "example-pw" and production.expect.max_rtt_ms == 200
    assert rest.secret == "example-secret" and rest.ttl == 3600
    assert stun.checks == ("dns", "stun", "ice")
    # A relay is expected of the TURN servers only: a global expect_relay would fail the STUN server.
    assert config.expect.expect_relay is None
    assert [config.server_expect(s).expect_relay for s in config.servers] == [True, True, None]
    assert config.server_expect(stun).max_rtt_ms == 150


def test_example_config_without_the_secret_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"servers\[0\]\.password_env: environment variable TURN_PASSWORD"):
        load_config(EXAMPLES / "rtcdiag.toml", environ={})


def test_example_ice_servers_file() -> None:
    targets = load_ice_servers(EXAMPLES / "ice-servers.json")
    assert [t.scheme for t in targets] == ["stun", "turn", "turn", "turns"]


def test_example_workflow_runs_check_with_junit_and_secret_store() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML parses the workflow")
    workflow = yaml.safe_load((EXAMPLES / "github-actions" / "webrtc-connectivity.yml").read_text())
    steps = workflow["jobs"]["rtcdiag-check"]["steps"]
    check = next(s for s in steps if "rtcdiag check" in s.get("run", ""))
    assert "--config rtcdiag.toml" in check["run"] and "--junit" in check["run"]
    assert check["env"]["TURN_PASSWORD"] == "${{ secrets.TURN_PASSWORD }}"


def test_example_workflow_installs_rtcdiag_from_its_repository_not_pypi() -> None:
    """rtcdiag is not published: `pip install rtcdiag` would fail (or install someone else's package)."""
    yaml = pytest.importorskip("yaml", reason="PyYAML parses the workflow")
    workflow = yaml.safe_load((EXAMPLES / "github-actions" / "webrtc-connectivity.yml").read_text())
    steps = workflow["jobs"]["rtcdiag-check"]["steps"]
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    command = install["run"].split("#")[0].split()
    target = command[command.index("install") + 1]
    assert target == '"$RTCDIAG_SOURCE"'
    source = workflow["env"]["RTCDIAG_SOURCE"]
    assert source.startswith("git+https://") and "/rtcdiag" in source
