"""turn-check against replies no healthy coturn sends: written by hand in this test (a tiny UDP server).

- 300 Try Alternate pointing at the real coturn: followed once, reported, and the check passes there;
- 401 without NONCE: an invalid challenge;
- 420 with UNKNOWN-ATTRIBUTES: the unknown types are listed;
- bytes that are not STUN: rejected, never trusted (MALFORMED-REPLY);
- a proxy in front of the real coturn answering the first authenticated request of each method with 438 Stale
  Nonce: every retry succeeds, so nothing is reported as an error (each request judged on its final exchange);
- a port that accepts TCP and never answers (and swallows UDP): PORT-NOT-STUN is the one root cause, never
  UDP-BLOCKED;
- a 401 whose REALM/NONCE cannot be echoed (control characters, not UTF-8, too long): TURN-CHALLENGE-UNUSABLE
  and no credentials sent; a 401 whose echo would not fit one request (UDP datagram, or 65,535 bytes of
  attributes over TCP): TURN-REQUEST-OVERSIZED (both were exit 4).
"""

from __future__ import annotations

import json
import re
import secrets
import selectors
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import servers  # tests/servers.py (conftest puts tests/ on sys.path)

from rtcdiag.cli import main
from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.protocol import (
    Address,
    AttrType,
    ErrorCode,
    Message,
    MessageClass,
    Method,
    StunParseError,
    UnknownAttributes,
    is_stun,
)

Reply = Callable[[Message], bytes]


def _error(request: Message, code: int, reason: str) -> Message:
    reply = Message(request.method, MessageClass.ERROR, request.transaction_id)
    return reply.add(AttrType.ERROR_CODE, ErrorCode(code, reason))


@pytest.fixture
def fake_turn() -> Iterator[Callable[[Reply], int]]:
    """``fake_turn(reply)`` -> port of a loopback UDP server answering every request with ``reply(req)``."""
    sockets: list[socket.socket] = []
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(reply: Reply) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.05)
        sockets.append(sock)

        def serve() -> None:
            while not stop.is_set():
                try:
                    data, source = sock.recvfrom(65535)
                except TimeoutError:
                    continue
                except OSError:
                    return
                sock.sendto(reply(Message.decode(data)), source)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return int(sock.getsockname()[1])

    yield start
    stop.set()
    for thread in threads:
        thread.join(2)
    for sock in sockets:
        sock.close()


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    with pytest.raises(SystemExit) as exited:
        main(["turn-check", *args, "--transport", "udp", "--json"])
    out = capsys.readouterr().out
    return int(exited.value.code or 0), json.loads(out)


def _ids(report: dict[str, object]) -> set[str]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return {f["id"] for f in findings}


def _leg(report: dict[str, object]) -> dict[str, object]:
    results = report["results"]
    assert isinstance(results, dict)
    return results["turn"][0]["transports"][0]  # type: ignore[no-any-return]


def _redirect_to(coturn: RunningCoturn, realm: str | None) -> Reply:
    """Allocate -> 300 ALTERNATE-SERVER coturn; any other request -> 401 with ``realm`` (None: another 300,
    so the redirecting server never reveals a realm)."""
    def reply(request: Message) -> bytes:
        if request.method != Method.ALLOCATE and realm is not None:
            return _error(request, 401, "Unauthorized").add(AttrType.REALM, realm).add(
                AttrType.NONCE, "n0nce").encode()
        redirect = _error(request, 300, "Try Alternate")
        return redirect.add(AttrType.ALTERNATE_SERVER, Address.of("127.0.0.1", coturn.port)).encode()
    return reply


def test_alternate_server_is_followed_once(fake_turn: Callable[[Reply], int], coturn: RunningCoturn,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    port = fake_turn(_redirect_to(coturn, coturn.realm))
    code, report = run_cli([f"127.0.0.1:{port}", "-u", "alice", "--password", coturn.users["alice"]], capsys)
    leg = _leg(report)
    assert leg["alternate_server"] == f"127.0.0.1:{coturn.port}"
    assert leg["server"] == f"127.0.0.1:{coturn.port}" and leg["allocated"] and leg["released"]
    assert leg["redirect_realm"] == coturn.realm  # learned from the redirecting server's 401 to a Refresh
    assert _ids(report) >= {"TURN-ALTERNATE-SERVER"}
    assert code == 0  # a followed redirect is a warning


def test_alternate_gets_credentials_only_for_a_known_realm(fake_turn: Callable[[Reply], int],
                                                           coturn: RunningCoturn,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The redirecting server never names its realm: nothing keyed from the password goes to the alternate
    unless --realm names the realm the password belongs to."""
    port = fake_turn(_redirect_to(coturn, None))
    args = [f"127.0.0.1:{port}", "-u", "alice", "--password", coturn.users["alice"]]
    code, report = run_cli(args, capsys)
    leg = _leg(report)
    assert leg["redirect"] == "credentials-withheld" and not leg["authenticated"] and not leg["allocated"]
    assert "TURN-REDIRECT-REALM" in _ids(report) and code == 3
    code, report = run_cli([*args, "--realm", coturn.realm], capsys)
    leg = _leg(report)
    assert leg["redirect"] == "followed" and leg["allocated"] and leg["released"] and code == 0


def test_challenge_without_nonce(fake_turn: Callable[[Reply], int],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    port = fake_turn(lambda req: _error(req, 401, "Unauthorized").add(AttrType.REALM, "x").encode())
    code, report = run_cli([f"127.0.0.1:{port}", "-u", "a", "--password", "b"], capsys)
    assert code == 1
    assert _ids(report) == {"TURN-CHALLENGE-INVALID"}


def test_420_lists_unknown_attributes(fake_turn: Callable[[Reply], int],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    def unknown(request: Message) -> bytes:
        reply = _error(request, 420, "Unknown Attribute")
        return reply.add(AttrType.UNKNOWN_ATTRIBUTES, UnknownAttributes((0x0019,))).encode()

    port = fake_turn(unknown)
    code, report = run_cli([f"127.0.0.1:{port}", "-u", "a", "--password", "b"], capsys)
    assert code == 1
    assert _ids(report) == {"TURN-UNKNOWN-ATTR-420"}
    assert "0x0019 REQUESTED-TRANSPORT" in json.dumps(report["findings"])


def test_garbage_replies_are_not_trusted(fake_turn: Callable[[Reply], int],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    port = fake_turn(lambda req: b"HTTP/1.1 400 Bad Request\r\n\r\n")
    code, report = run_cli([f"127.0.0.1:{port}", "--timeout", "0.3"], capsys)
    assert code == 1
    assert _ids(report) == {"MALFORMED-REPLY"}
    assert _leg(report)["challenge_answered"] is False


class StaleNonceProxy:
    """A UDP proxy to coturn that answers the first *authenticated* request of each method in ``stale``
    with 438 Stale Nonce (carrying the REALM and NONCE the client sent, so that its retry is valid), and
    forwards everything else both ways (control, Data indications, ChannelData)."""

    def __init__(self, upstream: tuple[str, int], stale: set[int]) -> None:
        self.upstream = upstream
        self.stale = set(stale)
        self.staled: list[int] = []  # methods answered 438, in order
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.port = int(self.front.getsockname()[1])
        self.client: tuple[str, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="stale-nonce-proxy")
        self._thread.start()

    def _stale_reply(self, data: bytes) -> bytes | None:
        if not is_stun(data):
            return None  # ChannelData
        try:
            request = Message.decode(data)
        except StunParseError:
            return None
        if request.msg_class != MessageClass.REQUEST or request.method not in self.stale or \
                request.get_raw(AttrType.MESSAGE_INTEGRITY) is None:
            return None
        self.stale.discard(request.method)
        self.staled.append(request.method)
        reply = Message(request.method, MessageClass.ERROR, request.transaction_id)
        reply.add(AttrType.ERROR_CODE, ErrorCode(438, "Stale Nonce"))
        reply.add(AttrType.REALM, request.find(AttrType.REALM, str) or "")
        reply.add(AttrType.NONCE, request.find(AttrType.NONCE, str) or "")
        return reply.encode()

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.front, selectors.EVENT_READ)
        sel.register(self.back, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    data, source = sock.recvfrom(65535)
                    if sock is self.front:
                        self.client = (source[0], source[1])
                        reply = self._stale_reply(data)
                        if reply is not None:
                            self.front.sendto(reply, source)
                        else:
                            self.back.sendto(data, self.upstream)
                    elif self.client is not None:
                        self.front.sendto(data, self.client)
        finally:
            sel.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.front.close()
        self.back.close()


def run_cli_any(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    with pytest.raises(SystemExit) as exited:
        main(["turn-check", *args, "--json"])
    out = capsys.readouterr().out
    return int(exited.value.code or 0), json.loads(out)


def test_438_then_success_on_every_request_is_not_an_error(coturn: RunningCoturn,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    stale = {Method.ALLOCATE, Method.CREATE_PERMISSION, Method.CHANNEL_BIND, Method.REFRESH}
    proxy = StaleNonceProxy(("127.0.0.1", coturn.port), set(stale))
    try:
        code, report = run_cli([f"127.0.0.1:{proxy.port}", "-u", "alice", "--password",
                                coturn.users["alice"]], capsys)
    finally:
        proxy.stop()
    assert sorted(proxy.staled) == sorted(stale)  # each method really got its 438 first
    leg = _leg(report)
    steps = [(s["step"], s["error_code"]) for s in leg["steps"]]  # type: ignore[index]
    assert ("allocate (authenticated)", 438) in steps
    assert ("allocate (authenticated) (retry with new nonce)", None) in steps
    for dp in leg["data_paths"]:  # type: ignore[attr-defined]
        assert [s["error_code"] for s in dp["steps"]] == [438, None], dp["steps"]
        assert dp["steps"][1]["step"].endswith("(retry with new nonce)")
        assert dp["packets_received"] == dp["packets_sent"] == 5
    assert code == 0, report["findings"]
    assert not [f for f in report["findings"] if f["severity"] != "info"]  # type: ignore[index]
    checks = report["checks"]
    assert isinstance(checks, list)
    assert {c["status"] for c in checks} == {"pass"}
    messages = {c["name"]: c["message"] for c in checks}
    for name in ("udp/allocate", "udp/data-send-indication", "udp/data-channel-data", "udp/refresh"):
        assert "after a 438 Stale Nonce retry" in messages[name], messages[name]


def test_tcp_accepted_but_silent_is_port_not_stun_not_udp_blocked(
        hostile: Callable[..., Any], capsys: pytest.CaptureFixture[str]) -> None:
    server = hostile("silent")  # UDP and TCP on one port: reads every request, answers none
    code, report = run_cli_any([f"127.0.0.1:{server.port}", "--transport", "udp,tcp", "-u", "a",
                                "--password", "b", "--timeout", "0.5"], capsys)
    assert code == 1
    assert server.requests >= 2  # both transports really reached it
    assert [r["id"] for r in report["root_causes"]] == ["PORT-NOT-STUN"]
    assert "UDP-BLOCKED" not in _ids(report)
    where = {(f["id"], f["transport"], f["step"]): f for f in report["findings"]}
    assert set(where) == {("PORT-NOT-STUN", "tcp", "challenge"), ("SERVER-UNREACHABLE", "udp", "connect")}
    root = where[("PORT-NOT-STUN", "tcp", "challenge")]
    assert root["title"] == f"Not a STUN/TURN server on TCP port {server.port}"
    assert where[("SERVER-UNREACHABLE", "udp", "connect")]["explained_by"] == root["ref"]
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["tcp/connect"] == "pass" and statuses["tcp/challenge"] == "fail"
    assert statuses["tcp/allocate"] == "skip" and statuses["udp/challenge"] == "skip"


def test_a_437_to_the_first_allocate_is_retried_from_a_new_port(
        fake_turn: Callable[[Reply], int], coturn: RunningCoturn, capsys: pytest.CaptureFixture[str]) -> None:
    """coturn keeps a released allocation for up to a second: a run whose ephemeral port repeats an earlier
    run's gets 437 to its very first Allocate. That is neither the server's fault nor the network's; the
    check retries once from a new local port (the stand-in answers 437 once, then redirects to coturn)."""
    answered: list[int] = []

    def first_437(request: Message) -> bytes:
        answered.append(1)
        if len(answered) == 1:
            return _error(request, 437, "Allocation Mismatch").encode()
        return _redirect_to(coturn, coturn.realm)(request)

    port = fake_turn(first_437)
    code, report = run_cli([f"127.0.0.1:{port}", "-u", "alice", "--password", coturn.users["alice"]], capsys)
    leg = _leg(report)
    assert leg["fresh_port_retry"] is True and leg["allocated"] and leg["released"]
    steps = leg["steps"]
    assert isinstance(steps, list) and "437" in (steps[0]["response"] or "")
    assert "TURN-MISMATCH-437" not in _ids(report)
    assert code == 0


def test_a_437_that_persists_on_a_new_port_is_reported(fake_turn: Callable[[Reply], int],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    port = fake_turn(lambda req: _error(req, 437, "Allocation Mismatch").encode())
    code, report = run_cli([f"127.0.0.1:{port}", "-u", "a", "--password", "b"], capsys)
    assert _leg(report)["fresh_port_retry"] is True
    assert "TURN-MISMATCH-437" in _ids(report) and code == 1


# --- challenges no client can answer (RFC 8489 §14.9/§14.10), written by hand: coturn never sends them ---

def _challenge(realm: bytes, nonce: bytes, algorithms: bytes | None = None) -> Reply:
    def reply(request: Message) -> bytes:
        msg = _error(request, 401, "Unauthorized")
        msg.add_raw(AttrType.REALM, realm).add_raw(AttrType.NONCE, nonce)
        if algorithms is not None:
            msg.add_raw(AttrType.PASSWORD_ALGORITHMS, algorithms)
        return msg.encode()
    return reply


def _sent_credentials(seen: list[Message]) -> bool:
    return any(m.has(AttrType.MESSAGE_INTEGRITY) or m.has(AttrType.USERNAME) or m.has(AttrType.USERHASH)
               for m in seen)


@pytest.mark.parametrize(("realm", "nonce", "problem"), [
    # A control character in REALM while the nonce cookie asks for USERHASH (username anonymity, §9.2):
    # this was exit 4 (internal error) with the report lost.
    (b"realm\x01", b"obMatJos2QAAAnonce", "REALM contains the control character U+0001"),
    (b"realm", b"nonce\x1b[2J", "NONCE contains the control character U+001B"),
    (b"realm", b"n" * 800, "NONCE is 800 bytes (RFC 8489 allows fewer than 763)"),
    (b"r" * 763, b"nonce", "REALM is 763 bytes"),
    (b"r\xff\xfe", b"nonce", "REALM is not UTF-8"),
])
def test_an_unusable_realm_or_nonce_is_a_finding_and_nothing_is_echoed(
        fake_turn: Callable[[Reply], int], capsys: pytest.CaptureFixture[str],
        realm: bytes, nonce: bytes, problem: str) -> None:
    seen: list[Message] = []
    challenge = _challenge(realm, nonce)

    def reply(request: Message) -> bytes:
        seen.append(request)
        return challenge(request)

    port = fake_turn(reply)
    code, report = run_cli([f"127.0.0.1:{port}", "-u", "a", "--password", "b"], capsys)
    assert code == 1
    assert _ids(report) == {"TURN-CHALLENGE-UNUSABLE"}
    finding = report["findings"][0]  # type: ignore[index]
    assert finding["step"] == "challenge" and problem in finding["symptom"]
    assert seen and not _sent_credentials(seen)  # the unusable value was never sent back
    assert problem in str(_leg(report)["challenge_problem"])


def test_a_challenge_whose_echo_exceeds_a_udp_datagram_is_a_finding(
        fake_turn: Callable[[Reply], int], capsys: pytest.CaptureFixture[str]) -> None:
    # 16,355 PASSWORD-ALGORITHMS entries: the 401 fits in a datagram, the request echoing it does not.
    port = fake_turn(_challenge(b"realm", b"nonce", b"\x00\x01\x00\x00" * 16355))
    code, report = run_cli([f"127.0.0.1:{port}", "-u", "a", "--password", "b"], capsys)
    assert code == 1
    assert _ids(report) == {"TURN-REQUEST-OVERSIZED"}
    assert "does not fit in one UDP datagram" in json.dumps(report["findings"])


def test_a_challenge_whose_echo_exceeds_65535_bytes_on_tcp_is_a_finding(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Over TCP the 401 may be a full 65,535-byte message; echoing it (plus USERNAME, MESSAGE-INTEGRITY, ...)
    cannot fit a STUN length field. This was exit 4."""
    challenge = _challenge(b"realm", b"nonce", b"\x00\x01\x00\x00" * 16370)

    def answer(request: bytes, peer: tuple[str, int]) -> bytes:
        return challenge(Message.decode(request))

    with servers.scripted_stream_server(servers.StreamScript(answer)) as (host, port), \
            pytest.raises(SystemExit) as exited:
        main(["turn-check", f"{host}:{port}", "--transport", "tcp", "-u", "a", "--password", "b", "--json",
              "--timeout", "1"])
    report = json.loads(capsys.readouterr().out)
    assert exited.value.code == 1
    assert _ids(report) == {"TURN-REQUEST-OVERSIZED"}
    assert "exceeds 65535" in json.dumps(report["findings"])


class _LostSuccessThen437:
    """A UDP proxy in front of a real coturn for the first client only: it loses coturn's success to the
    authenticated Allocate (coturn made the allocation: a lost answer) and answers the retransmission of that
    Allocate 437 itself, as a server that does not keep its first answer for retransmissions does (RFC 8656
    §7.2 says SHOULD; coturn does keep it, so no real server on this machine can show it). Every other
    datagram passes both ways; each client gets a socket of its own towards coturn (its own 5-tuple)."""

    def __init__(self, upstream: tuple[str, int], key: bytes) -> None:
        self.upstream = upstream
        self.key = key  # the long-term key: the 437 is signed, as a server signs it (RFC 8489 §9.2.4)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.port = int(self.front.getsockname()[1])
        self.backs: dict[tuple[str, int], socket.socket] = {}
        self.lost: list[bytes] = []  # transaction ids whose success was lost
        self.answered_437 = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="lost-success-proxy")
        self._thread.start()

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.front, selectors.EVENT_READ, None)
        while not self._stop.is_set():
            for key, _ in sel.select(0.05):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                data, source = sock.recvfrom(65535)
                if key.data is None:
                    self._upward(sel, data, source)
                else:
                    self._downward(data, key.data)
        sel.close()

    def _upward(self, sel: selectors.BaseSelector, data: bytes, client: tuple[str, int]) -> None:
        request = Message.decode(data)
        if request.method == Method.ALLOCATE and request.transaction_id in self.lost:
            self.answered_437 += 1
            self.front.sendto(_error(request, 437, "Allocation Mismatch").encode(integrity_key=self.key,
                                                                                fingerprint=True), client)
            return
        back = self.backs.get(client)
        if back is None:
            back = self.backs[client] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            back.bind(("127.0.0.1", 0))
            sel.register(back, selectors.EVENT_READ, client)
        back.sendto(data, self.upstream)

    def _downward(self, data: bytes, client: tuple[str, int]) -> None:
        reply = Message.decode(data)
        first_client = next(iter(self.backs)) == client
        if first_client and not self.lost and reply.method == Method.ALLOCATE \
                and reply.msg_class == MessageClass.SUCCESS:
            self.lost.append(reply.transaction_id)
            return
        self.front.sendto(data, client)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for sock in (self.front, *self.backs.values()):
            sock.close()


def test_a_437_to_our_own_retransmitted_allocate_is_released_and_retried(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn], capsys: pytest.CaptureFixture[str]) -> None:
    """The 437 answered our own retransmission: the allocation its first copy made is ours (never the
    server's fault, RFC 8656 §7.3). It is released on its 5-tuple, and allocated again from a new port;
    coturn's own log shows both allocations released."""
    server = coturn_factory(CoturnOptions(users={"alice": "pw-" + secrets.token_hex(6)}, verbose=True))
    from rtcdiag.protocol import long_term_key

    proxy = _LostSuccessThen437((server.host, server.port),
                                long_term_key("alice", server.realm, server.users["alice"]))
    try:
        code, report = run_cli([f"127.0.0.1:{proxy.port}", "-u", "alice", "--password", server.users["alice"],
                                "--no-peer-test", "--timeout", "3"], capsys)
    finally:
        proxy.close()
    assert proxy.answered_437 >= 1  # the retransmission really got the 437
    assert "TURN-MISMATCH-437" not in _ids(report), report["findings"]
    leg = _leg(report)
    assert leg["fresh_port_retry"] is True and leg["allocated"] and leg["released"]
    steps = [(s["step"], s["error_code"]) for s in leg["steps"]]  # type: ignore[index]
    assert ("allocate (authenticated)", 437) in steps
    assert ("refresh (release what the retransmitted Allocate made)", None) in steps
    assert code == 0
    # Ground truth: coturn made two allocations, and both were released (none left to expire).
    log = server.log_path.read_text(errors="replace")
    made = len(re.findall(r"incoming packet ALLOCATE processed, success", log))
    released = len(re.findall(r"username=<alice>, lifetime=0", log))
    assert (made, released) == (2, 2), log[-3000:]
