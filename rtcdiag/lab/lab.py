"""Bring one lab instance up and down: namespaces, veth pairs, addresses, routes, nftables, loss, coturn.

A lab started by ``rtcdiag lab up`` outlives the command, so its state (namespaces, coturn PID and work
directory) is written to ``/run/rtcdiag-lab/<name>.json`` for ``lab down`` and ``lab status``.
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
    PUBLIC_IF,
    ROUTER_LAN_IF,
    ROUTER_WAN_1TO1_IP,
    ROUTER_WAN_IF,
    ROUTER_WAN_IP,
    STUN_ALT_PORT,
    STUN_ALTERNATE_IP,
    STUN_PORT,
    STUN_PRIMARY_IP,
    WAN_PREFIX,
    Topology,
)

if TYPE_CHECKING:
    from rtcdiag.coturn import RunningCoturn

STATE_DIR = Path("/run/rtcdiag-lab")
STOP_GRACE_S = 3.0


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


class Lab:
    """One emulated network. ``Lab.create(kind)`` brings it up; ``down()`` (or leaving the ``with``) removes
    everything it made, even after a partial start."""

    def __init__(self, topo: Topology, state: LabState) -> None:
        self.topo = topo
        self.state = state
        self._coturn: RunningCoturn | None = None  # when started in this process

    # --- construction -------------------------------------------------------------------------------

    @classmethod
    def create(cls, kind: NatKind, name: str | None = None, *, loss_percent: float = 0.0,
               stun: bool = True, udp_timeout_s: int | None = None, persist: bool = False) -> Lab:
        check_prerequisites()
        topo = Topology(kind, name or f"rtcd{os.getpid()}-{kind.value}")
        existing = set(list_namespaces())
        clash = [ns for ns in topo.namespaces if ns in existing]
        if clash:
            raise LabError(f"lab {topo.name} already exists ({', '.join(clash)}): "
                           f"run `rtcdiag lab down {topo.name}` first")
        lab = cls(topo, LabState(name=topo.name, kind=kind.value, udp_timeout_s=udp_timeout_s))
        try:
            lab._build()
            if loss_percent:
                lab.state.loss_method = apply_loss(topo.router_ns, loss_percent)
                lab.state.loss_percent = loss_percent
            if stun:
                lab._start_coturn(detach=persist)
            if persist:
                lab.save()
        except BaseException:
            lab.down()
            raise
        return lab

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
        for ip in (STUN_PRIMARY_IP, STUN_ALTERNATE_IP):
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
        if detach:  # ``lab up``: the server stays after this process exits; ``lab down`` stops it by PID
            self._coturn = None

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
            state = LabState(**data)
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
        elif self.state.coturn_pid is not None and not _stop_pid(self.state.coturn_pid):
            problems.append(f"coturn pid {self.state.coturn_pid} did not stop")
        if self.state.coturn_workdir:
            shutil.rmtree(self.state.coturn_workdir, ignore_errors=True)
        existing = set(list_namespaces())
        for ns in self.topo.namespaces:
            if ns in existing:
                run(["ip", "netns", "del", ns], check=False)
        left = set(list_namespaces()) & set(self.topo.namespaces)
        problems += [f"namespace {ns} still exists" for ns in sorted(left)]
        with contextlib.suppress(FileNotFoundError):
            (STATE_DIR / f"{self.topo.name}.json").unlink()
        return problems

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.down()


def _stop_pid(pid: int) -> bool:
    """SIGTERM then SIGKILL ``pid`` if it is still a turnserver (never someone else's reused PID)."""
    if not _is_turnserver(pid):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline:
        if not _is_turnserver(pid):
            return True
        _reap(pid)
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.05)
    _reap(pid)
    return not _is_turnserver(pid)


def _is_turnserver(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
    return b"turnserver" in cmdline and not zombie


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


