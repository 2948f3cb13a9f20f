"""``rtcdiag load``: every bad option is one line and exit 2 before any packet leaves (a UDP socket held here
as the "server" receives nothing), special-purpose targets are refused, and the ramp syntax."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from rtcdiag import exitcodes
from rtcdiag.commands.load import parse_ramp
from rtcdiag.errors import UsageError


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def _load(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RTCDIAG_TURN_PASSWORD": "not-used-here"}
    return subprocess.run([sys.executable, "-m", "rtcdiag", "load", *args], capture_output=True, text=True,
                          timeout=60, env=env, check=False)


@pytest.mark.parametrize(("args", "message"), [
    (("--size", "5"), "--size: 5 is not within 28..1400"),
    (("--streams", "0"), "every value must be a positive number"),
    (("--streams", "10:10:100", "--rate", "10:10:50"), "ramp --streams or --rate, not both"),
    (("--streams", "1.5"), "stream counts are whole numbers"),
    (("--streams", "ten"), "give N, a list A,B,C or START:STEP:MAX"),
    (("--streams", "1:0:5"), "STEP > 0"),
    (("--streams", "6000"), "--streams: 6000 is not within 1..5000"),
    (("--rate", "5000"), "--rate: 5000 is not within"),
    (("--step-seconds", "0.01"), "--step-seconds"),
    (("--max-duration", "9999"), "--max-duration"),
    (("--max-loss", "150"), "--max-loss"),
    (("--json", "--markdown"), "mutually exclusive"),
])
def test_bad_options_exit_2_before_any_packet(listener: socket.socket, args: tuple[str, ...], message: str,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from rtcdiag.cli import main  # in this process: the same entry point, without a start-up each

    monkeypatch.setenv("RTCDIAG_TURN_PASSWORD", "not-used-here")
    port = listener.getsockname()[1]
    with pytest.raises(SystemExit) as exited:
        main(["load", f"127.0.0.1:{port}", "-u", "alice", *args])
    out, err = capsys.readouterr()
    assert exited.value.code == exitcodes.USAGE, err
    assert message in err
    assert err.count("\n") == 1 and out == ""
    with pytest.raises(BlockingIOError):
        listener.recv(2048)  # nothing was sent to the "server"


def test_a_uri_carries_its_own_transport(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    done = _load(f"turn:127.0.0.1:{port}?transport=tcp", "--transport", "udp")
    assert done.returncode == exitcodes.USAGE
    assert "only apply to a HOST[:PORT] target" in done.stderr
    stun = _load(f"stun:127.0.0.1:{port}")
    assert stun.returncode == exitcodes.USAGE and "is a STUN server" in stun.stderr


@pytest.mark.parametrize("target", ["169.254.169.254:3478", "224.0.0.1:3478", "0.0.0.0:3478",
                                    "255.255.255.255:3478", "240.0.0.1:3478", "[ff02::1]:3478"])
def test_special_purpose_targets_are_refused(target: str) -> None:
    done = _load(target, "-u", "alice")
    assert done.returncode == exitcodes.USAGE
    assert "never a TURN server, not loaded" in done.stderr


def test_ramp_syntax() -> None:
    assert parse_ramp("--streams", "10:10:40", integer=True) == (10, 20, 30, 40)
    assert parse_ramp("--streams", "5,10,20", integer=True) == (5, 10, 20)
    assert parse_ramp("--rate", "50", integer=False) == (50,)
    assert parse_ramp("--rate", "0.5:0.5:1.5", integer=False) == (0.5, 1.0, 1.5)
    with pytest.raises(UsageError, match="more than 100 steps"):
        parse_ramp("--streams", "1:1:500", integer=True)
