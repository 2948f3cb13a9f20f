"""Real coturns on several loopback hosts, and a matrix of multi-server configurations over them with the
root causes each must give, written down here before any run (tests/integration/test_check_multi_server.py).

Hosts and ports (``Lab.hostport(name)``):

- 127.0.0.1 (and ::1 when the machine has IPv6): coturn *alpha* (user alice, realm alpha.test, TLS with a
  self-signed certificate): ``A`` (UDP+TCP), ``A-tls``, ``A6`` (the same port on ::1);
  ``dead1``: nothing listens (TCP reset, ICMP port unreachable); ``web``: a TCP listener that accepts and
  never answers (another service on the port), nothing on UDP.
- 127.0.0.2: coturn *beta* (bob, beta.test, TLS): ``B``, ``B-tls``; ``deadB``: nothing listens.
- 127.0.0.3: two coturns: *expiring* (carol; a certificate that expires in 5 days) ``C``, ``C-tls``, and
  *misnamed* (dave; a certificate for ``turn.other.example`` only, so TLS to 127.0.0.3 fails its name check)
  ``D``, ``D-tls``.
- 127.0.0.4: coturn *tcp-only* (erin, ``no-udp``) on ``U``, whose UDP port the lab holds open and silent
  (UDP dropped on the way: STUN over TCP on the same port answers); ``S``: another silent UDP port.

Every configuration is run by the real command (``rtcdiag check --config``, ``check --ice-servers``,
``turn-check FILE.json``) in a subprocess; the cells run concurrently and share the coturns.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from free_ports import bind_udp_and_tcp
from servers import HAVE_IPV6

from rtcdiag.coturn import CoturnOptions, RunningCoturn, start_coturn
from rtcdiag.targets import parse_uri

TOML = "check --config"
ICE = "check --ice-servers"
TURN_CHECK = "turn-check"
TIMEOUT_S = 3.0  # what a probe waits for a silent port; 1 s starves healthy ICE on a loaded 2-core box


@dataclass(frozen=True)
class Root:
    """One expected root cause: its id, the server entry it belongs to (its ``name`` in the cell), the lab
    port (a name of :meth:`Lab.hostport`, None when the finding names none) and the transport."""

    id: str
    entry: str
    port: str | None
    transport: str | None

    def __str__(self) -> str:
        where = "/".join(p for p in (self.transport, self.port) if p)
        return f"{self.id} {self.entry}{' ' + where if where else ''}"


@dataclass(frozen=True)
class Entry:
    """One server entry: ``[[servers]]`` of a TOML file, or one RTCIceServer entry of a JSON file.

    ``urls`` name lab ports in braces (``turn:{A}?transport=udp``); ``password`` names one of
    :attr:`Lab.passwords` (``alice``, ``wrong1``, ...)."""

    name: str
    urls: tuple[str, ...]
    user: str | None = None
    password: str | None = None
    realm: str | None = None
    expect_relay: bool = False
    ipv6: bool = False  # left out where the machine has no IPv6


@dataclass(frozen=True)
class Cell:
    name: str
    form: str  # TOML, ICE or TURN_CHECK
    entries: tuple[Entry, ...]
    roots: frozenset[Root]  # exactly these; nothing else may be a root cause
    exit_code: int


@dataclass
class Outcome:
    """What one run gave: the roots (same shape as :class:`Root`), every folding as (finding, root)
    pairs of (id, entry, port, transport), the report, the JUnit text, and the exit code."""

    cell: Cell
    exit_code: int
    roots: set[Root]
    folded: list[tuple[Root, Root]]
    report: dict[str, Any]
    junit: str
    output: str
    secrets: tuple[str, ...]  # the passwords the cell used: never in any output


@dataclass
class Lab:
    workdir: Path
    servers: dict[str, RunningCoturn]
    ports: dict[str, tuple[str, int]]  # name -> (host, port)
    passwords: dict[str, str]
    ca_bundle: Path
    pythonpath: str | None = None  # run another rtcdiag (a "before" measurement)
    held: list[socket.socket] = field(default_factory=list)

    def hostport(self, name: str) -> str:
        host, port = self.ports[name]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def url(self, template: str) -> str:
        return template.format_map({name: self.hostport(name) for name in self.ports})

    def port_name(self, host: str, port: int | None) -> str | None:
        if port is None:
            return None
        names = [n for n, (h, p) in self.ports.items() if h == host and p == port]
        return names[0] if names else str(port)


def _openssl_cert(workdir: Path, name: str, days: int, san: str) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is not installed")
    cert, key = workdir / f"{name}.pem", workdir / f"{name}.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", str(days), "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName={san}"], check=True, capture_output=True)
    return cert, key


def _silent_udp(host: str, port: int = 0) -> socket.socket:
    """A UDP socket that is bound and never read: datagrams to it vanish, no ICMP comes back."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    return sock


def _free_port(host: str) -> tuple[int, socket.socket]:
    """A port with nothing listening on UDP or TCP; the returned TCP socket is bound, never listening
    (connects to it are refused, and nobody else can take the port while it is held)."""
    port, udp, tcp = bind_udp_and_tcp(host)
    udp.close()
    return port, tcp


@contextmanager
def lab() -> Iterator[Lab]:
    """Start the coturns and the failing ports; stop and close everything at the end, even on failure."""
    workdir = Path(tempfile.mkdtemp(prefix="rtcdiag-multi-"))
    passwords = {name: f"{name}-{secrets.token_hex(8)}" for name in
                 ("alice", "bob", "carol", "dave", "erin", "wrong1", "wrong2")}
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, True)
        short_cert, short_key = _openssl_cert(workdir, "expiring", 5, "IP:127.0.0.3")
        other_cert, other_key = _openssl_cert(workdir, "misnamed", 365, "DNS:turn.other.example")

        alpha_ips = ("127.0.0.1", "::1") if HAVE_IPV6 else ("127.0.0.1",)
        specs: dict[str, dict[str, Any]] = {
            "alpha": {"listening_ips": alpha_ips, "users": {"alice": passwords["alice"]},
                      "realm": "alpha.test", "self_signed": True},
            "beta": {"listening_ips": ("127.0.0.2",), "users": {"bob": passwords["bob"]},
                     "realm": "beta.test", "self_signed": True},
            "expiring": {"listening_ips": ("127.0.0.3",), "users": {"carol": passwords["carol"]},
                         "realm": "gamma.test", "cert_file": short_cert, "key_file": short_key},
            "misnamed": {"listening_ips": ("127.0.0.3",), "users": {"dave": passwords["dave"]},
                         "realm": "gamma.test", "cert_file": other_cert, "key_file": other_key},
            "tcp-only": {"listening_ips": ("127.0.0.4",), "users": {"erin": passwords["erin"]},
                         "realm": "delta.test", "no_udp": True},
        }
        started: dict[str, RunningCoturn] = {}
        for name, spec in specs.items():  # from this thread: die_with_parent follows the starting thread
            started[name] = start_coturn(CoturnOptions(die_with_parent=True, **spec))
            stack.callback(started[name].stop)
        alpha, beta = started["alpha"], started["beta"]
        expiring, misnamed, tcp_only = started["expiring"], started["misnamed"], started["tcp-only"]
        held: list[socket.socket] = []
        stack.callback(lambda: [sock.close() for sock in held])
        held.append(_silent_udp("127.0.0.4", tcp_only.port))  # coturn has no UDP listener there
        silent = _silent_udp("127.0.0.4")
        held.append(silent)
        dead1, hold1 = _free_port("127.0.0.1")
        dead_b, hold_b = _free_port("127.0.0.2")
        web_port, web = _free_port("127.0.0.1")
        web.listen(64)  # the kernel accepts; nothing ever answers (another service on the port)
        held += [hold1, hold_b, web]
        assert alpha.tls_port and beta.tls_port and expiring.tls_port and misnamed.tls_port
        ports = {"A": ("127.0.0.1", alpha.port), "A-tls": ("127.0.0.1", alpha.tls_port),
                 "B": ("127.0.0.2", beta.port), "B-tls": ("127.0.0.2", beta.tls_port),
                 "C": ("127.0.0.3", expiring.port), "C-tls": ("127.0.0.3", expiring.tls_port),
                 "D": ("127.0.0.3", misnamed.port), "D-tls": ("127.0.0.3", misnamed.tls_port),
                 "U": ("127.0.0.4", tcp_only.port), "S": ("127.0.0.4", int(silent.getsockname()[1])),
                 "dead1": ("127.0.0.1", dead1), "deadB": ("127.0.0.2", dead_b),
                 "web": ("127.0.0.1", web_port)}
        if HAVE_IPV6:
            ports["A6"] = ("::1", alpha.port)
        bundle = workdir / "ca-bundle.pem"
        bundle.write_text("".join(Path(p).read_text() for p in (alpha.ca_cert, beta.ca_cert, short_cert,
                                                                   other_cert) if p is not None))
        yield Lab(workdir, started, ports, passwords, bundle, held=held)


# --- the matrix: expected roots written down before the run -------------------------------------------------

def _e(name: str, *urls: str, user: str | None = None, password: str | None = None, **more: Any) -> Entry:
    return Entry(name, urls, user, password, **more)


def _roots(*roots: tuple[str, str, str | None, str | None]) -> frozenset[Root]:
    return frozenset(Root(*r) for r in roots)


_GOOD_A = ("turn:{A}?transport=udp", "turn:{A}?transport=tcp", "turns:{A-tls}?transport=tcp")
_GOOD_B = ("turn:{B}?transport=udp", "turn:{B}?transport=tcp", "turns:{B-tls}?transport=tcp")

# 13 servers on 5 hosts (127.0.0.1-4 and ::1): healthy and broken side by side, several per host.
_BIG = (
    _e("a-good", *_GOOD_A, user="alice", password="alice", expect_relay=True),
    _e("a-dead", "turn:{dead1}?transport=tcp", user="alice", password="alice"),
    _e("a-badpw", "turn:{A}?transport=udp", user="alice", password="wrong1"),
    _e("a-web", "turn:{web}?transport=tcp", "turn:{web}?transport=udp", user="alice", password="alice"),
    _e("b-good", "turn:{B}?transport=udp", "turn:{B}?transport=tcp", user="bob", password="bob",
       expect_relay=True),
    _e("b-badrealm", "turn:{B}?transport=tcp", user="bob", password="wrong2", realm="elsewhere.test"),
    _e("b-deadtls", "turns:{deadB}?transport=tcp", user="bob", password="bob"),
    _e("c-exp", "turns:{C-tls}?transport=tcp", user="carol", password="carol"),
    _e("c-name", "turns:{D-tls}?transport=tcp", user="dave", password="dave"),
    _e("u-blocked", "turn:{U}?transport=udp", "turn:{U}?transport=tcp", user="erin", password="erin"),
    _e("u-silent", "stun:{S}"),
    _e("v6", "turn:{A6}?transport=udp", user="alice", password="alice", expect_relay=True, ipv6=True),
    _e("b-stun", "stun:{B}"),
)
_BIG_ROOTS = (("SERVER-REFUSED", "a-dead", "dead1", "tcp"), ("TURN-AUTH-401", "a-badpw", "A", "udp"),
              ("PORT-NOT-STUN", "a-web", "web", "tcp"), ("TURN-AUTH-401", "b-badrealm", "B", "tcp"),
              ("SERVER-REFUSED", "b-deadtls", "deadB", "tls"), ("TLS-EXPIRING-SOON", "c-exp", "C-tls", "tls"),
              ("TLS-HOSTNAME", "c-name", "D-tls", "tls"), ("UDP-BLOCKED", "u-blocked", "U", "udp"),
              ("SERVER-UNREACHABLE", "u-silent", "S", "udp"))


def _ice(entries: tuple[Entry, ...]) -> tuple[Entry, ...]:
    """The same servers as RTCIceServer entries (named by their place), without TOML-only keys."""
    return tuple(Entry(f"iceServers[{i}]", e.urls, e.user, e.password, ipv6=e.ipv6)
                 for i, e in enumerate(entries))


def _ice_roots(entries: tuple[Entry, ...], roots: tuple[tuple[str, str, str | None, str | None], ...],
               ) -> frozenset[Root]:
    index = {e.name: f"iceServers[{i}]" for i, e in enumerate(entries)}
    return frozenset(Root(fid, index[entry], port, transport) for fid, entry, port, transport in roots)


_SAME_HOST = (
    _e("good", *_GOOD_A, user="alice", password="alice", expect_relay=True),
    _e("dead", "turn:{dead1}?transport=tcp", user="alice", password="alice"),
    _e("badpw", "turn:{A}?transport=udp", user="alice", password="wrong1"),
    _e("badrealm", "turn:{A}?transport=tcp", user="zed", password="wrong2", realm="elsewhere.test"),
)
_SAME_HOST_ROOTS = (("SERVER-REFUSED", "dead", "dead1", "tcp"), ("TURN-AUTH-401", "badpw", "A", "udp"),
                    ("TURN-AUTH-401", "badrealm", "A", "tcp"))
_TLS = (_e("exp", "turns:{C-tls}?transport=tcp", user="carol", password="carol"),
        _e("badname", "turns:{D-tls}?transport=tcp", user="dave", password="dave"))
_TLS_ROOTS = (("TLS-EXPIRING-SOON", "exp", "C-tls", "tls"), ("TLS-HOSTNAME", "badname", "D-tls", "tls"))
_HEALTHY = (_e("alpha", *_GOOD_A, user="alice", password="alice", expect_relay=True),
            _e("beta", *_GOOD_B, user="bob", password="bob", expect_relay=True),
            _e("stun-c", "stun:{C}"),
            _e("v6", "turn:{A6}?transport=udp", user="alice", password="alice", ipv6=True))
_FAMILY = (_e("stun-tcp", "stun:{U}?transport=tcp"), _e("stun-udp", "stun:{S}"))

CELLS: tuple[Cell, ...] = (
    # A refused port of one entry never explains the 401 of another on the same host; two entries with
    # different wrong credentials (and realms) are two causes.
    Cell("same host: refused, two 401s, healthy", TOML, _SAME_HOST, _roots(*_SAME_HOST_ROOTS), 1),
    Cell("same host: refused, two 401s, healthy", ICE, _ice(_SAME_HOST),
         _ice_roots(_SAME_HOST, _SAME_HOST_ROOTS), 1),
    # TLS-EXPIRING-SOON of one port is its own cause beside TLS-HOSTNAME of another port of the host.
    Cell("one host, two TLS ports: expiring, misnamed", TOML, _TLS, _roots(*_TLS_ROOTS), 1),
    Cell("one host, two TLS ports: expiring, misnamed", ICE, _ice(_TLS), _ice_roots(_TLS, _TLS_ROOTS), 1),
    # UDP-BLOCKED only within one entry's port family: TCP on the same port answered. A browser (and the
    # ICE check) asks a stun: URL over UDP whatever its ?transport=: no srflx from stun:U over the dropped
    # UDP is that entry's own warning (added after the first run, which showed it; the tool was right).
    Cell("UDP silent: same port over TCP answers / another port", TOML,
         (_e("blocked", "turn:{U}?transport=udp", "turn:{U}?transport=tcp", user="erin", password="erin"),
          _e("other-port", "stun:{U}?transport=tcp", "stun:{S}")),
         _roots(("UDP-BLOCKED", "blocked", "U", "udp"), ("SERVER-UNREACHABLE", "other-port", "S", "udp"),
                ("ICE-NO-SRFLX", "other-port", "U", "udp")), 1),
    # The iceServers form keeps entries apart: STUN over TCP of one entry proves nothing about another.
    Cell("UDP silent: TCP answers in another entry", ICE, _ice(_FAMILY),
         _ice_roots(_FAMILY, (("SERVER-UNREACHABLE", "stun-udp", "S", "udp"),
                              ("ICE-NO-SRFLX", "stun-tcp", "U", "udp"))), 1),
    # EXPECT-RELAY with one relay working and one refused: folded under its own refused port, and the 401
    # of another entry on the same host and transport stays a root.
    Cell("expect_relay: one relay works, one refused", TOML,
         (_e("mixed", "turn:{A}?transport=udp", "turn:{dead1}?transport=tcp", user="alice", password="alice",
             expect_relay=True),
          _e("other401", "turn:{A}?transport=tcp", user="alice", password="wrong1")),
         _roots(("SERVER-REFUSED", "mixed", "dead1", "tcp"), ("TURN-AUTH-401", "other401", "A", "tcp")), 1),
    # EXPECT-RELAY folds under its own entry's 401, never under another entry's refused TLS port.
    Cell("expect_relay: own 401 beside another's refused TLS port", TOML,
         (_e("relay401", "turn:{B}?transport=udp", user="bob", password="wrong1", expect_relay=True),
          _e("deadtls", "turns:{deadB}?transport=tcp", user="bob", password="bob")),
         _roots(("TURN-AUTH-401", "relay401", "B", "udp"), ("SERVER-REFUSED", "deadtls", "deadB", "tls")), 1),
    # A port that speaks no STUN explains its own UDP refusal, not the 401 of another entry of the host.
    Cell("not STUN on one port, 401 on another entry", TOML,
         (_e("web", "turn:{web}?transport=tcp", "turn:{web}?transport=udp", user="alice", password="alice"),
          _e("good", "turn:{A}?transport=udp", user="alice", password="alice"),
          _e("badpw", "turn:{A}?transport=tcp", user="alice", password="wrong1")),
         _roots(("PORT-NOT-STUN", "web", "web", "tcp"), ("TURN-AUTH-401", "badpw", "A", "tcp")), 1),
    Cell("turn-check: 401 and refused on one host", TURN_CHECK,
         _ice((_e("ok", "turn:{A}?transport=udp", user="alice", password="alice"),
               _e("zed", "turn:{A}?transport=tcp", user="zed", password="wrong2"),
               _e("dead", "turn:{dead1}?transport=tcp", user="alice", password="alice"))),
         _roots(("TURN-AUTH-401", "iceServers[1]", "A", "tcp"),
                ("SERVER-REFUSED", "iceServers[2]", "dead1", "tcp")), 1),
    Cell("turn-check: two wrong passwords on one host", TURN_CHECK,
         _ice((_e("w1", "turn:{A}?transport=udp", user="alice", password="wrong1"),
               _e("w2", "turn:{A}?transport=tcp", user="bob", password="wrong2"))),
         _roots(("TURN-AUTH-401", "iceServers[0]", "A", "udp"),
                ("TURN-AUTH-401", "iceServers[1]", "A", "tcp")), 1),
    Cell("healthy: 3 hosts (+ ::1)", TOML, _HEALTHY, frozenset(), 0),
    Cell("healthy: 3 hosts (+ ::1)", ICE, _ice(_HEALTHY), frozenset(), 0),
    Cell("13 servers on 5 hosts", TOML, _BIG, _roots(*_BIG_ROOTS), 1),
    Cell("13 servers on 5 hosts", ICE, _ice(_BIG), _ice_roots(_BIG, _BIG_ROOTS), 1),
)


# --- running one cell --------------------------------------------------------------------------------------

def _toml_value(value: object) -> str:
    return json.dumps(value)  # a JSON string or list of strings is valid TOML


def _write(lab: Lab, cell: Cell, directory: Path, env: dict[str, str]) -> list[str]:
    entries = [e for e in cell.entries if HAVE_IPV6 or not e.ipv6]
    if cell.form == TOML:
        lines = [f"timeout = {TIMEOUT_S}", f"ca = {_toml_value(str(lab.ca_bundle))}"]
        for entry in entries:
            lines += ["", "[[servers]]", f"name = {_toml_value(entry.name)}",
                      f"urls = {_toml_value([lab.url(u) for u in entry.urls])}"]
            if entry.user:
                lines.append(f"username = {_toml_value(entry.user)}")
            if entry.password:
                var = f"RTCDIAG_MULTI_{entry.password.upper()}"
                env[var] = lab.passwords[entry.password]
                lines.append(f"password_env = {_toml_value(var)}")
            if entry.realm:
                lines.append(f"realm = {_toml_value(entry.realm)}")
            if entry.expect_relay:
                lines += ["[servers.expect]", "expect_relay = true"]
        config = directory / "rtcdiag.toml"
        config.write_text("\n".join(lines) + "\n")
        return ["check", "--config", str(config)]
    servers: list[dict[str, Any]] = []
    for entry in entries:
        server: dict[str, Any] = {"urls": [lab.url(u) for u in entry.urls]}
        if entry.user:
            server["username"] = entry.user
        if entry.password:
            server["credential"] = lab.passwords[entry.password]
        servers.append(server)
    ice = directory / "ice-servers.json"
    ice.write_text(json.dumps({"iceServers": servers}))
    ice.chmod(0o600)
    timeout = ["--timeout", str(TIMEOUT_S), "--ca", str(lab.ca_bundle)]
    if cell.form == ICE:
        return ["check", "--ice-servers", str(ice), *timeout]
    return ["turn-check", str(ice), *timeout]


def _entry_name(finding: Mapping[str, Any], cell: Cell, lab: Lab) -> str:
    """The cell's name of the server entry a finding belongs to: the JSON ``entry`` (a check label
    ``HOST (name)``, a plain ``HOST`` when the entry is alone on it, or ``FILE: iceServers[i]``), or, from
    an rtcdiag that has no ``entry`` (a "before" run), the subject label's ``(name)`` suffix."""
    text = finding.get("entry") or finding["subject"]
    if text.endswith(")") and " (" in text:
        return text[text.rindex(" (") + 2:-1]
    if ": iceServers[" in text:
        return text.rpartition(": ")[2]
    host = finding.get("host") or ""
    owners = [e.name for e in cell.entries if any(parse_uri(lab.url(u)).host == host for u in e.urls
                                                  if HAVE_IPV6 or not e.ipv6)]
    return owners[0] if len(owners) == 1 else text


def _as_root(finding: Mapping[str, Any], cell: Cell, lab: Lab) -> Root:
    return Root(finding["id"], _entry_name(finding, cell, lab), lab.port_name(finding.get("host") or "",
                                                                              finding.get("port")),
                finding.get("transport"))


def run_cell(lab: Lab, cell: Cell) -> Outcome:
    directory = Path(tempfile.mkdtemp(prefix="cell-", dir=lab.workdir))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    if lab.pythonpath is not None:
        env["PYTHONPATH"] = lab.pythonpath
    args = _write(lab, cell, directory, env)
    junit = directory / "report.xml"
    extra = ["--junit", str(junit)] if args[0] == "check" else []
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", *args, "--json", *extra], capture_output=True,
                          text=True, timeout=120, env=env)
    report = json.loads(proc.stdout)
    by_ref = {f["ref"]: f for f in report["findings"]}
    roots = {_as_root(by_ref[r["ref"]], cell, lab) for r in report["root_causes"]}
    folded = [(_as_root(f, cell, lab), _as_root(by_ref[f["explained_by"]], cell, lab))
              for f in report["findings"] if f.get("explained_by") in by_ref]
    used = tuple(lab.passwords[e.password] for e in cell.entries
                 if e.password is not None and (HAVE_IPV6 or not e.ipv6))
    return Outcome(cell, proc.returncode, roots, folded, report,
                   junit.read_text() if junit.exists() else "", proc.stdout + proc.stderr, used)


def run_all(lab: Lab, cells: tuple[Cell, ...] = CELLS, workers: int = 3) -> list[Outcome]:
    """Every cell, ``workers`` at a time (the coturns are shared; each cell has its own files)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda cell: run_cell(lab, cell), cells))
