"""turn-check inputs: REST credential handling, nonce cookie features (--transport: test_list_options)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from rtcdiag.probes.turn import TurnCheckOptions, credentials_for, rest_username_expiry
from rtcdiag.probes.turn_session import nonce_features
from rtcdiag.redact import mask
from rtcdiag.targets import parse_target

TARGET = parse_target("127.0.0.1:3478", default_scheme="turn")


def test_rest_credentials_generated_from_secret() -> None:
    creds, kind, rest = credentials_for(TARGET, TurnCheckOptions(username="bob", secret="s3cr3t-x",
                                                                 ttl_s=3600), now=1_700_000_000)
    assert kind == "rest" and creds is not None and rest is not None
    assert creds.username == "1700003600:bob" and rest.generated and rest.seconds_left == 3600
    expected = base64.b64encode(hmac.digest(b"s3cr3t-x", b"1700003600:bob", hashlib.sha1)).decode()
    assert creds.password == expected
    assert mask(f"{expected} s3cr3t-x") == "*** ***"


def test_ready_made_rest_username_is_used_as_given() -> None:
    creds, kind, rest = credentials_for(TARGET, TurnCheckOptions(username="1600000000:bob", secret="k3y-1"),
                                        now=1_700_000_000)
    assert creds is not None and creds.username == "1600000000:bob"
    assert kind == "rest" and rest is not None and not rest.generated and rest.seconds_left < 0


def test_long_term_and_none() -> None:
    creds, kind, rest = credentials_for(TARGET, TurnCheckOptions(username="alice", password="pw1"), now=0)
    assert kind == "long-term" and rest is None and creds is not None and creds.password == "pw1"
    assert credentials_for(TARGET, TurnCheckOptions(username="alice"), now=0)[:2] == (None, "none")
    assert rest_username_expiry("2024") is None and rest_username_expiry("1700000000:x") == 1700000000


def test_nonce_cookie_feature_bits() -> None:
    # RFC 8489 §9.2: "obMatJos2" + base64 of 24 feature bits; bit 0 password algorithms, bit 1 anonymity.
    both = "obMatJos2" + base64.b64encode((0b11 << 22).to_bytes(3, "big")).decode() + "rest"
    assert nonce_features(both) == 0b11 << 22
    assert nonce_features("plain-nonce") == 0
