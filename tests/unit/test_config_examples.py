"""The shipped examples stay valid: rtcdiag.toml loads, ice-servers.json parses, the workflow uses secrets."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest

from rtcdiag.config import ConfigError, load_config
from rtcdiag.targets import load_ice_servers

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
WORKFLOW = EXAMPLES / "github-actions" / "webrtc-connectivity.yml"


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


def _workflow() -> dict[Any, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML parses the workflow")
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def workflow_commands(workflow: dict[Any, Any]) -> list[list[str]]:
    """Every ``rtcdiag ...`` command line of the workflow's ``run:`` steps, as argv after ``rtcdiag``."""
    commands = []
    for step in workflow["jobs"]["rtcdiag-check"]["steps"]:
        for line in step.get("run", "").splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words[:1] == ["rtcdiag"]:
                    commands.append(words[1:])
    return commands


def test_example_workflow_installs_rtcdiag_from_its_checkout() -> None:
    """rtcdiag is not published: `pip install rtcdiag` would fail (or install someone else's package). The
    workflow runs in a fork of this repository and installs the checkout; no placeholder left to fill."""
    workflow = _workflow()
    steps = workflow["jobs"]["rtcdiag-check"]["steps"]
    checkout = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/checkout@"))
    install = next(i for i, s in enumerate(steps) if "pip install" in s.get("run", ""))
    assert checkout < install
    assert shlex.split(steps[install]["run"]) == ["python", "-m", "pip", "install", "."]
    assert "OWNER" not in WORKFLOW.read_text()
    # "." is this repository: the package rtcdiag with its `rtcdiag` command
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["name"] == "rtcdiag" and project["scripts"]["rtcdiag"] == "rtcdiag.cli:main"
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == project["requires-python"].removeprefix(">=")


def test_example_workflow_commands_parse_as_rtcdiag_invocations(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ``rtcdiag`` line parses through the real click command tree (options, types, files), in a
    folder laid out as the workflow expects (rtcdiag.toml at the root), without running anything."""
    from rtcdiag.cli import cli

    (tmp_path / "rtcdiag.toml").write_text((EXAMPLES / "rtcdiag.toml").read_text())
    monkeypatch.chdir(tmp_path)
    commands = workflow_commands(_workflow())
    assert [argv[0] for argv in commands] == ["check"]
    for name, *args in commands:
        root = click.Context(cli, info_name="rtcdiag")
        command = cli.get_command(root, name)
        assert command is not None, name
        parsed = command.make_context(name, list(args), parent=root)
        assert parsed.params["config_file"] == Path("rtcdiag.toml")
    with pytest.raises(click.UsageError):  # the parse would catch a misspelt option
        command.make_context("check", ["--junit-file", "x.xml"], parent=click.Context(cli))


def test_example_workflow_commands_are_the_readmes() -> None:
    """check's page quotes the workflow's command as it is, and each option is documented on its command's
    page."""
    workflow = _workflow()
    page = (REPO / "docs" / "commands" / "check.md").read_text()
    ci = page.split("In CI, see [examples/github-actions/webrtc-connectivity.yml]", 1)[1]
    ci = ci.split("\n\n", 1)[0]
    quoted = [shlex.split(q) for q in re.findall(r"`(rtcdiag [^`]+)`", ci.replace("\n", " "))]
    commands = workflow_commands(workflow)
    assert [q[1:] for q in quoted] == commands
    for name, *args in commands:
        section = (REPO / "docs" / "commands" / f"{name}.md").read_text()
        for option in (a for a in args if a.startswith("-")):
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", section), (name, option)


def test_example_workflow_publishes_what_its_check_writes() -> None:
    workflow = _workflow()
    steps = workflow["jobs"]["rtcdiag-check"]["steps"]
    [check] = workflow_commands(workflow)
    written = {check[check.index(option) + 1] for option in ("--junit", "--report-file")}
    publish = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert set(publish["with"]["path"].split()) == written
    junit = next(s for s in steps if s.get("uses", "").startswith("mikepenz/action-junit-report@"))
    assert junit["with"]["report_paths"] == check[check.index("--junit") + 1]
