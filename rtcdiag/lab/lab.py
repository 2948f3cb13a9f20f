"""Bring one lab instance up and down: namespaces, veth pairs, addresses, routes, nftables, loss, coturn
(and, on request, ordinary single-address coturns and a Vovida stund).

A lab started by ``rtcdiag lab up`` outlives the command, so its state (namespaces, server PIDs and work
directories) is written to ``/run/rtcdiag-lab/<name>.json`` for ``lab down`` and ``lab status``: first
*before* anything is created (``complete`` false) and again after each server starts, so a ``lab up`` killed
at any point (even ``kill -9``) leaves a state file naming what may be left. ``remove_leftovers(name)``
removes everything of a lab by name: the servers running in its public namespace (turnserver and stund
only, by PID), the namespaces (the nft table lives in the router namespace and goes with it), the work
directories and the state file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from rtcdiag.lab import nft
from rtcdiag.lab.kinds import SPECS, NatKind
from rtcdiag.lab.loss import apply_loss
from rtcdiag.lab.shell import LabError, check_prerequisites, in_ns, ip_ns, list_namespaces, run
from rtcdiag.lab.topology import (
    CLIENT_IF,
    LAN_PREFIX,
    PLAIN_STUN,
    PUBLIC_IF,
    ROUTER_LAN_IF,
    ROUTER_WAN_1TO1_IP,
    ROUTER_WAN_IF,
    ROUTER_WAN_IP,
    STUN_ALT_PORT,
    STUN_ALTERNATE_IP,
    STUN_PORT,
    STUN_PRIMARY_IP,
    STUND_IPS,
    WAN_PREFIX,
    Topology,
)

if TYPE_CHECKING:
    from rtcdiag.coturn import RunningCoturn
    from rtcdiag.lab.stund import RunningStund

STATE_DIR = Path("/run/rtcdiag-lab")
STOP_GRACE_S = 3.0
SERVER_NAMES = (b"turnserver", b"stund")  # the only processes the lab starts (and so may stop)


@dataclass
class LabState:
    name: str
    kind: str
    loss_percent: float = 0.0
    loss_method: str = ""
    udp_timeout_s: int | None = None
    coturn_pid: int | None = None
    coturn_workdir: str | None = None
    started_at: float = field(default_factory=time.time)
    extra_pids: list[int] = field(default_factory=list)  # ordinary coturns and stund (plain_stun)
    extra_workdirs: list[str] = field(default_factory=list)
    plain_stun: bool = False
    complete: bool = False  # False until ``lab up`` finished: a False state file after it = leftovers


class Lab:
    """One emulated network. ``Lab.create(kind)`` brings it up; ``down()`` (or leaving the ``with``) removes
    everything it made, even after a partial start."""

    def __init__(self, topo: Topology, state: LabState) -> None:
        self.topo = topo
        self.state = state
        self._coturn: RunningCoturn | None = None  # when started in this process
        self._extra: list[RunningCoturn | RunningStund] = []  # plain servers started in this process
        self._persist = False

    # --- construction -------------------------------------------------------------------------------

    @classmethod
    def create(cls, kind: NatKind, name: str | None = None, *, loss_percent: float = 0.0,
               stun: bool = True, plain_stun: bool = False, udp_timeout_s: int | None = None,
               persist: bool = False) -> Lab:
        """Build the lab. ``plain_stun``: also the ordinary coturns (PLAIN_STUN) and stund (STUND_IPS).
        ``persist`` (``lab up``): the servers outlive this process and the state is saved; leftovers of an
        interrupted ``lab up`` of the same name are removed first."""
        check_prerequisites()
        topo = Topology(kind, name or f"rtcd{os.getpid()}-{kind.value}")
        if leftovers(topo.name):
            if not persist or _completed(topo.name):
                raise LabError(f"lab {topo.name} already exists: run `rtcdiag lab down {topo.name}` first")
            problems = remove_leftovers(topo.name)  # a `lab up` that was killed before it finished
            if problems:
                raise LabError(f"leftovers of lab {topo.name} could not be removed: {'; '.join(problems)}")
        lab = cls(topo, LabState(name=topo.name, kind=kind.value, udp_timeout_s=udp_timeout_s,
                                 plain_stun=plain_stun))
        lab._persist = persist
        try:
            lab._saved()  # before any resource exists: a kill from here on leaves a state file naming them
            lab._build()
            if loss_percent:
                lab.state.loss_method = apply_loss(topo.router_ns, loss_percent)
                lab.state.loss_percent = loss_percent
            if stun:
                lab._start_coturn(detach=persist)
            if plain_stun:
                lab._start_plain(detach=persist)
            lab.state.complete = True
            lab._saved()
        except BaseException:
            lab.down()
            raise
        return lab

    def _saved(self) -> None:
        if self._persist:
            self.save()

    def _build(self) -> None:
        t = self.topo
        spec = SPECS[t.kind]
        for ns in t.namespaces:
            run(["ip", "netns", "add", ns])
        # veth pairs created inside the router namespace: no name ever appears in the host namespace.
        ip_ns(t.router_ns, "link", "add", ROUTER_LAN_IF, "type", "veth", "peer", "name", CLIENT_IF,
              "netns", t.client_ns)
        ip_ns(t.router_ns, "link", "add", ROUTER_WAN_IF, "type", "veth", "peer", "name", PUBLIC_IF,
              "netns", t.public_ns)
        ip_ns(t.client_ns, "addr", "add", f"{t.client_ip}/{LAN_PREFIX}", "dev", CLIENT_IF)
        ip_ns(t.router_ns, "addr", "add", f"{t.router_lan_ip}/{LAN_PREFIX}", "dev", ROUTER_LAN_IF)
        ip_ns(t.router_ns, "addr", "add", f"{ROUTER_WAN_IP}/{WAN_PREFIX}", "dev", ROUTER_WAN_IF)
        if spec.one_to_one:
            ip_ns(t.router_ns, "addr", "add", f"{ROUTER_WAN_1TO1_IP}/{WAN_PREFIX}", "dev", ROUTER_WAN_IF)
        public_ips = [STUN_PRIMARY_IP, STUN_ALTERNATE_IP]
        if self.state.plain_stun:
            public_ips += [*dict.fromkeys(ip for ip, _ in PLAIN_STUN), *STUND_IPS]
        for ip in public_ips:
            ip_ns(t.public_ns, "addr", "add", f"{ip}/{WAN_PREFIX}", "dev", PUBLIC_IF)
        for ns, devs in ((t.client_ns, (CLIENT_IF,)), (t.router_ns, (ROUTER_LAN_IF, ROUTER_WAN_IF)),
                         (t.public_ns, (PUBLIC_IF,))):
            ip_ns(ns, "link", "set", "lo", "up")
            for dev in devs:
                ip_ns(ns, "link", "set", dev, "up")
        ip_ns(t.client_ns, "route", "add", "default", "via", t.router_lan_ip)
        if not spec.translates:  # routed client network: the "internet" must know the way back
            ip_ns(t.public_ns, "route", "add", f"{t.lan_net}/{LAN_PREFIX}", "via", ROUTER_WAN_IP)
        sysctls = ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.send_redirects=0",
                   f"net.ipv4.conf.{ROUTER_LAN_IF}.send_redirects=0"]
        if self.state.udp_timeout_s is not None:
            sysctls.append(f"net.netfilter.nf_conntrack_udp_timeout={self.state.udp_timeout_s}")
        in_ns(t.router_ns, ["sysctl", "-q", "-w", *sysctls])
        in_ns(t.router_ns, ["nft", "-f", "-"], stdin=nft.ruleset(t))

    def _start_coturn(self, *, detach: bool) -> None:
        from rtcdiag.coturn import CoturnOptions, start_coturn

        # Anonymous STUN/TURN reachable only inside the lab; two IPs + alt port = RFC 5780 support.
        opts = CoturnOptions(listening_ips=(STUN_PRIMARY_IP, STUN_ALTERNATE_IP), port=STUN_PORT,
                             alt_port=STUN_ALT_PORT, no_auth=True, realm="lab.rtcdiag.test",
                             netns=self.topo.public_ns, allow_loopback_peers=False)
        server = start_coturn(opts)
        self._coturn = server
        self.state.coturn_pid = server.pid
        self.state.coturn_workdir = str(server.workdir)
        self._saved()
        if detach:  # ``lab up``: the server stays after this process exits; ``lab down`` stops it by PID
            self._coturn = None

    def _start_plain(self, *, detach: bool) -> None:
        """Ordinary STUN servers: single-address coturns (RFC 5780 impossible) and a two-address stund."""
        from rtcdiag.coturn import CoturnOptions, start_coturn
        from rtcdiag.lab.stund import start_stund

        for ip, port in PLAIN_STUN:
            opts = CoturnOptions(listening_ips=(ip,), port=port, no_auth=True, realm="lab.rtcdiag.test",
                                 netns=self.topo.public_ns, allow_loopback_peers=False)
            self._keep(start_coturn(opts), detach=detach)
        stund = start_stund(*STUND_IPS, STUN_PORT, STUN_ALT_PORT, netns=self.topo.public_ns)
        self._keep(stund, detach=detach)

    def _keep(self, server: RunningCoturn | RunningStund, *, detach: bool) -> None:
        self.state.extra_pids.append(server.pid)
        self.state.extra_workdirs.append(str(server.workdir))
        self._saved()
        if not detach:
            self._extra.append(server)

    # --- use ----------------------------------------------------------------------------------------

    @property
    def stun_uri(self) -> str:
        return self.topo.stun_uri

    def exec(self, argv: list[str], *, timeout: float = 120.0, env: dict[str, str] | None = None,
             ns: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the client namespace (or ``ns``), capturing output; never raises on exit code."""
        return subprocess.run(["ip", "netns", "exec", ns or self.topo.client_ns, *argv], capture_output=True,
                              text=True, timeout=timeout, check=False, env=env)

    # --- state for ``rtcdiag lab`` --------------------------------------------------------------------

    def save(self) -> None:
        STATE_DIR.mkdir(mode=0o755, exist_ok=True)
        (STATE_DIR / f"{self.topo.name}.json").write_text(json.dumps(asdict(self.state), indent=1))

    @classmethod
    def load(cls, name: str) -> Lab:
        path = STATE_DIR / f"{name}.json"
        try:
            data = json.loads(path.read_text())
            known = set(LabState.__dataclass_fields__)
            data.setdefault("complete", True)  # written by an rtcdiag that had no such field: finished
            state = LabState(**{k: v for k, v in data.items() if k in known})
            topo = Topology(NatKind(state.kind), state.name)
        except FileNotFoundError:
            raise LabError(f"no lab named {name} is up (see `rtcdiag lab status`)") from None
        except (ValueError, TypeError) as exc:
            raise LabError(f"unreadable lab state {path}: {exc}") from None
        return cls(topo, state)

    @staticmethod
    def saved_names() -> list[str]:
        if not STATE_DIR.is_dir():
            return []
        return sorted(p.stem for p in STATE_DIR.glob("*.json"))

    # --- teardown -----------------------------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop coturn (by PID), delete the namespaces (their veths and nft tables go with them) and the
        state file. Returns what could not be removed (empty when clean)."""
        problems: list[str] = []
        server = self._coturn
        if server is not None:
            server.stop()
            self._coturn = None
        for extra in self._extra:
            extra.stop()
        self._extra = []
        pids = [self.state.coturn_pid] if self.state.coturn_pid is not None else []
        workdirs = [self.state.coturn_workdir] if self.state.coturn_workdir else []
        problems += _stop_servers([*pids, *self.state.extra_pids])
        _remove_workdirs([*workdirs, *self.state.extra_workdirs])
        problems += remove_leftovers(self.topo.name)
        return problems

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.down()


# --- leftovers by name (a `lab up` killed at any point) ---------------------------------------------------


def _namespaces_of(name: str) -> tuple[str, str, str]:
    return (f"{name}-client", f"{name}-router", f"{name}-public")


def _read_state(name: str) -> dict[str, object] | None:
    try:
        data = json.loads((STATE_DIR / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _completed(name: str) -> bool:
    data = _read_state(name)
    return bool(data and data.get("complete", True))  # a state file of an older rtcdiag: a finished lab


def leftovers(name: str) -> list[str]:
    """What exists of lab ``name``: its namespaces and state file (empty: nothing)."""
    existing = set(list_namespaces())
    found = [ns for ns in _namespaces_of(name) if ns in existing]
    if (STATE_DIR / f"{name}.json").exists():
        found.append(str(STATE_DIR / f"{name}.json"))
    return found


def remove_leftovers(name: str) -> list[str]:
    """Remove everything of lab ``name`` whatever state it is in: the servers the lab started (PIDs from the
    state file, and turnserver/stund processes inside its public namespace, which only the lab starts
    there), their work directories, the namespaces (with the router's nft table) and the state file.
    Returns what could not be removed."""
    problems: list[str] = []
    data = _read_state(name) or {}
    pids = [p for p in (data.get("coturn_pid"), *_ints(data.get("extra_pids"))) if isinstance(p, int)]
    public = f"{name}-public"
    existing = set(list_namespaces())
    if public in existing:
        pids += _pids_in_namespace(public)
    problems += _stop_servers(list(dict.fromkeys(pids)))
    workdirs = [w for w in (data.get("coturn_workdir"), *_strs(data.get("extra_workdirs")))
                if isinstance(w, str)]
    _remove_workdirs(workdirs)
    for ns in _namespaces_of(name):
        if ns in existing:
            run(["ip", "netns", "del", ns], check=False)
    left = set(list_namespaces()) & set(_namespaces_of(name))
    problems += [f"namespace {ns} still exists" for ns in sorted(left)]
    with contextlib.suppress(FileNotFoundError):
        (STATE_DIR / f"{name}.json").unlink()
    return problems


def _ints(value: object) -> list[int]:
    return [v for v in value if isinstance(v, int)] if isinstance(value, list) else []


def _strs(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _pids_in_namespace(ns: str) -> list[int]:
    """turnserver/stund processes in network namespace ``ns`` (``ip netns pids``)."""
    done = run(["ip", "netns", "pids", ns], check=False)
    pids = [int(word) for word in done.stdout.split() if word.isdigit()]
    return [pid for pid in pids if _is_server(pid)]


def _stop_servers(pids: list[int]) -> list[str]:
    return [f"server pid {pid} did not stop" for pid in pids if not _stop_pid(pid)]


def _remove_workdirs(paths: list[str]) -> None:
    for path in paths:
        # only the launchers' own temp dirs (rtcdiag-coturn-*, rtcdiag-stund-*), never a path from elsewhere
        if Path(path).name.startswith(("rtcdiag-coturn-", "rtcdiag-stund-")):
            shutil.rmtree(path, ignore_errors=True)


def _stop_pid(pid: int) -> bool:
    """SIGTERM then SIGKILL ``pid`` if it is still a lab server (never someone else's reused PID)."""
    if not _is_server(pid):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline:
        if not _is_server(pid):
            return True
        _reap(pid)
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.05)
    _reap(pid)
    return not _is_server(pid)


def _is_server(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
    # the server itself, or `ip netns exec NS /usr/bin/turnserver ...` in the instant before its exec
    names = {Path(arg.decode(errors="replace")).name.encode() for arg in cmdline.split(b"\0")[:6]}
    return bool(names & set(SERVER_NAMES)) and not zombie


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


