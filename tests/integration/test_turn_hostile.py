"""turn-check against replies no healthy coturn sends: written by hand in this test (a tiny UDP server).

- 300 Try Alternate pointing at the real coturn: followed once, reported, and the check passes there;
- 401 without NONCE: an invalid challenge;
- 420 with UNKNOWN-ATTRIBUTES: the unknown types are listed;
- bytes that are not STUN: rejected, never trusted (MALFORMED-REPLY).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from rtcdiag.cli import main
from rtcdiag.coturn import RunningCoturn
from rtcdiag.protocol import Address, AttrType, ErrorCode, Message, MessageClass, UnknownAttributes

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


def test_alternate_server_is_followed_once(fake_turn: Callable[[Reply], int], coturn: RunningCoturn,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    def redirect(request: Message) -> bytes:
        reply = _error(request, 300, "Try Alternate")
        return reply.add(AttrType.ALTERNATE_SERVER, Address.of("127.0.0.1", coturn.port)).encode()

    port = fake_turn(redirect)
    code, report = run_cli([f"127.0.0.1:{port}", "-u", "alice", "--password", coturn.users["alice"]], capsys)
    leg = _leg(report)
    assert leg["alternate_server"] == f"127.0.0.1:{coturn.port}"
    assert leg["server"] == f"127.0.0.1:{coturn.port}" and leg["allocated"] and leg["released"]
    assert _ids(report) >= {"TURN-ALTERNATE-SERVER"}
    assert code == 0  # a followed redirect is a warning


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
