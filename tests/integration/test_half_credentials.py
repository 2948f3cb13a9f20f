"""Half a credential is a usage error: one line, exit 2, before any traffic (issue 20 item 10).

Before: ``turn-check turn:h:p -u alice`` with no password anywhere ran, exited 3 and showed an unrelated
warning as the root cause while an INFO said "pass -u USER". Every form is run here through the real entry
point (a subprocess): ``-u``, ``$RTCDIAG_TURN_USERNAME``, a password without a user, an rtcdiag.toml
server and an RTCIceServer entry. The target is a UDP socket and a TCP listener of this test (not a
server: it is the witness that nothing at all was sent); the control runs the same command with the
password against the real coturn, which passes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from free_ports import bind_udp_and_tcp

from rtcdiag import exitcodes
from rtcdiag.coturn import RunningCoturn

NO_SECRETS = {"RTCDIAG_TURN_PASSWORD": "", "RTCDIAG_TURN_SECRET": "", "RTCDIAG_TURN_USERNAME": ""}


@pytest.fixture
def witness() -> Iterator[tuple[int, socket.socket, socket.socket]]:
    """A loopback port with a UDP socket and a TCP listener that only record what reaches them."""
    port, udp, tcp = bind_udp_and_tcp()
    tcp.listen(4)
    udp.setblocking(False)
    tcp.setblocking(False)
    try:
        yield port, udp, tcp
    finally:
        udp.close()
        tcp.close()


def _nothing_arrived(udp: socket.socket, tcp: socket.socket) -> bool:
    try:
        udp.recvfrom(2048)
    except BlockingIOError:
        pass
    else:
        return False
    try:
        tcp.accept()[0].close()
    except BlockingIOError:
        return True
    return False


def rtcdiag(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **NO_SECRETS, **(env or {})})


def _usage_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == exitcodes.USAGE, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("rtcdiag: warning:")]
    assert len(lines) == 1 and lines[0].startswith("rtcdiag: error: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize(("command", "extra", "env", "said"), [
    ("turn-check", ["-u", "alice"], {}, "-u alice without a password"),
    ("turn-check", [], {"RTCDIAG_TURN_USERNAME": "alice"},
     "$RTCDIAG_TURN_USERNAME (alice) without a password"),
    ("turn-check", ["--password-env", "PW"], {"PW": "x"}, "a password without a user name"),
    ("check", ["-u", "alice"], {}, "-u alice without a password"),
    ("ice", ["-u", "alice"], {}, "-u alice without a password"),
    ("browser", ["-u", "alice"], {}, "-u alice without a password"),
])
def test_command_line_half_credentials(witness: tuple[int, socket.socket, socket.socket], command: str,
                                       extra: list[str], env: dict[str, str], said: str) -> None:
    port, udp, tcp = witness
    line = _usage_line(rtcdiag(command, f"turn:127.0.0.1:{port}", *extra, "--timeout", "1", env=env))
    assert said in line
    assert "$RTCDIAG_TURN_PASSWORD" in line or "-u USER" in line  # how to fix it
    assert _nothing_arrived(udp, tcp)


def test_stun_only_targets_ignore_a_lone_user_name(witness: tuple[int, socket.socket, socket.socket]) -> None:
    """A user name that nothing would use (only stun: targets) is no error: $RTCDIAG_TURN_USERNAME may be
    exported for other runs."""
    port, _udp, _tcp = witness
    proc = rtcdiag("check", f"stun:127.0.0.1:{port}", "--checks", "stun", "--timeout", "0.3",
                   env={"RTCDIAG_TURN_USERNAME": "alice"})
    assert proc.returncode != exitcodes.USAGE, proc.stderr


def test_config_file_username_without_password(witness: tuple[int, socket.socket, socket.socket],
                                               tmp_path: Path) -> None:
    port, udp, tcp = witness
    config = tmp_path / "rtcdiag.toml"
    config.write_text(f'[[servers]]\nurls = ["turn:127.0.0.1:{port}"]\nusername = "alice"\n')
    line = _usage_line(rtcdiag("check", "--config", str(config), "--timeout", "1"))
    assert f"{config}: servers[0]: a user name without a password: add password_env" in line
    config.write_text(f'[[servers]]\nurls = ["turn:127.0.0.1:{port}"]\npassword_env = "PW"\n')
    line = _usage_line(rtcdiag("check", "--config", str(config), "--timeout", "1", env={"PW": "x"}))
    assert f"{config}: servers[0]: a password without a user name: add username" in line
    assert _nothing_arrived(udp, tcp)


@pytest.mark.parametrize("command", ["turn-check", "check", "ice"])
def test_ice_servers_username_without_credential(witness: tuple[int, socket.socket, socket.socket],
                                                 tmp_path: Path, command: str) -> None:
    port, udp, tcp = witness
    ice = tmp_path / "ice.json"
    ice.write_text(json.dumps({"iceServers": [{"urls": [f"stun:127.0.0.1:{port}"]},
                                              {"urls": [f"turn:127.0.0.1:{port}"], "username": "alice"}]}))
    args = ["--ice-servers", str(ice)] if command == "check" else [str(ice)]
    line = _usage_line(rtcdiag(command, *args, "--timeout", "1"))
    assert f"{ice}: iceServers[1]: a user name without a password ('credential' is missing)" in line
    assert _nothing_arrived(udp, tcp)


def test_control_with_the_password_passes(coturn: RunningCoturn) -> None:
    [(user, password)] = coturn.users.items()
    proc = rtcdiag("turn-check", f"turn:127.0.0.1:{coturn.port}", "-u", user, "--json",
                   env={"RTCDIAG_TURN_PASSWORD": password})
    assert proc.returncode == exitcodes.OK, proc.stdout
