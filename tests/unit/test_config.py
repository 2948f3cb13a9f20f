"""rtcdiag.toml parsing: servers, credentials by environment variable name, checks, expectations, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtcdiag.config import CHECKS, ConfigError, Expectations, load_config, normalise_nat
from rtcdiag.redact import mask

GOOD = """
checks = ["stun", "turn", "ice"]
timeout = 0.5

[expect]
expect_relay = true
max_rtt_ms = 150
min_nat = "port-restricted cone"

[[servers]]
name = "main"
urls = ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:443?transport=tcp"]
username = "alice"
password_env = "TEST_TURN_PW"

[servers.expect]
max_rtt_ms = 80

[[servers]]
url = "stun:stun.example.com"
"""


def write(tmp_path: Path, text: str, name: str = "rtcdiag.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_resolves_servers_credentials_and_expectations(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ={"TEST_TURN_PW": "hunter2-secret"})
    assert config.checks == ("stun", "turn", "ice")
    assert config.timeout == 0.5
    main, stun = config.servers
    assert main.name == "main" and main.username == "alice" and main.password == "hunter2-secret"
    assert [t.uri for t in main.targets] == ["turn:turn.example.com:3478?transport=udp",
                                             "turns:turn.example.com:443"]
    assert main.targets[1].transport == "tls" and main.targets[0].credential == "hunter2-secret"
    assert [t.uri for t in stun.targets] == ["stun:stun.example.com:3478"]
    assert config.expect == Expectations(expect_relay=True, max_rtt_ms=150.0, min_nat="port-restricted")
    # Per-server expectations override only what they name.
    assert config.server_expect(main) == Expectations(expect_relay=True, max_rtt_ms=80.0,
                                                      min_nat="port-restricted")
    assert config.server_checks(stun) == ("stun", "turn", "ice")
    # The password is registered as a secret the moment it is loaded.
    assert mask("pw=hunter2-secret") == "pw=***"
    assert "hunter2-secret" not in repr(main)


def test_defaults_run_every_check(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[[servers]]\nurls = ["stun:127.0.0.1:3478"]\n'), environ={})
    assert config.checks == CHECKS and config.timeout == 5.0 and config.expect.empty


def test_password_file_relative_to_config_and_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "pw.txt").write_text("from-file-pw\n")
    config = load_config(write(tmp_path, '[[servers]]\nurls = "turn:h"\nusername = "u"\n'
                                         'password_file = "pw.txt"\n'), environ={})
    assert config.servers[0].password == "from-file-pw"


def test_ice_servers_file_is_merged(tmp_path: Path) -> None:
    (tmp_path / "ice.json").write_text(json.dumps(
        {"iceServers": [{"urls": ["turn:10.0.0.1:3478"], "username": "bob", "credential": "json-cred-1"}]}))
    config = load_config(write(tmp_path, 'ice_servers = "ice.json"\n'), environ={})
    (server,) = config.servers
    assert server.username == "bob" and server.password == "json-cred-1"
    assert server.targets[0].host == "10.0.0.1"


ENTRIES = {"iceServers": [
    {"urls": ["turn:10.0.0.1:3478?transport=udp", "turn:10.0.0.1:3478?transport=tcp"], "username": "a",
     "credential": "cred-a-1"},
    {"urls": "turn:10.0.0.1:3479?transport=tcp", "username": "b", "credential": "cred-b-1"},
    {"urls": ["stun:10.0.0.1:3480", "stun:10.0.0.2:3478"]},
]}


def test_each_ice_server_entry_is_one_server_even_on_a_shared_host(tmp_path: Path) -> None:
    """An RTCIceServer entry is one server (its URLs, its credentials), never merged with another entry on
    its host: the diagnosis keeps each entry's causes to it. Plans are per entry and host, labels unique."""
    from rtcdiag.checks.plan import plan_servers
    from rtcdiag.commands.check import _config_from_args

    (tmp_path / "ice.json").write_text(json.dumps(ENTRIES))
    from_toml = load_config(write(tmp_path, 'ice_servers = "ice.json"\n'), environ={})
    from_flag = _config_from_args(None, tmp_path / "ice.json", (), None, None, None, 600, None, (), None,
                                  False, None)
    for config in (from_toml, from_flag):
        assert [(s.name, s.username, len(s.targets)) for s in config.servers] == [
            ("iceServers[0]", "a", 2), ("iceServers[1]", "b", 1), ("iceServers[2]", None, 2)]
        labels = [plan.label for plan in plan_servers(config)]
        assert labels == ["10.0.0.1 (iceServers[0])", "10.0.0.1 (iceServers[1])", "10.0.0.1 (iceServers[2])",
                          "10.0.0.2"]
        assert [plan.subject.entry for plan in plan_servers(config)] == labels


def test_two_servers_of_one_name_on_one_host_are_still_two_entries(tmp_path: Path) -> None:
    from rtcdiag.checks.plan import plan_servers

    text = ('[[servers]]\nname = "x"\nurls = ["stun:10.0.0.1"]\n'
            '[[servers]]\nname = "x"\nurls = ["stun:10.0.0.1:3479"]\n')
    config = load_config(write(tmp_path, text), environ={})
    labels = [plan.label for plan in plan_servers(config)]
    assert len(set(labels)) == 2 and labels[0] == "10.0.0.1 (x)"


@pytest.mark.parametrize("text,message", [
    ('[[servers]]\nurls = ["turn:h"]\npassword_env = "NOPE_NOT_SET"\n',
     "servers[0].password_env: environment variable NOPE_NOT_SET is not set"),
    ('[[servers]]\nurls = ["turn:h"]\npassword = "literal"\n',
     "servers[0].password: secrets are not read from the config file"),
    ('[[servers]]\nurls = ["http://h"]\n', "servers[0].urls[0]: invalid target 'http://h'"),
    ('[[servers]]\nurls = []\n', "servers[0].urls: must be a URI string or a non-empty list"),
    ('[[servers]]\nurl = "turn:h"\nbogus = 1\n', "servers[0].bogus: unknown key"),
    ('checks = ["stun", "teleport"]\n', "checks: unknown check 'teleport'"),
    ('timeout = "fast"\n', "timeout: must be a number, not a string"),
    ('[expect]\nmin_nat = "cone-ish"\n', "expect.min_nat: unknown NAT kind 'cone-ish'"),
    ('[expect]\nexpect_relay = "yes"\n', "expect.expect_relay: must be true or false, not a string"),
    ('[expect]\nmax_rtt_ms = -3\n', "expect.max_rtt_ms: must be at least"),
    ('servers = 3\n', "servers: must be an array of tables"),
    ('ca = "missing-ca.pem"\n', "ca: CA file"),
    ('[[servers]]\nurl = "turn:h"\npassword_env = "A"\nsecret_env = "A"\n', "not both"),
    ('ice_servers = "nope.json"\n', "cannot read ice-servers file"),
    ('this is = = not toml', "invalid TOML"),
])
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={"A": "value-a"})
    assert str(path) in str(info.value)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.toml")


def test_empty_env_variable_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TEST_EMPTY is empty"):
        load_config(write(tmp_path, '[[servers]]\nurl = "turn:h"\npassword_env = "TEST_EMPTY"\n'),
                    environ={"TEST_EMPTY": ""})


@pytest.mark.parametrize("label,normal", [
    ("port-restricted cone", "port-restricted"), ("full cone", "full-cone"), ("open internet", "open"),
    ("symmetric UDP firewall", "port-restricted"), ("UDP blocked", "udp-blocked"), ("Symmetric", "symmetric"),
    ("restricted cone", "restricted"), ("martian", None),
])
def test_nat_labels_normalise_from_the_legacy_names(label: str, normal: str | None) -> None:
    assert normalise_nat(label) == normal


def test_a_secret_pasted_into_password_env_is_not_echoed(tmp_path: Path) -> None:
    pasted = "s3cr3t-pasted/value!"
    path = write(tmp_path, f'[[servers]]\nurl = "turn:h"\npassword_env = "{pasted}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert pasted not in str(info.value) and "servers[0].password_env" in str(info.value)
    assert pasted not in mask(f"echo {pasted}")


def test_a_control_character_in_the_password_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[[servers]]\nurl = "turn:h"\npassword_env = "PW"\n')
    with pytest.raises(ConfigError, match=r"servers\[0\]\.password_env: the password .*U\+0007"):
        load_config(path, environ={"PW": "bell\x07"})


def test_empty_checks_list_is_refused(tmp_path: Path) -> None:
    for text in ('checks = []\n[[servers]]\nurl = "stun:h"\n',
                 '[[servers]]\nurl = "stun:h"\nchecks = []\n'):
        with pytest.raises(ConfigError, match="checks: names no check"):
            load_config(write(tmp_path, text), environ={})


def test_readable_password_file_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pw = tmp_path / "pw"
    pw.write_text("file-pw\n")
    pw.chmod(0o640)
    text = '[[servers]]\nurl = "turn:h"\nusername = "u"\npassword_file = "pw"\n'
    config = load_config(write(tmp_path, text), environ={})
    assert config.servers[0].password == "file-pw"
    err = capsys.readouterr().err
    assert "servers[0].password_file:" in err and "readable by its group" in err and "file-pw" not in err


def test_follow_redirects_key_reaches_the_stun_and_turn_jobs(tmp_path: Path) -> None:
    from rtcdiag.checks import registry
    from rtcdiag.checks.plan import plan_servers
    from rtcdiag.timeouts import Timeouts

    servers = '[[servers]]\nurls = ["turn:127.0.0.1:3478"]\nusername = "u"\npassword_env = "PW"\n'
    default = load_config(write(tmp_path, servers), environ={"PW": "pw-follow-1"})
    assert default.follow_redirects
    config = load_config(write(tmp_path, "follow_redirects = false\n" + servers),
                         environ={"PW": "pw-follow-1"})
    assert not config.follow_redirects
    (plan,) = plan_servers(config)
    stun_job, turn_job = (registry.entry(key).server_job(plan, Timeouts(1.0))  # type: ignore[misc]
                          for key in (registry.Key.STUN, registry.Key.TURN))
    assert stun_job is not None and turn_job is not None
    assert stun_job.plan.options.follow_redirects is False
    assert turn_job.plan.options.follow_redirects is False
    with pytest.raises(ConfigError, match="follow_redirects"):
        load_config(write(tmp_path, 'follow_redirects = "no"\n' + servers), environ={"PW": "pw-follow-1"})


@pytest.mark.parametrize("where", ["top", "server", "signalling"])
def test_a_ca_file_that_is_not_pem_is_refused_when_the_config_is_read(tmp_path: Path, where: str) -> None:
    # Found only when a TLS step built its context, it ended `check` with exit 4 (an internal SSLError).
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    text = {"top": 'ca = "ca.pem"\n',
            "server": '[[servers]]\nurl = "turns:h"\nca = "ca.pem"\n',
            "signalling": '[[signalling]]\nurl = "wss://h/"\nca = "ca.pem"\n'}[where]
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    assert "ca: CA file" in str(info.value) and "not a PEM file of CA certificates" in str(info.value)
    assert info.value.exit_code == 2


def test_a_pem_ca_file_is_accepted(tmp_path: Path) -> None:
    import ssl

    pem = ssl.get_default_verify_paths().cafile
    if pem is None or not Path(pem).is_file():
        pytest.skip("no system CA bundle to copy")
    (tmp_path / "ca.pem").write_bytes(Path(pem).read_bytes())
    assert load_config(write(tmp_path, 'ca = "ca.pem"\n'), environ={}).ca == tmp_path / "ca.pem"
