"""Exporter modules: targets validated before any traffic, allow-lists, config errors in one line, REST
credentials minted per probe, short-lived secrets forgotten; the shipped examples (module config, alert
rules checked and unit-tested by promtool, Grafana dashboard) use only documented metrics."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.config import ConfigError
from rtcdiag.exporter.modules import (
    ProbeTarget,
    TargetRejected,
    load_exporter_config,
    parse_exporter_config,
    parse_target,
)
from rtcdiag.redact import ephemeral_secrets, mask, register_secret, secret_count

pytest.importorskip("prometheus_client", reason="the exporter extra (prometheus_client) is in the test extra")

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "prometheus"


@pytest.mark.parametrize(("text", "host", "port"), [
    ("turn.example.com", "turn.example.com", 3478),
    ("TURN.Example.com.:5349", "turn.example.com", 5349),
    ("192.0.2.1", "192.0.2.1", 3478),
    ("192.0.2.1:443", "192.0.2.1", 443),
    ("::1", "::1", 3478),
    ("[2001:db8::1]", "2001:db8::1", 3478),
    ("[2001:db8::1]:3479", "2001:db8::1", 3479),
])
def test_targets_parse(text: str, host: str, port: int) -> None:
    assert parse_target(text, 3478) == ProbeTarget(host, port)


@pytest.mark.parametrize("text", [
    "", "turn:turn.example.com", "a/b", "host:0", "host:65536", "host:", "host:x", "user@host",
    "host?transport=tcp", "[::1", "[::1]x", "bad_.-label-.example", "a" * 64 + ".example.com", "host name",
    "hóst.example", "host\n", "fe80::1%eth0",
])
def test_bad_targets_are_refused(text: str) -> None:
    with pytest.raises(TargetRejected):
        parse_target(text, 3478)


def _config(module: dict[str, Any], environ: dict[str, str] | None = None,
            monkeypatch: pytest.MonkeyPatch | None = None) -> Any:
    if monkeypatch is not None:
        for key, value in (environ or {}).items():
            monkeypatch.setenv(key, value)
    return parse_exporter_config({"modules": {"m": module}}, source="x.toml", base=Path("."))


def test_allow_list_names_domains_and_networks() -> None:
    config = _config({"urls": ["stun:{target}"], "checks": ["stun"],
                      "targets": ["turn.example.com", "*.edge.example.com", "10.0.0.0/8", "2001:db8::1"]})
    module = config.modules["m"]
    for ok in ("turn.example.com", "a.edge.example.com", "10.1.2.3:3478", "[2001:db8:0::1]:3478"):
        assert config.target(module, ok).host
    for refused in ("example.com", "edge.example.com", "evil.com", "11.0.0.1", "2001:db8::2",
                    "turn.example.com.evil.com"):
        with pytest.raises(TargetRejected, match="not allowed"):
            config.target(module, refused)


def test_urls_are_rendered_for_the_target() -> None:
    config = _config({"urls": ["turn:{target}?transport=udp", "turns:{host}:443?transport=tcp"],
                      "checks": ["turn"], "default_port": 3479})
    module = config.modules["m"]
    check = config.check_config(module, config.target(module, "2001:db8::7"), 8.0)
    assert [t.uri for t in check.servers[0].targets] == [
        "turn:[2001:db8::7]:3479?transport=udp", "turns:[2001:db8::7]:443"]
    assert check.checks == ("turn",)
    assert check.timeout == 2.0  # a quarter of the scrape budget: the module's 5 s would not fit in 8 s


@pytest.mark.parametrize(("module", "message"), [
    ({"urls": ["turn:turn.example.com"]}, "no URL names the target"),
    ({"urls": []}, "urls: must be a non-empty list"),
    ({"urls": ["stun:{target}"], "password": "hunter2-secret"}, "secrets are not read from the config file"),
    ({"urls": ["stun:{target}"], "colour": "blue"}, "modules.m.colour: unknown key"),
    ({"urls": ["stun:{target}"], "checks": ["stun", "bogus"]}, "unknown check 'bogus'"),
    ({"urls": ["turn:{target}"], "username": "u", "password_env": "RTCDIAG_TEST_UNSET_VAR"},
     "environment variable RTCDIAG_TEST_UNSET_VAR is not set"),
    ({"urls": ["stun:{target}"], "targets": ["10.0.0.0/33"]}, "not a CIDR network"),
    ({"urls": ["stun:{target}"], "default_port": 0}, "default_port: must be an integer from 1 to 65535"),
])
def test_module_errors_name_the_key(module: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        _config(module)
    assert "\n" not in str(caught.value) and "hunter2" not in str(caught.value)


@pytest.mark.parametrize(("module", "where"), [
    ({"urls": ["turn:{target}"], "username": "u", "password_env": "RTCDIAG_TEST_UNSET_VAR"},
     "x.toml: modules.m.password_env: "),
    ({"urls": ["stun:{target}"], "password": "hunter2-secret"}, "x.toml: modules.m.password: "),
    ({"kind": "signal", "urls": ["ws://{target}/"], "proxy": 5}, "x.toml: modules.m.proxy: "),
])
def test_an_entry_error_names_the_module_key_where_it_was_written(module: dict[str, Any], where: str) -> None:
    """The module's server (or signalling) entry is validated by the one config reader, which names the key
    as the user wrote it (``modules.m.KEY``), never the ``servers[0]`` it becomes inside."""
    with pytest.raises(ConfigError) as caught:
        _config(module)
    assert str(caught.value).startswith(where), str(caught.value)
    assert "servers[0]" not in str(caught.value) and "signalling[0]" not in str(caught.value)


def test_no_modules_is_an_error() -> None:
    with pytest.raises(ConfigError, match=re.escape("no [modules.NAME] tables")):
        parse_exporter_config({"servers": []}, source="x.toml", base=Path("."))


def test_credentials_without_allow_list_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config({"urls": ["turn:{target}"], "username": "u", "password_env": "RTCDIAG_TEST_PW"},
                     {"RTCDIAG_TEST_PW": "pw-for-the-warning"}, monkeypatch)
    assert len(config.warnings) == 1 and "no targets allow-list" in config.warnings[0]
    assert "pw-for-the-warning" not in config.warnings[0]


def test_rest_credentials_are_minted_for_each_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "rest-secret-for-minting"
    config = _config({"urls": ["turn:{target}"], "checks": ["turn"], "username": "probe",
                      "secret_env": "RTCDIAG_TEST_REST", "ttl": 600, "targets": ["192.0.2.0/24"]},
                     {"RTCDIAG_TEST_REST": secret}, monkeypatch)
    module = config.modules["m"]
    assert module.rest
    before = time.time()
    server = config.check_config(module, config.target(module, "192.0.2.5"), 5.0).servers[0]
    expiry, user = server.username.split(":") if server.username else ("", "")
    assert user == "probe" and before + 600 - 1 <= int(expiry) <= time.time() + 600
    # draft-uberti-behave-turn-rest-00 §2.2: password = base64(HMAC-SHA1(secret, username)).
    expected = base64.b64encode(hmac.digest(secret.encode(), server.username.encode(), "sha1")).decode()
    assert server.password == expected and server.secret is None
    assert all(t.username == server.username and t.credential == expected for t in server.targets)


def test_ephemeral_secrets_are_forgotten_when_no_probe_holds_them() -> None:
    register_secret("kept-for-the-process")
    baseline = secret_count()

    async def probe(password: str, derived: bytes) -> None:
        with ephemeral_secrets():
            register_secret(password)
            await asyncio.sleep(0.01)
            await asyncio.create_task(_register(derived))  # child tasks share the probe's scope
            assert mask(f"x {password} y") == "x *** y"
            assert mask(derived.hex()) == "***"
            register_secret("kept-for-the-process")  # already permanent: stays

    async def main() -> None:
        await asyncio.gather(probe("minted-password-a", b"key-a-bytes"),
                             probe("minted-password-a", b"key-a-bytes"),
                             probe("minted-password-b", b"key-b-bytes"))

    asyncio.run(main())
    assert secret_count() == baseline
    assert mask("minted-password-a") == "minted-password-a"
    assert mask("kept-for-the-process") == "***"


async def _register(value: bytes) -> None:
    register_secret(value)


def test_example_module_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURN_PASSWORD", "example-password")
    monkeypatch.setenv("TURN_REST_SECRET", "example-rest-secret")
    config = load_exporter_config(EXAMPLES / "rtcdiag.toml")
    assert set(config.modules) == {"stun_udp", "turn_udp", "turn_tls", "turns_443_with_data_path", "nat"}
    assert config.modules["turns_443_with_data_path"].rest
    assert config.warnings == []  # every module with credentials has an allow-list
    nat = config.modules["nat"]
    check = config.check_config(nat, config.target(nat, "stun.example.net"), 9.5)
    assert [t.uri for t in check.nat_servers] == ["stun:stun.example.net:3478"]


def _metric_names() -> set[str]:
    from rtcdiag.exporter.metrics import METRICS

    return set(METRICS)


def test_every_metric_is_documented_on_the_exporters_page() -> None:
    page = (REPO / "docs" / "commands" / "exporter.md").read_text()
    for name in _metric_names():
        assert f"`{name}" in page, f"{name} is not documented in docs/commands/exporter.md"


def _exprs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "expr" and isinstance(v, str)] + \
            [e for v in node.values() for e in _exprs(v)]
    if isinstance(node, list):
        return [e for v in node for e in _exprs(v)]
    return []


OWN = {"rtcdiag_exporter_probes_total", "rtcdiag_exporter_rejected_requests_total"}


def _used_names(expr: str) -> set[str]:
    return {n for n in re.findall(r"\b(?:probe|rtcdiag)_[a-z_]+", expr)}


def test_grafana_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads((REPO / "examples" / "grafana" / "rtcdiag-dashboard.json").read_text())
    exprs = _exprs(dashboard["panels"])
    assert len(exprs) >= 10
    used = set().union(*(_used_names(e) for e in exprs))
    assert used <= _metric_names() | OWN, used - _metric_names() - OWN
    assert {"probe_success", "rtcdiag_root_cause_info",
            "rtcdiag_tls_certificate_expiry_timestamp_seconds"} <= used


def test_alert_rules_use_exported_metrics() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML parses the rules")
    rules = yaml.safe_load((EXAMPLES / "rtcdiag-rules.yml").read_text())["groups"][0]["rules"]
    alerts = {r["alert"] for r in rules}
    assert {"TurnDown", "TurnRelayFailing", "TurnCertificateExpiringSoon", "TurnRttAboveBudget"} <= alerts
    used = set().union(*(_used_names(r["expr"]) for r in rules))
    assert used <= _metric_names() | OWN, used - _metric_names() - OWN


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)")
@pytest.mark.parametrize("args", [["check", "rules", "rtcdiag-rules.yml"],
                                  ["test", "rules", "rtcdiag-rules.test.yml"],
                                  ["check", "config", "prometheus.yml"]])
def test_promtool_accepts_the_shipped_rules_and_config(args: list[str]) -> None:
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, *args], cwd=EXAMPLES, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr
