"""RFC 6455 bytes (rtcdiag.protocol.websocket), the URL / proxy / header rules of ``rtcdiag signal``
(rtcdiag.probes.signal_url), its usage errors (exit 2, one line, before any traffic) and the judge's
interception rule on recorded results."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcdiag import exitcodes
from rtcdiag.cli import main
from rtcdiag.probes.signal import TlsStep
from rtcdiag.probes.signal_url import (
    Proxy,
    ProxySource,
    SignalUrlError,
    choose_proxy,
    no_proxy_matches,
    parse_header,
    parse_proxy,
    parse_signal_url,
)
from rtcdiag.probes.tls_info import CertInfo, TlsInfo
from rtcdiag.protocol import websocket as ws
from rtcdiag.redact import mask
from rtcdiag.triage.signal import keepalive_interval
from rtcdiag.triage.signal_evidence import interception


def test_accept_key_is_the_rfc_6455_example() -> None:
    # RFC 6455 §1.3: "dGhlIHNhbXBsZSBub25jZQ==" -> "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert ws.accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_client_frames_are_masked_and_parse_back() -> None:
    key = b"\x37\xfa\x21\x3d"
    frame = ws.client_frame(ws.Opcode.TEXT, b"Hello", mask_key=key)
    # RFC 6455 §5.7: a masked "Hello" from the client
    assert frame == bytes.fromhex("818537fa213d7f9f4d5158")
    for size in (0, 125, 126, 65535, 65536):
        raw = ws.client_frame(ws.Opcode.BINARY, b"x" * size, mask_key=key)
        header = 2 + (0 if size < 126 else 2 if size < 65536 else 8)
        assert len(raw) == header + 4 + size and ws.mask(raw[header + 4:], key) == b"x" * size


def _server(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, masked: bool = False) -> bytes:
    first = (0x80 if fin else 0) | rsv | opcode
    if len(payload) < 126:
        head = struct.pack("!BB", first, (0x80 if masked else 0) | len(payload))
    else:
        head = struct.pack("!BBH", first, 126, len(payload))
    return head + (b"\0\0\0\0" if masked else b"") + payload


def test_parser_reassembles_fragments_and_passes_control_frames_between() -> None:
    parser = ws.FrameParser(max_message=1000)
    data = _server(0x1, b"ab", fin=False) + _server(0x9, b"p") + _server(0x0, b"cd")
    frames = []
    for byte in data:  # one byte at a time
        frames += parser.feed(bytes([byte]))
    assert frames == [ws.Frame(ws.Opcode.PING, b"p"), ws.Frame(ws.Opcode.TEXT, b"abcd")]


@pytest.mark.parametrize(("data", "words"), [
    (_server(0x1, b"x", masked=True), "masked"),
    (_server(0x1, b"x", rsv=0x40), "RSV"),
    (_server(0x3, b"x"), "reserved opcode"),
    (_server(0x9, b"x" * 126), "control frame"),
    (_server(0x0, b"x"), "continuation"),
    (_server(0x1, b"x" * 200), "more than 100 bytes"),
])
def test_parser_refuses_what_rfc_6455_forbids(data: bytes, words: str) -> None:
    with pytest.raises(ws.WebSocketError, match=words):
        ws.FrameParser(max_message=100).feed(data)


def test_an_oversized_frame_is_refused_from_its_header_before_it_is_buffered() -> None:
    header = struct.pack("!BBQ", 0x82, 127, 1 << 40)
    with pytest.raises(ws.WebSocketError, match="more than"):
        ws.FrameParser(max_message=1 << 20).feed(header)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_only_the_protocol_error_escapes_the_parsers(data: bytes) -> None:
    with contextlib.suppress(ws.WebSocketError):
        ws.FrameParser(max_message=200).feed(data)
    try:
        end = ws.head_end(data + b"\r\n\r\n")
        ws.parse_head(data[:max(end - 4, 0)])
    except ws.WebSocketError:
        pass


def test_http_heads_are_bounded() -> None:
    head = ws.parse_head(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive, "
                         b"Upgrade\r\nX: " + b"a" * 2000)
    assert head.status == 101 and head.tokens("connection") == ["keep-alive", "upgrade"]
    assert len(head.get("x") or "") <= ws.MAX_HEADER_TEXT + 3
    with pytest.raises(ws.WebSocketError, match="no end"):
        ws.head_end(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 4000)
    with pytest.raises(ws.WebSocketError, match="not an HTTP"):
        ws.parse_head(b"SSH-2.0-OpenSSH_9.2")


# --- URLs, proxies, headers -------------------------------------------------------------------------------

def test_urls_and_their_masked_display() -> None:
    url = parse_signal_url("wss://Signal.Example.com/rtc?room=1&access_token=tok-abc-123")
    assert (url.host, url.port, url.transport) == ("signal.example.com", 443, "tls")
    assert url.target == "/rtc?room=1&access_token=tok-abc-123"
    assert url.display == "wss://signal.example.com/rtc?room=1&access_token=***"
    assert url.token_params == ("access_token",) and mask("x tok-abc-123 y") == "x *** y"
    assert parse_signal_url("ws://[::1]:8080").display == "ws://[::1]:8080/"
    token = parse_signal_url("wss://h/rtc?jwt={token}", token="a b")
    assert token.target == "/rtc?jwt=a%20b" and token.display == "wss://h/rtc?jwt=***"


@pytest.mark.parametrize("text", ["https://h/x", "h:443", "wss://user:pw@h/", "wss://h/#frag", "wss://h:0/",
                                  "wss://h:99999/", "wss:///x", "ws://h/a b", "wss://h/{token}"])
def test_bad_urls(text: str) -> None:
    with pytest.raises(SignalUrlError):
        parse_signal_url(text)


def test_proxy_choice_as_curl_reads_the_environment() -> None:
    wss, ws_url = parse_signal_url("wss://signal.example.com/"), parse_signal_url("ws://signal.example.com/")
    env = {"HTTPS_PROXY": "http://p:3128", "HTTP_PROXY": "http://upper:1", "http_proxy": "lower:8080"}
    assert choose_proxy(wss, environ=env).proxy == Proxy("p", 3128)
    assert choose_proxy(ws_url, environ=env).proxy == Proxy("lower", 8080)  # HTTP_PROXY ignored (httpoxy)
    assert choose_proxy(ws_url, environ={"HTTP_PROXY": "http://upper:1"}).source is ProxySource.NONE
    assert choose_proxy(wss, environ={"ALL_PROXY": "http://all:9"}).proxy == Proxy("all", 9)
    exempt = choose_proxy(wss, environ={**env, "NO_PROXY": ".example.com"})
    assert (exempt.proxy, exempt.source, exempt.variable) == (None, ProxySource.NO_PROXY_MATCH, "NO_PROXY")
    assert choose_proxy(wss, option=Proxy("o", 1), environ=env).source is ProxySource.OPTION
    assert choose_proxy(wss, no_proxy=True, environ=env).proxy is None
    with pytest.raises(SignalUrlError, match="only http://"):
        choose_proxy(wss, environ={"https_proxy": "socks5://s:1080"})


@pytest.mark.parametrize(("host", "rule", "exempt"), [
    ("a.example.com", "example.com", True), ("example.com", ".example.com", True),
    ("badexample.com", "example.com", False), ("10.1.2.3", "10.0.0.0/8", True),
    ("10.1.2.3", "10.1.2.4", False),
    ("::1", "[::1]", True), ("anything", "*", True), ("h", "h:8080", True), ("h", "", False),
])
def test_no_proxy_rules(host: str, rule: str, exempt: bool) -> None:
    assert no_proxy_matches(host, rule) is exempt


def test_proxy_password_is_a_secret_and_headers_are_checked() -> None:
    proxy = parse_proxy("http://alice:pr0xy-pass@p:3128")
    assert proxy.display == "http://alice:***@p:3128" and mask("pr0xy-pass") == "***"
    assert parse_header("Cookie: sid=c00kie-value, x=1") == ("Cookie", "sid=c00kie-value, x=1")
    assert mask("sid=c00kie-value, x=1") == "***"
    for bad in ("Host: x", "Origin: https://a", "no colon", "Bad Name: v", "X: a\x00b"):
        with pytest.raises(SignalUrlError):
            parse_header(bad)


@pytest.mark.parametrize("argv", [
    ["https://h/"], ["wss://h/", "--proxy", "http://p:1", "--no-proxy"],
    ["wss://h/", "--header", "Upgrade: x"],
    ["wss://h/", "--token-env", "RTCDIAG_NO_SUCH_VARIABLE"], ["wss://h/", "--proxy", "socks5://p:1"],
    ["wss://h/", "--origin", "not an origin"], ["wss://h/", "--subprotocol", "a b"],
    ["wss://h/", "--idle", "0"],
    ["wss://h/", "--message-size", "-1"], ["wss://h/", "--ca", "/nonexistent"],
])
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["signal", *argv])
    assert exit_info.value.code == exitcodes.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rtcdiag: error:")


# --- the judge on recorded results ---------------------------------------------------------------------

def _cert(issuer: str) -> CertInfo:
    return CertInfo(subject="CN=signal.example.com", issuer=issuer)


def _tls(issuer: str, fingerprint: str, direct_issuer: str | None, direct_fingerprint: str = "") -> TlsStep:
    step = TlsStep(info=TlsInfo(address="h", port=443, server_name="h", chain=[_cert(issuer)]),
                   fingerprints=[fingerprint])
    if direct_issuer is not None:
        step.direct = TlsInfo(address="h", port=443, server_name="h", chain=[_cert(direct_issuer)])
        step.direct_fingerprints = [direct_fingerprint]
    return step


def test_interception_is_claimed_only_on_evidence() -> None:
    assert interception(_tls("CN=R3", "aa", "CN=R3", "aa")) is None  # the same certificate
    assert interception(_tls("CN=R3", "aa", "CN=R3", "bb")) is None  # another one of the same CA (an LB)
    found = interception(_tls("CN=Corp Inspection CA", "aa", "CN=R3", "bb"))
    assert found is not None and found[0] == "confirmed"
    assert interception(_tls("CN=Private CA", "aa", None)) is None  # no direct view, no known product
    likely = interception(_tls("O=Zscaler Inc., CN=Zscaler Intermediate Root CA", "aa", None))
    assert likely is not None and likely[0] == "likely"


def test_keepalive_interval_is_half_of_what_survived() -> None:
    assert [keepalive_interval(s) for s in (0.4, 3.0, 60.0, 350.0)] == [1, 1, 30, 175]
