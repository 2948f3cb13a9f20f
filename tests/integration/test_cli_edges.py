"""Command-line edges as a user meets them, through the real entry point (a subprocess each).

Ambiguous or conflicting input is a usage error: exit 2, ONE line on stderr, nothing on stdout, and nothing
sent — proven by a UDP socket and a TCP listener on the target port that must receive nothing. Output files
that cannot be written are refused before the run; a write error at the end (a real full tmpfs, /dev/full)
is its own one line while the report still reaches stdout with the verdict's exit code.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from free_ports import bind_udp_and_tcp

from rtcdiag.coturn import CoturnOptions, RunningCoturn

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_")}


def rtcdiag(*args: str, env: dict[str, str] | None = None, stdout: int | None = None,
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], env={**CLEAN_ENV, **(env or {})},
                          stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60, check=False)


@dataclass
class Listener:
    """A UDP socket and a TCP listener on one loopback port: did anything arrive?"""

    port: int
    udp: socket.socket
    tcp: socket.socket

    def received(self) -> list[str]:
        got: list[str] = []
        with contextlib.suppress(BlockingIOError):
            while True:
                data, peer = self.udp.recvfrom(2048)
                got.append(f"udp {len(data)} bytes from {peer}")
        with contextlib.suppress(BlockingIOError):
            while True:
                conn, peer = self.tcp.accept()
                conn.close()
                got.append(f"tcp connection from {peer}")
        return got


@pytest.fixture
def listener() -> Iterator[Listener]:
    port, udp, tcp = bind_udp_and_tcp()
    tcp.listen(8)
    udp.setblocking(False)
    tcp.setblocking(False)
    try:
        yield Listener(port, udp, tcp)
    finally:
        udp.close()
        tcp.close()


def assert_usage_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    errors = [line for line in lines if line.startswith("rtcdiag: error: ")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


USAGE_CASES = {
    "ambiguous bare IPv6 with a port": (["stun", "::1:3478"], ["ambiguous", "[::1]:3478"]),
    "bare IPv6 with a port": (["stun", "::1:{port}"], ["[::1]:{port}"]),
    "ambiguous IPv6 for ports": (["ports", "::1:3478"], ["ambiguous", "[::1]:3478"]),
    "password and secret": (["turn-check", "127.0.0.1:{port}", "-u", "u", "--password-env", "PW",
                             "--secret-env", "SECRET"], ["--password-env and --secret-env"]),
    "empty --checks": (["check", "127.0.0.1:{port}", "--checks", ""], ["--checks"]),
    "unknown report suffix": (["stun", "127.0.0.1:{port}", "--report-file", "{tmp}/out.pdf"],
                              [".json, .md, .xml, .txt or .html"]),
    "junit in a missing folder": (["stun", "127.0.0.1:{port}", "--junit", "/no/such/dir/x.xml"],
                                  ["/no/such/dir"]),
    "report file is a folder": (["check", "127.0.0.1:{port}", "--report-file", "{tmp}"], ["is a directory"]),
    "turn-check --transport with only URIs": (["turn-check", "turn:127.0.0.1:{port}", "--transport", "tcp"],
                                              ["only apply to HOST[:PORT]", "is UDP"]),
    "stun -t with only URIs": (["stun", "stun:127.0.0.1:{port}", "-t", "tcp"],
                               ["only applies to HOST[:PORT]", "?transport=tcp"]),
    "turn-check of a STUN URI alone": (["turn-check", "stun:127.0.0.1:{port}"], ["rtcdiag stun"]),
}


@pytest.mark.parametrize("case", list(USAGE_CASES))
def test_usage_errors_are_one_line_and_send_nothing(case: str, listener: Listener, tmp_path: Path) -> None:
    args, needles = USAGE_CASES[case]

    def fill(text: str) -> str:
        return text.format(port=listener.port, tmp=tmp_path)

    proc = rtcdiag(*(fill(a) for a in args), env={"PW": "pw-x", "SECRET": "secret-x"})
    assert_usage_error(proc, *(fill(n) for n in needles))
    assert listener.received() == []


def test_empty_checks_in_the_config_file_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "rtcdiag.toml"
    config.write_text('checks = []\n[[servers]]\nurls = ["stun:127.0.0.1:9"]\n')
    assert_usage_error(rtcdiag("check", "--config", str(config)), "checks", "names no check")


def test_a_secret_pasted_into_password_env_is_never_echoed(listener: Listener) -> None:
    pasted = "hunter2-Sup3r/secret!"
    proc = rtcdiag("turn-check", f"127.0.0.1:{listener.port}", "-u", "u", "--password-env", pasted)
    line = assert_usage_error(proc, "--password-env takes the NAME")
    assert "hunter2" not in proc.stderr + proc.stdout and "hunter2" not in line
    assert listener.received() == []
    # A conventional variable name that is unset is named, so the user can fix the typo.
    proc = rtcdiag("turn-check", f"127.0.0.1:{listener.port}", "-u", "u", "--password-env", "TURN_PASWORD")
    assert_usage_error(proc, "TURN_PASWORD is not set")


@pytest.mark.parametrize("password", ["ab\x07cd", "tab\tinside", "line\nbreak"])
def test_a_control_character_in_the_password_is_a_usage_error_not_a_crash(password: str,
                                                                          listener: Listener) -> None:
    """RFC 8265 OpaqueString (FreeformClass) disallows controls, SASLprep prohibits them: exit 2, never 4."""
    proc = rtcdiag("turn-check", f"127.0.0.1:{listener.port}", "-u", "u",
                   env={"RTCDIAG_TURN_PASSWORD": password})
    line = assert_usage_error(proc, "the password", "U+00")
    assert password not in line
    assert listener.received() == []


def test_password_on_the_command_line_and_readable_password_file_warn(listener: Listener,
                                                                      tmp_path: Path) -> None:
    listener.tcp.close()  # a refused TCP port: a fast, real verdict (exit 1)
    proc = rtcdiag("turn-check", f"127.0.0.1:{listener.port}", "--transport", "tcp", "-u", "u",
                   "--password", "pw-on-argv")
    assert proc.returncode == 1, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("rtcdiag: warning: ")]
    assert len(warnings) == 1 and "--password on the command line" in warnings[0]
    assert "pw-on-argv" not in proc.stdout + proc.stderr
    pw_file = tmp_path / "pw"
    pw_file.write_text("pw-in-file\n")
    for mode, warned in ((0o644, "everyone"), (0o640, "its group"), (0o600, None)):
        pw_file.chmod(mode)
        proc = rtcdiag("turn-check", f"127.0.0.1:{listener.port}", "--transport", "tcp", "-u", "u",
                       "--password-file", str(pw_file))
        assert proc.returncode == 1, proc.stderr
        warnings = [line for line in proc.stderr.splitlines() if line.startswith("rtcdiag: warning: ")]
        if warned is None:
            assert warnings == []
        else:
            assert len(warnings) == 1, proc.stderr
            assert f"readable by {warned}" in warnings[0] and "chmod 600" in warnings[0]


# --- targets for `ports` ------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["127.0.0.1:{port}", "stun:127.0.0.1:{port}", "turn:127.0.0.1:{port}"])
def test_ports_takes_host_port_and_uris_as_targets(coturn: RunningCoturn, form: str) -> None:
    """Before: the whole string went to DNS (exit 1). Now the port (and the URI's transport) is probed."""
    proc = rtcdiag("ports", form.format(port=coturn.port), "--no-default-ports", "--timeout", "2", "--json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, (proc.stderr, report["findings"])
    probed = {(p["transport"], p["port"]): p for p in report["results"]["ports"]}
    wanted = {("udp", coturn.port)} if form.startswith(("stun:", "turn:")) else \
        {("udp", coturn.port), ("tcp", coturn.port)}
    assert set(probed) == wanted
    assert all(p["state"] == "open" for p in probed.values())
    assert probed[("udp", coturn.port)]["mapped_address"].startswith("127.0.0.1:")
    assert report["results"]["host"] == "127.0.0.1"


@pytest.fixture(scope="module")
def coturn(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> RunningCoturn:
    return coturn_factory(CoturnOptions(users={"alice": "alice-pw-edges"}))


# --- write errors at the end ----------------------------------------------------------------------------


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 16 KiB tmpfs, filled up: writing a report there fails with ENOSPC (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], check=True)
    try:
        with contextlib.suppress(OSError), (mount / "filler").open("wb") as filler:
            while True:
                filler.write(b"x" * 4096)
                filler.flush()
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_is_one_line_and_keeps_the_report_and_the_verdict(full_tmpfs: Path,
                                                                     coturn: RunningCoturn) -> None:
    junit = full_tmpfs / "out.xml"
    proc = rtcdiag("stun", f"127.0.0.1:{coturn.port}", "--json", "--junit", str(junit))
    report = json.loads(proc.stdout)  # the verdict's report still reached stdout
    assert report["status"] == "pass"
    errors = proc.stderr.splitlines()
    assert errors == [f"rtcdiag: error: cannot write {junit}: No space left on device"], proc.stderr
    assert proc.returncode == 2  # the verdict passed, but a requested file is missing
    assert not junit.exists()  # no truncated JUnit file left for CI to misread
    # A failing verdict keeps its own exit code.
    proc = rtcdiag("stun", "127.0.0.1:9", "--timeout", "0.3", "--json", "--junit", str(junit))
    assert json.loads(proc.stdout)["status"] == "fail"
    assert proc.returncode == 1 and proc.stderr.count("rtcdiag: error: cannot write") == 1


def test_stdout_on_a_full_device_is_one_line_not_an_internal_error(coturn: RunningCoturn) -> None:
    with open("/dev/full", "w") as full:
        proc = rtcdiag("stun", f"127.0.0.1:{coturn.port}", stdout=full.fileno())
        explain = rtcdiag("explain", "UDP-BLOCKED", stdout=full.fileno())
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == ["rtcdiag: error: cannot write the report to stdout: "
                                        "No space left on device"]
    assert explain.returncode == 2 and "internal error" not in explain.stderr
    assert explain.stderr.splitlines() == ["rtcdiag: error: cannot write the output: No space left on device"]
