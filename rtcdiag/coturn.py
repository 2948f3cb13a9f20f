"""Start a real coturn (``turnserver``) with a generated config, for tests, ``rtcdiag selftest`` and the lab.

Usage::

    with start_coturn(CoturnOptions(users={"alice": "pw"}, self_signed=True)) as server:
        server.host, server.port, server.tls_port, server.ca_cert

Everything lives in a private temp dir (config, certificate, log, user db) that is removed on ``stop()``.
The config file holds secrets (it is a 0600 temp file); nothing here prints them.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from rtcdiag import exitcodes
from rtcdiag.coturn_version import Version, ask_turnserver
from rtcdiag.errors import RtcdiagError
from rtcdiag.redact import mask, register_secret

MAGIC_COOKIE = 0x2112A442  # RFC 8489 §5
READY_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.02
STOP_GRACE_S = 3.0
_LOG_TAIL_LINES = 25

CoturnVersion = Version
ASSUMED_VERSION: CoturnVersion = (4, 6, 1)  # Debian 12's coturn: used when the version cannot be read
# coturn 4.7.0 (PR #1599, #1598): RFC 5780 off by default (needs `rfc5780`), `no-tlsv1`/`no-tlsv1_1` gone,
# SOFTWARE off by default (`software-attribute` turns it on; `no-software-attribute` deprecated).
V4_7: CoturnVersion = (4, 7, 0)


class CoturnError(RtcdiagError):
    """coturn could not be started (exit 3: nothing could be checked)."""

    exit_code = exitcodes.INCONCLUSIVE


class CoturnNotInstalled(CoturnError):
    """``turnserver`` is not on PATH (exit 2: a set-up problem)."""

    exit_code = exitcodes.USAGE


@dataclass
class CoturnOptions:
    """What the generated ``turnserver.conf`` says. Ports left at 0 are picked free at start."""

    listening_ips: tuple[str, ...] = ("127.0.0.1",)
    port: int = 0  # UDP and TCP listener
    tls_port: int = 0  # TLS (and DTLS) listener; only opened when a certificate is configured
    alt_port: int = 0  # RFC 5780 alternative port (coturn's default is port + 1); 0 = pick free
    alt_tls_port: int = 0
    realm: str = "rtcdiag.test"
    users: dict[str, str] = field(default_factory=dict)  # lt-cred-mech users name -> password
    static_auth_secret: str | None = None  # use-auth-secret (TURN REST API)
    no_auth: bool = False  # open relay (anonymous)
    user_quota: int | None = None
    total_quota: int | None = None
    allow_loopback_peers: bool = True
    denied_peer_ips: tuple[str, ...] = ()
    allowed_peer_ips: tuple[str, ...] = ()
    external_ip: str | None = None  # "public[/private]"
    relay_ips: tuple[str, ...] = ()
    min_relay_port: int | None = None
    max_relay_port: int | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    self_signed: bool = False  # generate a certificate for 127.0.0.1, ::1 and localhost
    cert_expired: bool = False  # with self_signed: a certificate that expired in 2020
    cert_hostnames: tuple[str, ...] = ("localhost",)
    fingerprint: bool = True
    no_cli: bool = True
    no_tlsv1: bool = True  # also no TLSv1.1
    no_udp: bool = False
    no_tcp: bool = False
    no_dtls: bool = True
    no_tcp_relay: bool = False  # refuse RFC 6062 TCP allocations (442)
    software_attribute: bool = True
    verbose: bool = False
    extra_lines: tuple[str, ...] = ()  # appended verbatim to the config
    netns: str | None = None  # run inside this network namespace (``ip netns exec``)
    # Kill coturn if the starting thread dies (a SIGKILLed test run leaves no server behind). Off by default:
    # ``rtcdiag lab up`` leaves its server running on purpose. Uses setpriv(1) when installed.
    die_with_parent: bool = False
    ready_timeout_s: float = READY_TIMEOUT_S
    version: CoturnVersion | None = None  # write the config for this coturn (None: ask the installed one)

    @property
    def has_tls(self) -> bool:
        return self.self_signed or self.cert_file is not None


@dataclass
class RunningCoturn:
    """A started coturn. Use as a context manager or call ``stop()``."""

    options: CoturnOptions
    process: subprocess.Popen[bytes]
    workdir: Path
    host: str  # first listening IP
    port: int
    tls_port: int | None
    alt_port: int
    alt_tls_port: int | None
    ca_cert: Path | None  # the self-signed certificate, usable as a CA file by clients
    config_path: Path
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def realm(self) -> str:
        return self.options.realm

    @property
    def users(self) -> dict[str, str]:
        return dict(self.options.users)

    @property
    def static_auth_secret(self) -> str | None:
        return self.options.static_auth_secret

    @property
    def listening_ips(self) -> tuple[str, ...]:
        return self.options.listening_ips

    def hostport(self, ip: str | None = None, tls: bool = False) -> str:
        """``ip:port`` (IPv6 bracketed) for a client target."""
        ip = ip or self.host
        port = self.tls_port if tls else self.port
        return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines of coturn's log, with registered secrets masked."""
        return mask(_tail(self.log_path, lines))

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period, by PID; then remove the temp dir. Idempotent."""
        _terminate(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RunningCoturn:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def turnserver_path() -> str:
    """Path of ``turnserver`` or a clear error telling how to install it."""
    path = shutil.which("turnserver")
    if path is None:
        raise CoturnNotInstalled("turnserver (coturn) is not installed: run `apt-get install coturn`")
    return path


@functools.cache
def installed_version(binary: str | None = None) -> CoturnVersion | None:
    """The installed coturn's version (rtcdiag.coturn_version.ask_turnserver), asked once per binary."""
    return ask_turnserver(binary or turnserver_path())[0]


def start_coturn(opts: CoturnOptions, attempts: int = 3) -> RunningCoturn:
    """Start coturn and return once it answers a STUN Binding request (bounded by ``ready_timeout_s``).

    Free ports are picked by binding port 0; if another process grabs one before coturn does, the start is
    retried with new ports (up to ``attempts`` times).
    """
    binary = turnserver_path()
    for secret in (*opts.users.values(), opts.static_auth_secret):
        register_secret(secret)
    last_error: CoturnError | None = None
    for _ in range(attempts):
        try:
            return _start_once(binary, opts)
        except _PortTaken as err:
            last_error = err
    assert last_error is not None
    raise last_error


class _PortTaken(CoturnError):
    pass


def _start_once(binary: str, opts: CoturnOptions) -> RunningCoturn:
    workdir = Path(tempfile.mkdtemp(prefix="rtcdiag-coturn-"))
    try:
        return _launch(binary, opts, workdir)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _launch(binary: str, opts: CoturnOptions, workdir: Path) -> RunningCoturn:
    ns = opts.netns
    ip = opts.listening_ips[0]
    taken: set[int] = set()
    port = opts.port or _free_port(ip, ns, taken)
    taken.add(port)
    alt_port = opts.alt_port or _free_port(ip, ns, taken)
    taken.add(alt_port)
    tls_port: int | None = None
    alt_tls_port: int | None = None
    ca_cert: Path | None = None
    cert, key = opts.cert_file, opts.key_file
    if opts.has_tls:
        tls_port = opts.tls_port or _free_port(ip, ns, taken)
        taken.add(tls_port)
        alt_tls_port = opts.alt_tls_port or _free_port(ip, ns, taken)
        if opts.self_signed:
            cert, key = make_self_signed_cert(workdir, expired=opts.cert_expired,
                                              hostnames=opts.cert_hostnames, ips=opts.listening_ips)
            ca_cert = cert
    log_path = workdir / "coturn.log"
    config_path = workdir / "turnserver.conf"
    version = opts.version or installed_version(binary) or ASSUMED_VERSION
    lines = _config_lines(opts, workdir, port, alt_port, tls_port, alt_tls_port, cert, key, version=version)
    fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")

    argv = [binary, "-c", str(config_path)]
    if ns:
        argv = ["ip", "netns", "exec", ns, *argv]
    setpriv = shutil.which("setpriv") if opts.die_with_parent else None
    if setpriv:
        argv = [setpriv, "--pdeathsig", "KILL", "--", *argv]  # survives the exec chain (no setuid)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=workdir, start_new_session=True)
    server = RunningCoturn(options=opts, process=process, workdir=workdir, host=ip, port=port,
                           tls_port=tls_port, alt_port=alt_port, alt_tls_port=alt_tls_port, ca_cert=ca_cert,
                           config_path=config_path, log_path=log_path)
    try:
        _wait_ready(server)
    except BaseException:
        _terminate(process)
        raise
    return server


def _config_lines(opts: CoturnOptions, workdir: Path, port: int, alt_port: int, tls_port: int | None,
                  alt_tls_port: int | None, cert: Path | None, key: Path | None, *,
                  version: CoturnVersion = ASSUMED_VERSION) -> list[str]:
    """The config lines for coturn ``version`` (see V4_7 for what changed in 4.7.0)."""
    new = version >= V4_7
    lines = [f"listening-ip={ip}" for ip in opts.listening_ips]
    lines += [f"listening-port={port}", f"alt-listening-port={alt_port}"]
    lines += [f"relay-ip={ip}" for ip in opts.relay_ips]
    if tls_port is not None and cert is not None and key is not None:
        lines += [f"tls-listening-port={tls_port}", f"alt-tls-listening-port={alt_tls_port}",
                  f"cert={cert}", f"pkey={key}"]
    else:
        lines += ["no-tls", "no-dtls"]
    lines.append(f"realm={opts.realm}")
    if opts.no_auth:
        lines.append("no-auth")
    elif opts.static_auth_secret is not None:
        lines += ["use-auth-secret", f"static-auth-secret={opts.static_auth_secret}"]
    else:
        lines.append("lt-cred-mech")
    lines += [f"user={name}:{password}" for name, password in opts.users.items()]
    flags = {
        "user-quota": opts.user_quota, "total-quota": opts.total_quota,
        "external-ip": opts.external_ip, "min-port": opts.min_relay_port, "max-port": opts.max_relay_port,
    }
    lines += [f"{name}={value}" for name, value in flags.items() if value is not None]
    lines += [f"denied-peer-ip={ip}" for ip in opts.denied_peer_ips]
    lines += [f"allowed-peer-ip={ip}" for ip in opts.allowed_peer_ips]
    switches = {
        "allow-loopback-peers": opts.allow_loopback_peers, "fingerprint": opts.fingerprint,
        "no-cli": opts.no_cli, "no-tlsv1": opts.no_tlsv1 and not new, "no-tlsv1_1": opts.no_tlsv1 and not new,
        "no-udp": opts.no_udp, "no-tcp": opts.no_tcp, "no-dtls": opts.no_dtls,
        "no-tcp-relay": opts.no_tcp_relay,
        "no-software-attribute": not opts.software_attribute and not new,
        "software-attribute": opts.software_attribute and new,
        # RFC 5780 (OTHER-ADDRESS, CHANGE-REQUEST) is off by default from 4.7.0; before, on with 2 addresses
        "rfc5780": new, "verbose": opts.verbose,
    }
    lines += [name for name, on in switches.items() if on]
    # Private state: own user db and pid file so parallel instances never share /var/lib/turn.
    lines += [f"userdb={workdir / 'turndb'}", f"pidfile={workdir / 'turnserver.pid'}",
              "log-file=stdout", "simple-log"]
    lines += list(opts.extra_lines)
    return lines


def make_self_signed_cert(workdir: Path, *, expired: bool = False,
                          hostnames: tuple[str, ...] = ("localhost",),
                          ips: tuple[str, ...] = ("127.0.0.1",)) -> tuple[Path, Path]:
    """Generate an EC P-256 self-signed certificate (SAN: ``hostnames``, ``ips``, 127.0.0.1, ::1).

    ``expired=True`` signs it with ``openssl ca -selfsign`` and explicit dates in 2020 (``openssl req``
    refuses non-positive ``-days``, and ``x509 -not_after`` needs OpenSSL >= 3.4).
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CoturnError("openssl is not installed: run `apt-get install openssl`")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    all_ips = dict.fromkeys((*ips, "127.0.0.1", "::1"))
    usable_ips = [ip for ip in all_ips if ip not in ("0.0.0.0", "::")]
    san = ",".join([*(f"DNS:{h}" for h in hostnames), *(f"IP:{ip}" for ip in usable_ips)])
    subject = f"/CN={hostnames[0] if hostnames else '127.0.0.1'}"
    key_args = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key)]
    if not expired:
        _run([openssl, "req", "-x509", *key_args, "-out", str(cert), "-days", "30", "-subj", subject,
              "-addext", f"subjectAltName={san}"], workdir)
        return cert, key
    csr = workdir / "cert.csr"
    _run([openssl, "req", "-new", *key_args, "-out", str(csr), "-subj", subject,
          "-addext", f"subjectAltName={san}", "-addext", "basicConstraints=critical,CA:TRUE"], workdir)
    cadir = workdir / "ca"
    cadir.mkdir()
    (cadir / "index.txt").write_text("")
    (cadir / "serial").write_text(secrets.token_hex(8) + "\n")
    (cadir / "ca.cnf").write_text(
        "[ca]\ndefault_ca = d\n[d]\n"
        f"database = {cadir / 'index.txt'}\nnew_certs_dir = {cadir}\nserial = {cadir / 'serial'}\n"
        "default_md = sha256\npolicy = p\ncopy_extensions = copy\nunique_subject = no\n"
        "[p]\ncommonName = supplied\n")
    _run([openssl, "ca", "-batch", "-config", str(cadir / "ca.cnf"), "-selfsign", "-keyfile", str(key),
          "-in", str(csr), "-out", str(cert), "-notext",
          "-startdate", "20200101000000Z", "-enddate", "20200102000000Z"], workdir)
    return cert, key


def _run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, check=False, timeout=30)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise CoturnError(f"{Path(argv[0]).name} {argv[1]} failed: {' | '.join(tail)}")


# --- readiness -------------------------------------------------------------------------------------------

def binding_request() -> tuple[bytes, bytes]:
    """A minimal RFC 8489 Binding request (no attributes) and its transaction id."""
    txid = secrets.token_bytes(12)
    return struct.pack("!HHI", 0x0001, 0, MAGIC_COOKIE) + txid, txid


def _is_binding_answer(data: bytes, txid: bytes) -> bool:
    """A Binding success or error response to ``txid``: coturn is listening (with ``secure-stun`` a Binding
    without credentials gets 401, RFC 8489 §10.1.2)."""
    return len(data) >= 20 and data[:2] in (b"\x01\x01", b"\x01\x11") and data[8:20] == txid


def _wait_ready(server: RunningCoturn) -> None:
    opts = server.options
    family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
    deadline = time.monotonic() + opts.ready_timeout_s
    use_udp = not opts.no_udp
    probe_port = server.port if not (opts.no_udp and opts.no_tcp) else (server.tls_port or server.port)
    while True:
        if server.process.poll() is not None:
            log = server.log_tail()
            if "Address already in use" in log or "Cannot bind" in log:
                raise _PortTaken(f"coturn could not bind its ports:\n{log}")
            raise CoturnError(f"coturn exited with code {server.process.returncode}:\n{log}")
        if time.monotonic() > deadline:
            raise CoturnError(f"coturn did not answer a STUN Binding on {server.host} port {probe_port} "
                              f"within {opts.ready_timeout_s:.1f} s:\n{server.log_tail()}")
        if use_udp and _udp_binding_ok(family, server.host, probe_port, opts.netns):
            return
        if not use_udp and not opts.no_tcp and _tcp_binding_ok(family, server.host, probe_port, opts.netns):
            return
        tls_only = not use_udp and opts.no_tcp  # an accepted TLS connection is good enough
        if tls_only and _tcp_connect_ok(family, server.host, probe_port, opts.netns):
            return


def _udp_binding_ok(family: int, host: str, port: int, netns: str | None) -> bool:
    request, txid = binding_request()
    with socket_in_netns(netns, family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(POLL_INTERVAL_S)
        try:
            sock.sendto(request, (host, port))
            end = time.monotonic() + POLL_INTERVAL_S
            while time.monotonic() < end:
                data = sock.recv(2048)
                if _is_binding_answer(data, txid):
                    return True
        except OSError:  # includes socket.timeout and ICMP port unreachable
            time.sleep(POLL_INTERVAL_S / 2)  # refused comes back at once: do not spin the CPU
            return False
    return False


def _tcp_binding_ok(family: int, host: str, port: int, netns: str | None) -> bool:
    request, txid = binding_request()
    with socket_in_netns(netns, family, socket.SOCK_STREAM) as sock:
        sock.settimeout(POLL_INTERVAL_S * 5)
        try:
            sock.connect((host, port))
            sock.sendall(request)
            data = b""
            while len(data) < 20:
                chunk = sock.recv(2048)
                if not chunk:
                    return False
                data += chunk
            return _is_binding_answer(data, txid)
        except OSError:
            time.sleep(POLL_INTERVAL_S / 2)
            return False


def _tcp_connect_ok(family: int, host: str, port: int, netns: str | None) -> bool:
    with socket_in_netns(netns, family, socket.SOCK_STREAM) as sock:
        sock.settimeout(POLL_INTERVAL_S * 5)
        try:
            sock.connect((host, port))
            return True
        except OSError:
            time.sleep(POLL_INTERVAL_S / 2)
            return False


# --- ports and namespaces -------------------------------------------------------------------------------

def _free_port(ip: str, netns: str | None, avoid: set[int]) -> int:
    """A port currently free for both UDP and TCP on ``ip`` (inside ``netns`` if given)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    for _ in range(50):
        with socket_in_netns(netns, family, socket.SOCK_DGRAM) as udp:
            udp.bind((ip, 0))
            port = int(udp.getsockname()[1])
            if port in avoid:
                continue
            with socket_in_netns(netns, family, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((ip, port))
                except OSError:
                    continue
                return port
    raise CoturnError(f"no free UDP+TCP port found on {ip}")


_CLONE_NEWNET = 0x40000000


@contextlib.contextmanager
def socket_in_netns(netns: str | None, family: int, kind: int) -> Iterator[socket.socket]:
    """A socket created inside network namespace ``netns`` (None: the current one).

    setns(2) is per thread, so a short-lived helper thread enters the namespace, creates the socket and ends;
    the socket stays in that namespace and is usable from any thread.
    """
    sock = socket.socket(family, kind) if netns is None else _create_in_netns(netns, family, kind)
    try:
        yield sock
    finally:
        sock.close()


def _create_in_netns(netns: str, family: int, kind: int) -> socket.socket:
    result: list[socket.socket | BaseException] = []

    def worker() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({netns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result.append(socket.socket(family, kind))
        except BaseException as exc:  # handed to the caller's thread
            result.append(exc)

    thread = threading.Thread(target=worker, name=f"netns-{netns}")
    thread.start()
    thread.join()
    value = result[0]
    if isinstance(value, BaseException):
        raise CoturnError(f"cannot open a socket in network namespace {netns}: {value}")
    return value


# --- process control ------------------------------------------------------------------------------------

def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_GRACE_S)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:])
