"""`rtcdiag ports` against hostile peers written here, byte by byte, on loopback:

- a TCP port that accepts connections but speaks no STUN (silent, or an SSH banner), with UDP on the same
  port silent or refused: ONE root cause, PORT-NOT-STUN, and never UDP-BLOCKED (a TCP accept is not a STUN
  answer); the same for a TLS port whose handshake works but which answers no STUN inside TLS;
- a UDP STUN server whose Binding success carries a 3-byte XOR-MAPPED-ADDRESS (RFC 8489 §14.2 needs 8 or
  20): this used to end `rtcdiag ports` with exit 4 and no report. Now the port is reported as open with
  MALFORMED-REPLY (exit 1) and the raw attribute kept; and if a port's probe does crash (the old code path,
  put back for the test), that port gets INTERNAL-ERROR (exit 4) while the other ports are still reported.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rtcdiag.coturn import RunningCoturn
from rtcdiag.report import json_report

TIMEOUT = "0.5"
MAGIC_COOKIE = 0x2112A442
BINDING_SUCCESS = 0x0101
XOR_MAPPED_ADDRESS = 0x0020
SSH_BANNER = b"SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n"


@dataclass
class Listener:
    port: int
    received: list[bytes] = field(default_factory=list)  # what the peer got (TCP chunks / UDP datagrams)


def _serve_tcp(sock: socket.socket, stop: threading.Event, banner: bytes, got: list[bytes],
               tls: ssl.SSLContext | None = None) -> None:
    sock.settimeout(0.05)
    conns: list[socket.socket] = []
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):  # OSError: a TLS handshake the client dropped
                conn, _ = sock.accept()
                if tls is not None:
                    conn.settimeout(2.0)
                    conn = tls.wrap_socket(conn, server_side=True)
                conn.settimeout(0.05)
                if banner:
                    conn.sendall(banner)
                conns.append(conn)
            for conn in conns:
                with contextlib.suppress(TimeoutError, OSError):
                    data = conn.recv(4096)
                    if data:
                        got.append(data)  # read and ignored: this service does not speak STUN
    finally:
        for conn in conns:
            conn.close()
        sock.close()


def _serve_udp(sock: socket.socket, stop: threading.Event, reply: bool, got: list[bytes]) -> None:
    sock.settimeout(0.05)
    try:
        while not stop.is_set():
            try:
                data, source = sock.recvfrom(2048)
            except TimeoutError:
                continue
            got.append(data)
            if reply and len(data) >= 20:
                sock.sendto(short_mapped_address_reply(data[8:20]), source)
    finally:
        sock.close()


def short_mapped_address_reply(txid: bytes) -> bytes:
    """A Binding success response whose only attribute is a 3-byte XOR-MAPPED-ADDRESS (00 01 12 + 1 pad)."""
    attribute = struct.pack("!HH", XOR_MAPPED_ADDRESS, 3) + b"\x00\x01\x12" + b"\x00"
    return struct.pack("!HHI", BINDING_SUCCESS, len(attribute), MAGIC_COOKIE) + txid + attribute


@contextlib.contextmanager
def listener(*, tcp_banner: bytes | None = None, udp: str = "none",
             tls: ssl.SSLContext | None = None) -> Iterator[Listener]:
    """TCP listener (accepts; sends ``tcp_banner`` if given; never answers STUN) when ``tcp_banner`` is not
    None; ``udp``: "none" (nothing bound: ICMP port unreachable), "silent" (bound, never answers) or
    "short-mapped" (answers every request with :func:`short_mapped_address_reply`). With ``tls`` the TCP
    listener does a TLS handshake first (and then still answers no STUN)."""
    stop = threading.Event()
    threads: list[threading.Thread] = []
    got: list[bytes] = []
    for _ in range(50):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(("127.0.0.1", port))
        except OSError:
            tcp.close()
            probe.close()
            continue
        break
    else:
        pytest.fail("no free loopback port")
    try:
        if tcp_banner is not None:
            tcp.listen(8)
            threads.append(threading.Thread(target=_serve_tcp, args=(tcp, stop, tcp_banner, got, tls),
                                            daemon=True))
        else:
            tcp.close()
        if udp == "none":
            probe.close()
        else:
            threads.append(threading.Thread(target=_serve_udp, args=(probe, stop, udp == "short-mapped", got),
                                            daemon=True))
        for thread in threads:
            thread.start()
        yield Listener(port, got)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=2)
        with contextlib.suppress(OSError):
            tcp.close()
        with contextlib.suppress(OSError):
            probe.close()


def run_json(*args: str, code: str | None = None) -> tuple[int, dict[str, Any]]:
    argv = [sys.executable, "-m", "rtcdiag"] if code is None else [sys.executable, "-c", code]
    proc = subprocess.run([*argv, "ports", "127.0.0.1", "--no-default-ports", *args, "--timeout", TIMEOUT,
                           "--json"], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(json_report.load_schema()).validate(report)
    assert report["exit_code"] == proc.returncode
    return proc.returncode, report


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


@pytest.mark.parametrize("banner", [b"", SSH_BANNER], ids=["silent", "ssh-banner"])
@pytest.mark.parametrize("udp", ["silent", "none"])
def test_tcp_accept_without_stun_is_one_root_cause_port_not_stun(banner: bytes, udp: str) -> None:
    with listener(tcp_banner=banner, udp=udp) as peer:
        code, report = run_json("--ports", f"udp:{peer.port},tcp:{peer.port}")
        assert any(chunk[4:8] == struct.pack("!I", MAGIC_COOKIE) for chunk in peer.received)  # STUN was sent
    ports = {f"{p['transport']}:{p['port']}": p for p in report["results"]["ports"]}
    assert ports[f"tcp:{peer.port}"]["state"] == "open" and ports[f"tcp:{peer.port}"]["stun"] == "no-answer"
    assert ports[f"udp:{peer.port}"]["state"] == ("timeout" if udp == "silent" else "closed")
    ids = sorted(f["id"] for f in report["findings"])
    assert "UDP-BLOCKED" not in ids
    assert ids == sorted(["PORT-NOT-STUN", "SERVER-UNREACHABLE" if udp == "silent" else "SERVER-REFUSED"])
    (root,) = report["root_causes"]
    assert root["id"] == "PORT-NOT-STUN"
    assert root["title"] == f"Not a STUN/TURN server on TCP port {peer.port}"
    udp_finding = next(f for f in report["findings"] if f["transport"] == "udp")
    assert udp_finding["explained_by"] == root["ref"] and root["explains"] == [udp_finding["ref"]]
    not_stun = next(f for f in report["findings"] if f["id"] == "PORT-NOT-STUN")
    assert (not_stun["severity"], not_stun["subject"], not_stun["port"]) == ("error", "ports:127.0.0.1",
                                                                              peer.port)
    cases = by_name(report)
    assert cases[f"tcp/{peer.port}"]["status"] == "fail"
    assert cases[f"tcp/{peer.port}"]["finding_ids"] == ["PORT-NOT-STUN"]
    assert code == 1


@pytest.fixture(scope="module")
def tls_server_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1 (openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    workdir: Path = tmp_path_factory.mktemp("not-stun-tls")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_tls_handshake_without_stun_inside_is_port_not_stun(tls_server_context: ssl.SSLContext) -> None:
    with listener(tcp_banner=b"", udp="silent", tls=tls_server_context) as peer:
        code, report = run_json("--ports", f"udp:{peer.port},tls:{peer.port}", "--insecure")
        assert any(chunk[4:8] == struct.pack("!I", MAGIC_COOKIE) for chunk in peer.received)  # inside TLS
    ports = {f"{p['transport']}:{p['port']}": p for p in report["results"]["ports"]}
    tls = ports[f"tls:{peer.port}"]
    assert (tls["state"], tls["stun"], tls["tls"]["handshake_ok"]) == ("open", "no-answer", True)
    assert "UDP-BLOCKED" not in [f["id"] for f in report["findings"]]
    (root,) = report["root_causes"]
    assert root["id"] == "PORT-NOT-STUN"
    assert root["title"] == f"Not a STUN/TURN server on TLS port {peer.port}"
    # The UDP silence on that port is folded under it (no ALPN stun.turn is only noted: info).
    ids = sorted(f["id"] for f in report["findings"])
    assert ids == ["PORT-NOT-STUN", "SERVER-UNREACHABLE", "TLS-CERT-IGNORED", "TLS-NO-ALPN"]
    udp = next(f for f in report["findings"] if f["id"] == "SERVER-UNREACHABLE")
    assert udp["transport"] == "udp" and udp["explained_by"] == root["ref"]
    assert code == 1


def test_short_xor_mapped_address_is_malformed_reply_with_a_complete_report(coturn: RunningCoturn) -> None:
    with listener(udp="short-mapped") as peer:
        code, report = run_json("--ports", f"udp:{peer.port},udp:{coturn.port},tcp:{coturn.port}")
    ports = {f"{p['transport']}:{p['port']}": p for p in report["results"]["ports"]}
    bad = ports[f"udp:{peer.port}"]
    assert (bad["state"], bad["stun"], bad["mapped_address"]) == ("open", "answered", None)
    assert "XOR-MAPPED-ADDRESS" in bad["malformed"]
    (raw,) = [a for a in bad["exchange"]["response_attributes"] if a["name"] == "XOR-MAPPED-ADDRESS"]
    assert raw["raw_hex"] == "000112" and raw["value"].startswith("malformed")
    # The rest of the run is complete: the healthy coturn ports are probed, judged and tabled.
    assert ports[f"udp:{coturn.port}"]["mapped_address"].startswith("127.0.0.1:")
    cases = by_name(report)
    assert cases[f"udp/{coturn.port}"]["status"] == cases[f"tcp/{coturn.port}"]["status"] == "pass"
    assert cases[f"udp/{peer.port}"]["status"] == "fail"
    assert cases[f"udp/{peer.port}"]["finding_ids"] == ["MALFORMED-REPLY"]
    assert [r["id"] for r in report["root_causes"]] == ["MALFORMED-REPLY"]
    assert any(t["title"].startswith("Ports on 127.0.0.1") for t in report["tables"])
    assert code == 1


# The code path before the fix: the reply's XOR-MAPPED-ADDRESS read with get_as, which raises for a
# malformed attribute. Put back in a real CLI run to show what a probe crash now costs: one port, not the run.
OLD_RECORD_REPLY = """
import sys
from rtcdiag.probes import reach
from rtcdiag.protocol.attributes import Address
from rtcdiag.protocol.constants import AttrType

def old_record_reply(result, reply, exchange):
    result.exchange = exchange
    if reply is not None:
        mapped = reply.get_as(AttrType.XOR_MAPPED_ADDRESS, Address)
        result.mapped_address = str(mapped) if mapped is not None else None

reach._record_reply = old_record_reply
from rtcdiag.cli import main
sys.argv = ["rtcdiag", *sys.argv[1:]]
main()
"""


def test_a_crashing_port_probe_is_internal_error_and_the_rest_is_reported(coturn: RunningCoturn) -> None:
    with listener(udp="short-mapped") as peer:
        code, report = run_json("--ports", f"udp:{peer.port},udp:{coturn.port}", code=OLD_RECORD_REPLY)
    internal = [f for f in report["findings"] if f["id"] == "INTERNAL-ERROR"]
    assert len(internal) == 1
    assert (internal[0]["step"], internal[0]["transport"], internal[0]["port"]) == (str(peer.port), "udp",
                                                                                    peer.port)
    assert "StunParseError" in internal[0]["symptom"] and "XOR-MAPPED-ADDRESS" in internal[0]["symptom"]
    cases = by_name(report)
    assert cases[f"udp/{peer.port}"]["status"] == "fail"
    assert cases[f"udp/{coturn.port}"]["status"] == "pass"  # the other port is still probed and reported
    ports = {f"{p['transport']}:{p['port']}": p for p in report["results"]["ports"]}
    assert ports[f"udp:{coturn.port}"]["state"] == "open"
    assert "StunParseError" in ports[f"udp:{peer.port}"]["internal_error"]
    assert code == 4
