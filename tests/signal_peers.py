"""Real peers for the signalling tests, each a child process on loopback with its config in a temp dir, on
free ports, killed by PID at teardown: WebSocket echo servers (the ``websockets`` library,
tests/ws_echo_server.py), nginx (reverse proxy), haproxy (``timeout tunnel``), squid (forward proxy: CONNECT
only to the ``SSL_ports`` it is given, and ``ssl_bump`` with a CA the test makes) and tinyproxy.

Certificates come from the ``openssl`` command: a "server CA" signing the echo server's certificate for
127.0.0.1, and an "inspection CA" for squid's ssl_bump (named like no product, so that interception is told
by comparing chains, not by a name).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGES = {"nginx": "nginx", "haproxy": "haproxy", "squid": "squid-openssl", "tinyproxy": "tinyproxy",
            "openssl": "openssl"}


def missing() -> list[str]:
    """The Debian packages of the peers that are not installed."""
    return [pkg for binary, pkg in PACKAGES.items() if shutil.which(binary) is None and
            not Path(f"/usr/sbin/{binary}").exists()]


def wait_listening(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} does not listen on {port} after {timeout} s")


@dataclass
class Peers:
    """Every child process started, killed by PID at the end (SIGTERM, then SIGKILL)."""

    root: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self, argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True,  # type: ignore[call-overload]
                                **kwargs)
        self.procs.append(proc)
        return proc  # type: ignore[no-any-return]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3.0
        for proc in self.procs:
            try:
                proc.wait(max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(2)

    # --- certificates ---------------------------------------------------------------------------------

    def openssl(self, *args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=self.root)

    def make_ca(self, name: str, common_name: str) -> tuple[Path, Path]:
        key, cert = self.root / f"{name}.key", self.root / f"{name}.pem"
        self.openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                     "-days", "30", "-subj", f"/O=rtcdiag tests/CN={common_name}",
                     "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return cert, key

    def make_server_cert(self, ca: tuple[Path, Path], name: str = "server") -> tuple[Path, Path]:
        key, csr, cert = (self.root / f"{name}.key", self.root / f"{name}.csr", self.root / f"{name}.pem")
        ext = self.root / f"{name}.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                       "extendedKeyUsage=serverAuth\n")
        self.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                     str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
        self.openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
                     "-CAcreateserial", "-out", str(cert), "-days", "30", "-extfile", str(ext))
        return cert, key

    # --- WebSocket echo servers -------------------------------------------------------------------------

    def echo_servers(self, configs: dict[str, list[str]]) -> dict[str, int]:
        """Start one echo server per ``name -> extra args`` at once; their ports."""
        started = {name: self.spawn([sys.executable, str(HERE / "ws_echo_server.py"), *args],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                   for name, args in configs.items()}
        ports: dict[str, int] = {}
        for name, proc in started.items():
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            if not line.startswith("PORT "):
                raise RuntimeError(f"echo server {name} did not start: {line!r}")
            ports[name] = int(line.split()[1])
        return ports

    # --- nginx, haproxy, squid, tinyproxy --------------------------------------------------------------

    def nginx(self, port: int, backend: int, dead: int) -> Path:
        """nginx as a reverse proxy to ``backend`` (a ws echo server): /good (the Upgrade headers passed),
        /noupgrade (nginx's default: HTTP/1.0 to the backend, no Upgrade/Connection headers), /noheaders
        (HTTP/1.1 but without the two proxy_set_header lines), /short (proxy_read_timeout 3s),
        /static (answers 200 itself), /redirect (301), /dead (proxy_pass to a dead port: 502), /auth
        (auth_basic: 401). Returns its access log."""
        d = self.root / f"nginx-{port}"
        d.mkdir()
        (d / "htpasswd").write_text("someone:$apr1$abcdefgh$0123456789abcdefghijkl\n")
        upgrade = ("proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
                   "proxy_set_header Connection \"upgrade\";")
        conf = d / "nginx.conf"
        conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location /good {{ proxy_pass http://127.0.0.1:{backend}; {upgrade} }}
    location /noupgrade {{ proxy_pass http://127.0.0.1:{backend}; }}
    location /noheaders {{ proxy_pass http://127.0.0.1:{backend}; proxy_http_version 1.1; }}
    location /short {{ proxy_pass http://127.0.0.1:{backend}; {upgrade} proxy_read_timeout 3s; }}
    location /static {{ default_type text/plain; return 200 "hello from nginx\\n"; }}
    location /redirect {{ return 301 https://127.0.0.1/elsewhere; }}
    location /dead {{ proxy_pass http://127.0.0.1:{dead}; {upgrade} }}
    location /auth {{ auth_basic "signal"; auth_basic_user_file {d}/htpasswd;
                      proxy_pass http://127.0.0.1:{backend}; {upgrade} }}
  }}
}}
""")
        proc = self.spawn(["nginx", "-c", str(conf), "-p", str(d)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
        wait_listening(port, proc, "nginx")
        return d / "access.log"

    def haproxy(self, port: int, backend: int, tunnel_s: int) -> None:
        """haproxy in HTTP mode in front of ``backend``; an upgraded connection idle for ``tunnel_s`` is cut
        (``timeout tunnel``)."""
        conf = self.root / f"haproxy-{port}.cfg"
        conf.write_text(f"""
global
  maxconn 64
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout tunnel {tunnel_s}s
frontend fe
  bind 127.0.0.1:{port}
  default_backend be
backend be
  server s1 127.0.0.1:{backend}
""")
        proc = self.spawn(["haproxy", "-f", str(conf), "-db"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
        wait_listening(port, proc, "haproxy")

    def squid(self, *, plain: int, bump_upgrade: int, bump_no_upgrade: int, ssl_ports: int,
              inspection_ca: tuple[Path, Path], server_ca: Path) -> Path:
        """One squid with three ports: ``plain`` a forward proxy that opens CONNECT tunnels only to
        ``ssl_ports`` (its SSL_ports ACL: 443 in a real deployment; a free port here, as tests need not bind
        443), ``bump_upgrade`` and ``bump_no_upgrade`` ssl_bump ports (TLS interception with
        ``inspection_ca``) that pass, or not, WebSocket upgrades (http_upgrade_request_protocols: squid
        compares the protocol name as the client sends it, and browsers send ``websocket`` in lower case —
        ``WebSocket``, as in squid's documentation, matches nothing). Returns its access log."""
        d = self.root / "squid"
        d.mkdir()
        bundle = d / "inspection-ca.pem"
        bundle.write_text(inspection_ca[0].read_text() + inspection_ca[1].read_text())
        subprocess.run(["/usr/lib/squid/security_file_certgen", "-c", "-s", str(d / "ssldb"), "-M", "4MB"],
                       check=True, capture_output=True)
        for path in (d, *d.rglob("*")):
            shutil.chown(path, "proxy", "proxy")
        conf = d / "squid.conf"
        bump = f"ssl-bump tls-cert={bundle} generate-host-certificates=on dynamic_cert_mem_cache_size=4MB"
        conf.write_text(f"""
http_port 127.0.0.1:{plain} name=plain
http_port 127.0.0.1:{bump_upgrade} name=bumpup {bump}
http_port 127.0.0.1:{bump_no_upgrade} name=bumpno {bump}
sslcrtd_program /usr/lib/squid/security_file_certgen -s {d}/ssldb -M 4MB
sslcrtd_children 2 startup=1 idle=1
tls_outgoing_options cafile={server_ca}
acl step1 at_step SslBump1
ssl_bump peek step1
ssl_bump bump all
acl plainport myportname plain
acl bumpup myportname bumpup
acl SSL_ports port {ssl_ports}
acl CONNECT method CONNECT
http_upgrade_request_protocols websocket allow bumpup
http_upgrade_request_protocols websocket deny all
http_access deny CONNECT plainport !SSL_ports
http_access allow all
cache deny all
cache_mem 8 MB
pid_filename {d}/squid.pid
access_log stdio:{d}/access.log
buffered_logs off
cache_log {d}/cache.log
coredump_dir {d}
cache_effective_user proxy
visible_hostname rtcdiag-test
shutdown_lifetime 0 seconds
""")
        with (d / "stderr.log").open("wb") as err:
            proc = self.spawn(["squid", "-N", "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=err)
        for port in (plain, bump_upgrade, bump_no_upgrade):
            wait_listening(port, proc, "squid", timeout=20.0)
        return d / "access.log"

    def tinyproxy(self, port: int, connect_port: int, auth: tuple[str, str] | None = None) -> Path:
        """tinyproxy opening CONNECT tunnels only to ``connect_port`` (ConnectPort), optionally with Basic
        authentication. Returns its log."""
        d = self.root / f"tinyproxy-{port}"
        d.mkdir()
        shutil.chown(d, "nobody", "nogroup")
        conf = d / "tinyproxy.conf"
        lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 30", "MaxClients 16", "User nobody",
                 "Group nogroup", f"ConnectPort {connect_port}", "Allow 127.0.0.1", "LogLevel Info",
                 f"LogFile \"{d}/tinyproxy.log\"", f"PidFile \"{d}/tinyproxy.pid\""]
        if auth is not None:
            lines.append(f"BasicAuth {auth[0]} {auth[1]}")
        conf.write_text("\n".join(lines) + "\n")
        proc = self.spawn(["tinyproxy", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
        wait_listening(port, proc, "tinyproxy")
        return d / "tinyproxy.log"


@contextlib.contextmanager
def peers(root: Path) -> Iterator[Peers]:
    started = Peers(root)
    try:
        yield started
    finally:
        started.stop()
