"""Targets: RFC 7064/7065 URIs, the host[:port] shortcut, RTCIceServer files, transport expansion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtcdiag import exitcodes
from rtcdiag.errors import UsageError
from rtcdiag.jsonable import to_jsonable
from rtcdiag.redact import clear_secrets, mask
from rtcdiag.targets import (
    Target,
    TargetError,
    expand_transports,
    load_ice_servers,
    parse_target,
    parse_targets,
    parse_uri,
)


@pytest.fixture(autouse=True)
def _forget_secrets() -> None:
    clear_secrets()


@pytest.mark.parametrize(
    ("text", "scheme", "host", "port", "transport", "uri"),
    [
        # RFC 7064 §3.1 / RFC 7065 §3: default ports 3478 and 5349.
        ("stun:stun.example.org", "stun", "stun.example.org", 3478, None, "stun:stun.example.org:3478"),
        ("stuns:stun.example.org", "stuns", "stun.example.org", 5349, "tls", "stuns:stun.example.org:5349"),
        ("turn:example.org:19302", "turn", "example.org", 19302, None, "turn:example.org:19302"),
        ("turns:example.org", "turns", "example.org", 5349, "tls", "turns:example.org:5349"),
        ("turn:example.org?transport=udp", "turn", "example.org", 3478, "udp",
         "turn:example.org:3478?transport=udp"),
        ("turn:example.org:443?transport=tcp", "turn", "example.org", 443, "tcp",
         "turn:example.org:443?transport=tcp"),
        # RFC 7065 §3: turns: with transport=tcp is TLS over TCP.
        ("turns:example.org:443?transport=tcp", "turns", "example.org", 443, "tls", "turns:example.org:443"),
        # Schemes and the transport value are case-insensitive (RFC 3986 §3.1).
        ("TURN:Example.org?Transport=TCP", "turn", "Example.org", 3478, "tcp",
         "turn:Example.org:3478?transport=tcp"),
        ("turn:[2001:db8::1]:3479?transport=udp", "turn", "2001:db8::1", 3479, "udp",
         "turn:[2001:db8::1]:3479?transport=udp"),
        ("stun:[::1]", "stun", "::1", 3478, None, "stun:[::1]:3478"),
        ("stun:127.0.0.1:3478", "stun", "127.0.0.1", 3478, None, "stun:127.0.0.1:3478"),
        # Browsers accept ?transport= on stun: too; rtcdiag uses it to pick the transport.
        ("stun:example.org?transport=tcp", "stun", "example.org", 3478, "tcp",
         "stun:example.org:3478?transport=tcp"),
    ],
)
def test_uri_forms(text: str, scheme: str, host: str, port: int, transport: str | None, uri: str) -> None:
    target = parse_target(text)
    assert (target.scheme, target.host, target.port, target.transport) == (scheme, host, port, transport)
    assert target.uri == uri
    assert parse_target(target.uri) == target  # the display form parses back to the same target


@pytest.mark.parametrize(
    ("text", "default_scheme", "expected_uri"),
    [
        ("example.org", "stun", "stun:example.org:3478"),
        ("example.org:19302", "stun", "stun:example.org:19302"),
        ("localhost:3479", "turn", "turn:localhost:3479"),
        ("example.org", "turns", "turns:example.org:5349"),
        ("127.0.0.1", "turn", "turn:127.0.0.1:3478"),
        ("::1", "stun", "stun:[::1]:3478"),
        ("[::1]:3480", "stun", "stun:[::1]:3480"),
        ("  example.org  ", "stun", "stun:example.org:3478"),
    ],
)
def test_hostport_shortcut_uses_callers_scheme(text: str, default_scheme: str, expected_uri: str) -> None:
    target = parse_target(text, default_scheme=default_scheme)
    assert target.uri == expected_uri
    assert target.source == "argument"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http://example.org", "unsupported scheme 'http'"),
        ("sip:example.org", "unsupported scheme 'sip'"),
        ("turn://example.org", "have no '//'"),
        ("turn:example.org:0", "port 0 is out of range 1-65535"),
        ("turn:example.org:65536", "port 65536 is out of range 1-65535"),
        ("turn:example.org:http", "port 'http' is not a number"),
        ("example.org:", "port '' is not a number"),
        ("turn:example.org?transport=sctp", "transport 'sctp' is not udp or tcp"),
        ("turns:example.org?transport=udp", "means DTLS"),
        ("turn:example.org?proto=udp", "only '?transport=udp'"),
        ("turn:example.org?", "empty query"),
        ("turn:alice@example.org", "user name or password in the URI is not allowed"),
        ("turn:", "the host is empty"),
        ("", "the host is empty"),
        ("turn::3478", "the host is empty"),
        ("turn:2001:db8::1", "IPv6 literals go in brackets"),
        ("2001:db8::1:3478:x", "IPv6 literals go in brackets"),
        ("turn:[2001:db8::1", "missing ']'"),
        ("turn:[example.org]:3478", "is not an IPv6 address"),
        ("turn:[::1]x", "unexpected 'x'"),
        ("stun:exa mple.org", "is not a valid host name"),
        ("stun:300.1.1.1", "is not a valid IPv4 address"),
        ("stun:example.org/path", "path or fragment"),
    ],
)
def test_bad_input_is_one_clear_usage_error(text: str, message: str) -> None:
    with pytest.raises(TargetError) as info:
        parse_target(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, UsageError)
    assert info.value.exit_code == exitcodes.USAGE


@pytest.mark.parametrize("text", ["turn:alice:hunter2pw@example.org", "alice:hunter2pw@example.org:3478",
                                  "turns:alice:hunter2pw@example.org?transport=tcp"])
def test_userinfo_error_never_echoes_the_password(text: str) -> None:
    with pytest.raises(TargetError) as info:
        parse_target(text)
    assert "hunter2pw" not in str(info.value)
    assert "***@example.org" in str(info.value)


def test_credential_is_hidden_from_repr_uri_and_json_and_registered_for_redaction() -> None:
    target = parse_uri("turn:example.org", username="alice", credential="s3cr3t-pass")
    assert "s3cr3t-pass" not in repr(target)
    assert "s3cr3t-pass" not in target.uri
    assert "credential" not in to_jsonable(target)
    assert to_jsonable(target)["username"] == "alice"
    assert mask("password is s3cr3t-pass") == "password is ***"


def _write(tmp_path: Path, data: object, name: str = "ice.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_ice_servers_file_list_form(tmp_path: Path) -> None:
    path = _write(tmp_path, [
        {"urls": "stun:stun.example.org:19302"},
        {"urls": ["turn:turn.example.org?transport=udp", "turns:turn.example.org:443?transport=tcp"],
         "username": "alice", "credential": "pw-from-file"},
    ])
    targets = load_ice_servers(path)
    assert [t.uri for t in targets] == [
        "stun:stun.example.org:19302",
        "turn:turn.example.org:3478?transport=udp",
        "turns:turn.example.org:443",
    ]
    assert [t.username for t in targets] == [None, "alice", "alice"]
    assert targets[2].credential == "pw-from-file"
    assert targets[1].source == f"{path}: [1].urls[0]"
    assert mask("pw-from-file") == "***"


def test_ice_servers_file_object_form_and_legacy_url(tmp_path: Path) -> None:
    entry = {"url": "turn:[::1]:3478", "username": "u", "credential": "c-123"}
    path = _write(tmp_path, {"iceServers": [entry]})
    (target,) = load_ice_servers(path)
    assert (target.scheme, target.host, target.port, target.username) == ("turn", "::1", 3478, "u")
    assert target.source == f"{path}: iceServers[0].urls[0]"


def test_json_argument_is_read_as_ice_servers_file(tmp_path: Path) -> None:
    path = _write(tmp_path, [{"urls": ["stun:a.example.org"]}], name="servers.json")
    targets = parse_targets(["b.example.org:3479", str(path)], default_scheme="stun")
    assert [t.uri for t in targets] == ["stun:b.example.org:3479", "stun:a.example.org:3478"]


def test_command_line_credentials_apply_to_uris() -> None:
    (target,) = parse_targets(["turn:example.org"], default_scheme="turn", username="bob",
                              credential="pw-cli")
    assert (target.username, target.credential) == ("bob", "pw-cli")


def test_invalid_json_reports_the_position(tmp_path: Path) -> None:
    path = tmp_path / "ice.json"
    path.write_text('[\n  {"urls": "stun:a.example.org",}\n]\n', encoding="utf-8")
    with pytest.raises(TargetError) as info:
        load_ice_servers(path)
    message = str(info.value)
    assert message.startswith(f"invalid JSON in {path} at line 2 column")
    assert "\n" not in message


def test_javascript_literal_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "ice.json"
    path.write_text("{ iceServers: [{ urls: 'stun:a.example.org' }] }", encoding="utf-8")
    with pytest.raises(TargetError, match="a JavaScript object literal is not JSON"):
        load_ice_servers(path)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"cannot read ice-servers file .*missing\.json: No such file"):
        load_ice_servers(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"servers": []}, "expected a list of ice servers or an object with 'iceServers'"),
        ("stun:a", "expected a list of ice servers"),
        ({"iceServers": {"urls": "stun:a"}}, "'iceServers' must be a list"),
        ([], "the ice server list is empty"),
        (["stun:a"], "[0]: each ice server must be an object"),
        ([{"username": "u"}], "[0]: 'urls' must be a URI string"),
        ([{"urls": []}], "'urls' must be a URI string or a non-empty list"),
        ([{"urls": ["stun:a", 5]}], "'urls' must be a URI string"),
        ([{"urls": "stun:a", "username": 5}], "'username' must be a string, not int"),
        ([{"urls": "stun:a", "credential": "tok", "credentialType": "oauth"}], "credentialType 'oauth'"),
        ([{"urls": "stun:a"}, {"urls": ["turn:b", "turn:b:99999"]}],
         "[1].urls[1]: invalid target 'turn:b:99999': port 99999 is out of range"),
    ],
)
def test_bad_ice_servers_content(tmp_path: Path, data: object, message: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(TargetError) as info:
        load_ice_servers(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_expand_bare_turn_host_for_turn_check_defaults() -> None:
    # turn-check on a bare host: udp + tcp on the port, tls on 5349.
    targets = expand_transports([parse_target("example.org", default_scheme="turn")])
    assert [t.uri for t in targets] == [
        "turn:example.org:3478?transport=udp",
        "turn:example.org:3478?transport=tcp",
        "turns:example.org:5349",
    ]
    assert [t.transport for t in targets] == ["udp", "tcp", "tls"]


def test_expand_keeps_explicit_transports_and_deduplicates() -> None:
    given = [parse_target(text) for text in (
        "turn:example.org?transport=tcp", "turns:example.org", "stuns:example.org:443",
        "turn:example.org:3478?transport=tcp")]
    targets = expand_transports(given, ("udp",))
    assert [t.uri for t in targets] == [
        "turn:example.org:3478?transport=tcp", "turns:example.org:5349", "stuns:example.org:443"]


def test_expand_stun_shortcut_with_callers_choice_and_tls_port() -> None:
    targets = expand_transports([parse_target("example.org:3478")], ("udp", "tls"), tls_port=443)
    assert [t.uri for t in targets] == ["stun:example.org:3478?transport=udp", "stuns:example.org:443"]


@pytest.mark.parametrize("uri", ["turn:example.org:3478", "stun:example.org:3478", "turn:example.org"])
def test_expand_uri_without_transport_is_udp_only_like_a_browser(uri: str) -> None:
    # RFC 7065 §3 / Chromium: a written turn:/stun: URI without ?transport= is UDP; never TCP or TLS on 5349.
    targets = expand_transports([parse_target(uri, default_scheme="turn")], ("udp", "tcp", "tls"))
    assert [t.transport for t in targets] == ["udp"]
    assert targets[0].port == 3478 and not targets[0].secure


def test_shortcut_is_marked_and_uri_is_not() -> None:
    assert parse_target("example.org:3478").shortcut
    assert parse_target("[::1]:3478").shortcut
    assert not parse_target("stun:example.org:3478").shortcut
    assert not parse_uri("turn:example.org").shortcut


@pytest.mark.parametrize(("text", "hint"), [
    ("::1:3478", "[::1]:3478"),
    ("fe80::1:5349", "[fe80::1]:5349"),
    ("2001:db8::1:3478", "[2001:db8::1]:3478"),
])
def test_ipv6_literal_ending_in_a_port_is_ambiguous(text: str, hint: str) -> None:
    with pytest.raises(TargetError) as info:
        parse_target(text)
    message = str(info.value)
    assert "ambiguous" in message and hint in message and f"[{text}]" in message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["::1", "2001:db8::abcd", "2001:db8:0:0:0:0:0:1", "fe80::1"])
def test_unambiguous_bare_ipv6_literal_is_accepted(text: str) -> None:
    target = parse_target(text)
    assert target.port == 3478 and ":" in target.host


def test_bracketed_ipv6_with_port_is_accepted() -> None:
    target = parse_target("[::1]:3478")
    assert (target.host, target.port) == ("::1", 3478)


def test_expand_keeps_credentials_and_source() -> None:
    base = Target(scheme="turn", host="h.example", port=3478, username="u", credential="pw-x", source="cfg",
                  shortcut=True)
    expanded = expand_transports([base])
    assert len(expanded) == 3
    for target in expanded:
        assert (target.username, target.credential, target.source) == ("u", "pw-x", "cfg")


def test_expand_rejects_unknown_transport() -> None:
    with pytest.raises(TargetError, match="unknown transport 'sctp'"):
        expand_transports([parse_target("stun:example.org")], ("udp", "sctp"))


def test_with_transport_from_secure_to_plain() -> None:
    target = parse_target("turns:example.org:443").with_transport("tcp")
    assert target.uri == "turn:example.org:443?transport=tcp"


def test_ice_servers_credential_with_a_control_character_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "ice.json"
    path.write_text(json.dumps([{"urls": "turn:h", "username": "u", "credential": "tab\there"}]))
    with pytest.raises(TargetError) as info:
        load_ice_servers(path)
    assert "[0]: 'credential'" in str(info.value) and "U+0009" in str(info.value)
    assert "tab\there" not in str(info.value)
