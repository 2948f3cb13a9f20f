"""What an ICE server URL means to a browser (rtcdiag.targets.IceServerUrl, Transport): one key for every
spelling of one server, the strict parser for what a user writes and the lenient one for what a dump holds.

The spellings are the ones apps write and the ones Chromium writes back in candidates and icecandidateerror
events (``turn:h:p?transport=udp`` for a configured ``turn:h:p``; seen in the real dumps of
tests/fixtures/analyze/*-plain-url.*, healthy-relay-ipv6, mixed-urls*).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcdiag.targets import (
    TRANSPORTS,
    IceServerUrl,
    TargetError,
    Transport,
    expand_transports,
    parse_target,
)

# (spelling, the server a browser uses: key, transport)
SAME_SERVER = [
    # RFC 7065 §3: turn: without ?transport= is UDP only; port 3478 by default; scheme and host any case.
    ("turn:h.example:3478", "turn:h.example:3478?transport=udp", Transport.UDP),
    ("turn:h.example:3478?transport=udp", "turn:h.example:3478?transport=udp", Transport.UDP),
    ("TURN:H.EXAMPLE:3478", "turn:h.example:3478?transport=udp", Transport.UDP),
    ("turn:h.example", "turn:h.example:3478?transport=udp", Transport.UDP),
    ("Turn:h.example?TRANSPORT=UDP", "turn:h.example:3478?transport=udp", Transport.UDP),
    ("  turn:h.example:3478 ", "turn:h.example:3478?transport=udp", Transport.UDP),
    ("turn:h.example:3478?transport=tcp", "turn:h.example:3478?transport=tcp", Transport.TCP),
    ("turn:h.example?transport=tcp", "turn:h.example:3478?transport=tcp", Transport.TCP),
    # turns: is TLS over TCP, 5349 by default; Chromium names it turns:h:p?transport=tcp.
    ("turns:h.example:443?transport=tcp", "turns:h.example:443?transport=tcp", Transport.TLS),
    ("turns:h.example:443", "turns:h.example:443?transport=tcp", Transport.TLS),
    ("turns:h.example", "turns:h.example:5349?transport=tcp", Transport.TLS),
    # IPv6 literals: brackets, any spelling of the address; Chromium's reconstructed URL without brackets.
    ("turn:[::1]:3478", "turn:[::1]:3478?transport=udp", Transport.UDP),
    ("turn:[0:0:0:0:0:0:0:1]", "turn:[::1]:3478?transport=udp", Transport.UDP),
    ("turn:::1:3478?transport=udp", "turn:[::1]:3478?transport=udp", Transport.UDP),
    ("TURN:[2001:DB8::1]:3478", "turn:[2001:db8::1]:3478?transport=udp", Transport.UDP),
    # STUN is asked over UDP (libwebrtc puts stun: and stuns: in one set of UDP STUN servers).
    ("stun:h.example", "stun:h.example:3478", Transport.UDP),
    ("STUN:h.example:3478", "stun:h.example:3478", Transport.UDP),
    ("stuns:h.example", "stun:h.example:5349", Transport.UDP),
    ("stun:[::1]:19302", "stun:[::1]:19302", Transport.UDP),
]


@pytest.mark.parametrize(("text", "key", "transport"), SAME_SERVER)
def test_every_spelling_has_the_key_of_the_server_a_browser_uses(text: str, key: str,
                                                                 transport: Transport) -> None:
    url = IceServerUrl.lenient(text)
    assert (url.key, url.transport, url.parsed) == (key, transport, True)
    assert url.browser_form == key  # what Chromium writes back in candidates and errors
    assert IceServerUrl.lenient(url.browser_form).key == key  # read back, the same server
    assert url.text == text.strip()  # shown as written


@pytest.mark.parametrize(("a", "b"), [
    ("turn:h:3478", "turn:h:3478?transport=tcp"),  # another transport
    ("turn:h:3478", "turns:h:3478"),  # TLS
    ("turn:h", "turn:h:3479"),  # another port
    ("turn:h:3478", "stun:h:3478"),  # a STUN server is not the TURN server on the same port
    ("turns:h", "turn:h:5349?transport=tcp"),  # TLS vs plain TCP on the TLS port
    ("turn:h.example", "turn:g.example"),
    ("turn:[::1]", "turn:127.0.0.1"),
])
def test_different_servers_have_different_keys(a: str, b: str) -> None:
    assert IceServerUrl.lenient(a).key != IceServerUrl.lenient(b).key


@pytest.mark.parametrize("text", ["", "garbage", "turn:", "turn:u@h:3478", "turns:h?transport=udp",
                                  "turn:h:99999", "turn:h?transport=sctp", "http://h/", "turn:h:3478\x00x",
                                  "turn:" + "a" * 5000, "turn:[::1", "turn:h:3478?transport=udp&x=1"])
def test_a_url_from_a_dump_that_does_not_parse_keeps_its_normalised_text(text: str) -> None:
    url = IceServerUrl.lenient(text)
    assert not url.parsed and url.transport is None and url.port is None
    assert url.key == " ".join(url.text.split()).lower() and len(url.text) <= 500
    assert IceServerUrl.lenient(text.upper()).key == url.key  # still compared without case
    with pytest.raises(TargetError):
        IceServerUrl.parse(text)


@given(st.text(max_size=200))
def test_lenient_never_raises(text: str) -> None:
    url = IceServerUrl.lenient(text)
    assert isinstance(url.key, str) and url.is_turn in (True, False)


def test_family_and_turn() -> None:
    assert IceServerUrl.lenient("TURNS:h").is_turn and IceServerUrl.lenient("turns:h").family == "turn"
    assert not IceServerUrl.lenient("stun:h").is_turn and IceServerUrl.lenient("stuns:h").family == "stun"
    assert IceServerUrl.lenient("turn:u@h").is_turn  # unparseable, still a TURN URL by its scheme


def test_transport_is_defined_once() -> None:
    assert TRANSPORTS == ("udp", "tcp", "tls") == tuple(t.value for t in Transport)
    from rtcdiag.commands import stun, turn_check
    from rtcdiag.probes import reach

    assert reach.TRANSPORTS is TRANSPORTS and stun.TRANSPORTS is TRANSPORTS
    assert turn_check.TRANSPORT_CHOICES is TRANSPORTS


def test_targets_carry_the_transport_enum_and_expand_as_a_browser_uses_them() -> None:
    plain = parse_target("turn:h.example:3478")
    assert plain.transport is None and plain.written_transport is Transport.UDP
    assert parse_target("turns:h.example").transport is Transport.TLS
    assert parse_target("turn:h.example?transport=tcp").transport is Transport.TCP
    [udp] = expand_transports([plain], TRANSPORTS)
    assert udp.transport is Transport.UDP
    assert IceServerUrl.of_target(udp).key == IceServerUrl.of_target(plain).key
