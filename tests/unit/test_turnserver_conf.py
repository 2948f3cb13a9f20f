"""The turnserver.conf reader: the three option forms, comments, repeats, ranges and IPv6, bad files."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from rtcdiag.lint.turnserver_conf import (
    ConfigFileError,
    IpRange,
    bool_value,
    parse_range,
    parse_text,
    read_file,
)
from rtcdiag.lint.versions import parse_version


def test_option_forms_comments_and_repeats() -> None:
    """As coturn's parse_arg_string: name up to the first space/tab/=, then the value after the run of them;
    only a line starting with # is a comment; names are case-sensitive; double quotes are removed."""
    conf = parse_text("# comment\nrealm=example.org\nproc-user turnserver\n  no-cli\n"
                      "   # indented comment\nlisten = 1\nlistening-port = 3478\n"
                      "denied-peer-ip=10.0.0.0-10.255.255.255\ndenied-peer-ip=::1\nuser=alice:pw\nuser=bob:pw2\n"
                      "REALM=other.org\ncli-password=\"a b\"\nfingerprint # note\nno-auth=false\n"
                      "--verbose\n")
    assert conf.last("realm") == "example.org"  # REALM is another (unknown) option for coturn
    assert conf.last("proc-user") == "turnserver"
    assert conf.has("no-cli") and conf.flag("no-cli")
    assert conf.lines("no-cli")[0].value is None and conf.lines("no-cli")[0].line == 4
    assert conf.last("listening-port") == "3478" and conf.last("listen") == "1"
    assert conf.values("denied-peer-ip") == ["10.0.0.0-10.255.255.255", "::1"]
    assert conf.values("user") == ["alice:pw", "bob:pw2"]
    assert conf.last("cli-password") == "a b"
    assert conf.last("fingerprint") == "# note"  # part of the value, as coturn reads it
    assert conf.has("no-auth") and not conf.flag("no-auth")  # no-auth=false: authentication stays on
    assert conf.has("--verbose") and not conf.has("verbose")  # coturn knows no "--verbose" in a file


@pytest.mark.parametrize(("value", "expected"), [
    (None, True), ("", True), ("1", True), ("yes", True), ("true", True), ("on", True), ("0", False),
    ("no", False), ("false", False), ("off", False), ("# comment", None), ("maybe", None),
])
def test_boolean_values_as_coturn_reads_them(value: str | None, expected: bool | None) -> None:
    assert bool_value(value) is expected


@pytest.mark.parametrize(("text", "first", "last"), [
    ("10.0.0.0-10.255.255.255", "10.0.0.0", "10.255.255.255"),
    ("192.0.2.1", "192.0.2.1", "192.0.2.1"),
    ("::1", "::1", "::1"),
    ("[fe80::]-[febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff]", "fe80::",
     "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("::ffff:0.0.0.0-::ffff:255.255.255.255", "::ffff:0:0", "::ffff:ffff:ffff"),
])
def test_ranges(text: str, first: str, last: str) -> None:
    parsed = parse_range(text)
    assert isinstance(parsed, IpRange)
    assert parsed.first == ipaddress.ip_address(first) and parsed.last == ipaddress.ip_address(last)


@pytest.mark.parametrize(("text", "why"), [
    ("10.0.0.0/8", "CIDR"), ("10.0.0.300", "not an IP"), ("10.0.0.9-10.0.0.1", "ends before"),
    ("10.0.0.0-::1", "mixes"), ("", "empty"), ("example.org", "not an IP"),
])
def test_malformed_ranges_say_why(text: str, why: str) -> None:
    parsed = parse_range(text)
    assert isinstance(parsed, str) and why in parsed


def test_range_cover_is_per_family() -> None:
    v4 = parse_range("127.0.0.0-127.255.255.255")
    assert isinstance(v4, IpRange)
    assert v4.covers(ipaddress.ip_network("127.0.0.0/8"))
    assert not v4.covers(ipaddress.ip_network("::ffff:127.0.0.0/104"))  # coturn compares families
    assert v4.overlaps(ipaddress.ip_network("127.1.0.0/16"))
    assert not v4.covers(ipaddress.ip_network("0.0.0.0/0"))


def test_bad_files_are_one_line_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read"):
        read_file(tmp_path / "missing.conf")
    binary = tmp_path / "bin.conf"
    binary.write_bytes(b"realm=x\x00\x01")
    with pytest.raises(ConfigFileError, match="binary"):
        read_file(binary)
    big = tmp_path / "big.conf"
    big.write_bytes(b"#" * 1_000_001)
    with pytest.raises(ConfigFileError, match="larger"):
        read_file(big)


@pytest.mark.parametrize(("text", "version"), [
    ("4.6.1", (4, 6, 1)), ("4.5.1.3\n", (4, 5, 1, 3)), ("v4.17.1", (4, 17, 1)),
    ("0: : Coturn Version Coturn-4.6.1 'Gorst'", (4, 6, 1)), ("nonsense", None), ("4", None),
])
def test_version_parsing(text: str, version: tuple[int, ...] | None) -> None:
    assert parse_version(text) == version
