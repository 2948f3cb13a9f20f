"""Credentials: SASLprep/OpaqueString, long-term keys (MD5, SHA-256), USERHASH, TURN REST API.

Expected values come from outside this codebase: RFC 5769 §2.4 and RFC 8489 Appendix B.1 (with its verified
erratum for the MESSAGE-INTEGRITY-SHA256 value), and `openssl dgst` for the plain MD5/SHA-256/HMAC-SHA1 cases.
"""

from __future__ import annotations

import pytest

from rtcdiag.protocol import (
    AttrType,
    CredentialError,
    Message,
    MessageClass,
    Method,
    PasswordAlgorithm,
    PasswordAlgorithmEntry,
    long_term_key,
    opaque_string,
    parse_rest_expiry,
    rest_credentials,
    rest_login,
    saslprep,
    short_term_key,
    userhash,
    verify_message_integrity,
)
from rtcdiag.redact import clear_secrets, mask

USERNAME = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9"  # マトリックス
REALM = "example.org"


@pytest.fixture(autouse=True)
def _forget_secrets() -> None:
    clear_secrets()


@pytest.mark.parametrize(
    ("raw", "prepared"),
    [
        ("The\u00adM\u00aatr\u2168", "TheMatrIX"),  # RFC 5769 §2.4: B.1 soft hyphen dropped, NFKC
        ("user", "user"),
        ("I\u00adX", "IX"),  # RFC 4013 §3 example
        ("a\u2003b", "a b"),  # C.1.2 non-ASCII space -> U+0020
        ("\u2168", "IX"),
    ],
)
def test_saslprep(raw: str, prepared: str) -> None:
    assert saslprep(raw) == prepared


@pytest.mark.parametrize("bad", ["a\u0007b", "\ud800", "\u0627\u0031x", "\ue000"])
def test_saslprep_rejects_prohibited(bad: str) -> None:
    with pytest.raises(CredentialError) as info:
        saslprep(bad)
    assert bad not in str(info.value)  # never echo the secret


def test_opaque_string() -> None:
    assert opaque_string("TheMatrIX") == "TheMatrIX"
    assert opaque_string("M\u00aa") == "M\u00aa"  # NFC keeps compatibility characters (unlike SASLprep)
    assert opaque_string("e\u0301") == "\u00e9"  # NFC composes
    assert opaque_string("a\u3000b") == "a b"  # non-ASCII space -> U+0020
    for bad in ("", "a\u0000b", "The\u00adM"):  # empty, control, default-ignorable
        with pytest.raises(CredentialError):
            opaque_string(bad)


def test_long_term_key_md5_and_sha256_match_openssl() -> None:
    # echo -n "user:realm:pass" | openssl dgst -md5 / -sha256
    assert long_term_key("user", "realm", "pass").hex() == "8493fbc53ba582fb4c044c456bdc40eb"
    assert (
        long_term_key("user", "realm", "pass", PasswordAlgorithm.SHA256).hex()
        == "07e934117abd40836e7c6329b54731b2b2d2a5f9a71f544922d75e0730d8251b"
    )
    with pytest.raises(CredentialError):
        long_term_key("user", "realm", "pass", 7)


def test_long_term_key_prepares_the_password() -> None:
    raw_key = long_term_key(USERNAME, REALM, "The\u00adM\u00aatr\u2168")
    assert raw_key == long_term_key(USERNAME, REALM, "TheMatrIX")
    assert len(long_term_key(USERNAME, REALM, "x", PasswordAlgorithm.SHA256)) == 32


def test_userhash_rfc8489_b1() -> None:
    assert userhash(USERNAME, REALM).hex() == (
        "4a3cf38fef6992bda952c6780417da0f24819415569e60b205c46e41407f1704"
    )


def test_rfc8489_b1_sha256_integrity_with_userhash() -> None:
    """RFC 8489 Appendix B.1 (value per its verified erratum): USERHASH, NONCE, REALM, PASSWORD-ALGORITHM
    SHA-256, then MESSAGE-INTEGRITY-SHA256 keyed with SHA-256(user:realm:TheMatrIX)."""
    msg = Message(Method.BINDING, MessageClass.REQUEST, bytes.fromhex("78ad3433c6ad72c029da412e"))
    msg.add(AttrType.USERHASH, userhash(USERNAME, REALM))
    msg.add(AttrType.NONCE, "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA")
    msg.add(AttrType.REALM, REALM)
    msg.add(AttrType.PASSWORD_ALGORITHM, PasswordAlgorithmEntry(PasswordAlgorithm.SHA256))
    key = long_term_key(USERNAME, REALM, "The\u00adM\u00aatr\u2168", PasswordAlgorithm.SHA256)
    data = msg.encode(integrity_key=key, integrity_sha256=True)
    mac = Message.decode(data).get_raw(AttrType.MESSAGE_INTEGRITY_SHA256)
    assert mac is not None
    assert mac.hex() == "b5c7bf005b6c52a21c51c5e892f81924136296cb927c43149309278cc6518e65"
    assert verify_message_integrity(data, key) is True


def test_short_term_key_is_the_prepared_password() -> None:
    assert short_term_key("VOkJxbRl1RmTxUk/WvJxBt") == b"VOkJxbRl1RmTxUk/WvJxBt"


def test_rest_credentials_match_openssl_and_are_redacted() -> None:
    # echo -n "1700000600:alice" | openssl dgst -sha1 -hmac north-secret -binary | base64
    username, password = rest_credentials("north-secret", "alice", 600, now=1_700_000_000)
    assert username == "1700000600:alice"
    assert password == "EdbFJ9kE5DnzTiD/imsvvWqUMAs="
    assert mask(f"secret=north-secret password={password}") == "secret=*** password=***"
    assert rest_credentials("north-secret", "", 60, now=100.9)[0] == "160"


def test_rest_login_keeps_a_ready_made_name_and_mints_for_any_other() -> None:
    # a ready-made "expiry:user" is checked as given: its password is the same HMAC (openssl value above)
    assert rest_login("north-secret", "1700000600:alice", 60, now=5) == (
        "1700000600:alice", "EdbFJ9kE5DnzTiD/imsvvWqUMAs=", False)
    # an ordinary name, or a number too small to be a Unix time, gets an expiry of now + ttl
    assert rest_login("north-secret", "alice", 600, now=1_700_000_000) == (
        "1700000600:alice", "EdbFJ9kE5DnzTiD/imsvvWqUMAs=", True)
    assert rest_login("north-secret", "2024", 10, now=100)[0::2] == ("110:2024", True)
    assert rest_login("north-secret", "", 60, now=100.9)[0::2] == ("160", True)
    assert mask("north-secret EdbFJ9kE5DnzTiD/imsvvWqUMAs=") == "*** ***"


def test_long_term_key_registers_password_and_key_for_redaction() -> None:
    key = long_term_key("bob", "realm", "hunter2-pass")
    assert mask(f"pw hunter2-pass key {key.hex()}") == "pw *** key ***"


@pytest.mark.parametrize(
    ("username", "expiry"),
    [
        ("1700000600:alice", 1700000600),
        ("1700000600", 1700000600),
        ("alice:1700000600", 1700000600),  # coturn also accepts user:timestamp
        ("alice", None),
        ("", None),
        ("abc:def", None),
        ("\u0661\u0662:x", None),  # Arabic-Indic digits are not a timestamp
    ],
)
def test_parse_rest_expiry(username: str, expiry: int | None) -> None:
    assert parse_rest_expiry(username) == expiry


def test_rest_login_keeps_a_ready_made_name_and_mints_any_other() -> None:
    """The one "ready-made ``expiry:user`` or mint" decision (rtcdiag check, ice, browser, turn-check and
    the exporter all take it): a name whose expiry looks like a Unix time is kept exactly, with its HMAC
    password; a plain name (or a year-like number) is minted for the TTL."""
    from rtcdiag.protocol.credentials import rest_login, rest_password

    kept = rest_login("north-secret", "1700000600:alice", 60, now=1_800_000_000)
    assert kept == ("1700000600:alice", rest_password("north-secret", "1700000600:alice"), False)
    minted = rest_login("north-secret", "alice", 600, now=1_700_000_000)
    assert minted == (*rest_credentials("north-secret", "alice", 600, now=1_700_000_000), True)
    assert rest_login("north-secret", "2024", 60, now=100)[0] == "160:2024"
    assert rest_login("north-secret", None, 60, now=100)[:1] == ("160",)
