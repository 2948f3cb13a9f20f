"""Packet loss on the router: ``tc netem`` when the kernel has it, else an nftables ``numgen random`` drop.

Either way every forwarded packet (both directions) is dropped independently with probability ``percent``.
"""

from __future__ import annotations

from rtcdiag.lab.shell import LabError, in_ns, run
from rtcdiag.lab.topology import ROUTER_LAN_IF, ROUTER_WAN_IF

LOSS_TABLE = "rtcdiag_loss"


def loss_ruleset(percent: float) -> str:
    """nft fallback: drop forwarded packets at random (per mille resolution)."""
    per_mille = round(percent * 10)
    return (f"table ip {LOSS_TABLE} {{\n\tchain forward {{\n"
            "\t\ttype filter hook forward priority filter - 10; policy accept;\n"
            f"\t\tnumgen random mod 1000 < {per_mille} drop\n\t}}\n}}\n")


def apply_loss(router_ns: str, percent: float) -> str:
    """Add loss on the router; returns the method used ("netem" or "nft")."""
    if not 0 < percent < 100:
        raise LabError(f"loss must be between 0 and 100 %, not {percent}")
    netem_ok = True
    for dev in (ROUTER_LAN_IF, ROUTER_WAN_IF):
        done = run(["ip", "netns", "exec", router_ns, "tc", "qdisc", "replace", "dev", dev, "root", "netem",
                    "loss", f"{percent}%"], check=False)
        if done.returncode != 0:
            netem_ok = False
            break
    if netem_ok:
        return "netem"
    for dev in (ROUTER_LAN_IF, ROUTER_WAN_IF):  # undo a half-applied netem
        run(["ip", "netns", "exec", router_ns, "tc", "qdisc", "del", "dev", dev, "root"], check=False)
    in_ns(router_ns, ["nft", "-f", "-"], stdin=loss_ruleset(percent))
    return "nft"
