"""``rtcdiag lab up|down|status``: an emulated NAT in network namespaces, for testing your own app (root)."""

from __future__ import annotations

import click

from rtcdiag import exitcodes

KINDS = ["open", "full-cone", "restricted-cone", "port-restricted", "symmetric", "udp-blocked",
         "udp-firewall"]


def _default_name(kind: str) -> str:
    return f"rtcdlab-{kind}"


@click.group(name="lab", epilog=exitcodes.epilog(
    "sudo rtcdiag lab up symmetric --loss 5",
    "sudo rtcdiag lab status",
    "sudo rtcdiag lab down --all"))
def command() -> None:
    """Bring up or down an emulated NAT: namespaces NAME-client, NAME-router, NAME-public, nftables on the
    router, and a two-address coturn (203.0.113.10 / .11, port 3478, alternate 3479) in the public one.

    Run your app behind the NAT with `ip netns exec NAME-client <app>`. Needs root, ip and nft.
    """


@command.command(name="up")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--name", help="Lab name (default rtcdlab-KIND); namespaces are NAME-client/-router/-public.")
@click.option("--loss", type=click.FloatRange(0, 99), default=0.0, show_default=True,
              help="Random packet loss on the router, percent (tc netem, or nftables when netem is missing).")
@click.option("--udp-timeout", type=click.IntRange(1, 3600), default=None,
              help="Router conntrack UDP timeout in seconds (the NAT mapping lifetime; Linux default 30).")
@click.option("--no-stun", is_flag=True, help="Do not start STUN servers in the public namespace.")
def up(kind: str, name: str | None, loss: float, udp_timeout: int | None, no_stun: bool) -> int:
    """Create the lab for KIND and leave it running (until `rtcdiag lab down`). Leftovers of an earlier
    `lab up NAME` that was killed before it finished are removed first."""
    from rtcdiag.lab.kinds import SPECS, NatKind
    from rtcdiag.lab.lab import Lab

    lab = Lab.create(NatKind(kind), name or _default_name(kind), loss_percent=loss, stun=not no_stun,
                     plain_stun=not no_stun, udp_timeout_s=udp_timeout, persist=True)
    t = lab.topo
    click.echo(f"lab {t.name} is up: {SPECS[t.kind].description}")
    click.echo(f"  client {t.client_ns}: {t.client_ip} (appears as {t.client_public_ip})")
    loss_text = f", {loss:g} % loss ({lab.state.loss_method})" if loss else ""
    click.echo(f"  router {t.router_ns}: nft table rtcdiag_lab{loss_text}")
    if not no_stun:
        click.echo(f"  public {t.public_ns}: coturn (pid {lab.state.coturn_pid}) at {lab.stun_uri}, "
                   "other address 203.0.113.11:3479, anonymous")
        click.echo(f"  ordinary STUN servers (no RFC 5780): {', '.join(t.plain_stun_uris)} (coturn); "
                   f"stund (RFC 3489) at {t.stund_uri}")
    click.echo(f"try: ip netns exec {t.client_ns} rtcdiag nat-type --server {lab.stun_uri}")
    click.echo(f"stop: rtcdiag lab down {t.name}")
    return exitcodes.OK


@command.command(name="down")
@click.argument("name_or_kind", required=False)
@click.option("--all", "all_labs", is_flag=True, help="Take down every lab started by `rtcdiag lab up`.")
def down(name_or_kind: str | None, all_labs: bool) -> int:
    """Remove a lab (NAME, or KIND for the default name): its servers, namespaces, rules — also what a killed
    `lab up` left behind (found by name: NAME-client/-router/-public and the servers in NAME-public)."""
    from rtcdiag.errors import UsageError
    from rtcdiag.lab.lab import Lab, leftovers, remove_leftovers
    from rtcdiag.lab.shell import LabError, check_prerequisites

    check_prerequisites()
    if all_labs:
        names = Lab.saved_names()
    elif name_or_kind:
        names = [_default_name(name_or_kind) if name_or_kind in KINDS else name_or_kind]
    else:
        raise UsageError("name the lab to take down (or use --all); see `rtcdiag lab status`")
    problems: list[str] = []
    for lab_name in names:
        if not leftovers(lab_name):
            raise LabError(f"no lab named {lab_name} is up (see `rtcdiag lab status`)")
        problems += remove_leftovers(lab_name)
        click.echo(f"lab {lab_name} is down")
    if problems:
        raise LabError("; ".join(problems), exitcodes.INTERNAL)
    return exitcodes.OK


@command.command(name="status")
@click.argument("name_or_kind", required=False)
def status(name_or_kind: str | None) -> int:
    """List running labs (or show one): kind, namespaces, coturn PID, loss."""
    from rtcdiag.lab.lab import Lab
    from rtcdiag.lab.shell import LabError, check_prerequisites, list_namespaces

    check_prerequisites()
    names = Lab.saved_names()
    if name_or_kind:
        wanted = _default_name(name_or_kind) if name_or_kind in KINDS else name_or_kind
        names = [n for n in names if n == wanted]
        if not names:  # README: exit 2 for an unknown lab
            raise LabError(f"no lab named {wanted} is up (see `rtcdiag lab status`)")
    if not names:
        click.echo("no lab is up")
        return exitcodes.OK
    existing = set(list_namespaces())
    for lab_name in names:
        lab = Lab.load(lab_name)
        missing = [ns for ns in lab.topo.namespaces if ns not in existing]
        state = "up" if not missing else f"broken (missing {', '.join(missing)})"
        if not lab.state.complete:
            state = f"interrupted while starting (remove it: rtcdiag lab down {lab_name})"
        pid = lab.state.coturn_pid
        click.echo(f"{lab_name}: {lab.state.kind}, {state}, coturn pid {pid if pid else '-'}, "
                   f"loss {lab.state.loss_percent:g} %")
    return exitcodes.OK
