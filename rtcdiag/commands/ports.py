"""``rtcdiag ports HOST``: which STUN/TURN ports answer over UDP, TCP and TLS (--trace: where not)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import click

from rtcdiag import exitcodes
from rtcdiag.checks.ports import PORT_TRANSPORTS, PortTarget
from rtcdiag.commands.shared.options import (
    OutputOptions,
    TlsOptions,
    concurrency_option,
    list_option,
    output_options,
    timeout_option,
    tls_notes,
    tls_options,
)
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_async, watching
from rtcdiag.errors import UsageError
from rtcdiag.jsonable import to_jsonable
from rtcdiag.triage.finding import Subject

DEFAULT_TIMEOUT_S = 2.0


def parse_ports(items: Sequence[str]) -> list[PortTarget]:
    """``("udp:3479", "tcp:80", "tls:8443")`` (the items of ``--ports``) -> targets; raises UsageError with
    the bad item named."""
    targets: list[PortTarget] = []
    for item in items:
        transport, sep, port_text = item.partition(":")
        transport = transport.strip().lower()
        if not sep or transport not in PORT_TRANSPORTS:
            raise UsageError(f"--ports {item!r}: expected TRANSPORT:PORT with TRANSPORT one of udp, tcp, tls")
        if not port_text.strip().isdigit() or not 0 < int(port_text) < 65536:
            raise UsageError(f"--ports {item!r}: port must be a number 1-65535")
        target = PortTarget(transport, int(port_text))
        if target not in targets:
            targets.append(target)
    if not targets:
        raise UsageError("--ports: give at least one TRANSPORT:PORT (e.g. udp:3479,tls:443)")
    return targets


def parse_host(text: str) -> tuple[str, list[PortTarget]]:
    """HOST, HOST:PORT, [IPv6]:PORT or a stun:/turn:/stuns:/turns: URI -> the host and the ports it names.

    HOST:PORT names UDP and TCP on PORT; a URI names its own transport as a browser uses it (RFC 7064/7065:
    no ``?transport=`` is UDP, ``stuns:``/``turns:`` TLS). Bad or ambiguous input is a usage error (exit 2)
    before anything is sent — never a DNS question for the whole string.
    """
    from rtcdiag.targets import expand_transports, looks_like_uri, parse_target

    stripped = text.strip()
    target = parse_target(stripped, default_scheme="stun")
    if looks_like_uri(stripped):
        leg = expand_transports([target], ("udp",))[0]
        return target.host, [PortTarget(leg.transport or "udp", leg.port)]
    if "]:" in stripped or stripped.count(":") == 1:
        return target.host, [PortTarget("udp", target.port), PortTarget("tcp", target.port)]
    return target.host, []


@click.command(name="ports", epilog=exitcodes.epilog(
    "rtcdiag ports turn.example.com",
    "rtcdiag ports turn.example.com:3479 -t udp",
    "rtcdiag ports 'turns:turn.example.com:443?transport=tcp' --wide"))
@click.argument("host", metavar="HOST|HOST:PORT|URI")
@list_option("--ports", "ports_given", metavar="TRANSPORT:PORT", examples=("udp:3479", "tls:8443"),
             help="Extra ports, TRANSPORT:PORT with TRANSPORT udp, tcp or tls (e.g. udp:3479,tls:8443)")
@list_option("-t", "--transport", "transports", choices=PORT_TRANSPORTS, examples=("udp", "tls"),
             help="Probe only these transports, udp, tcp or tls (default: all)")
@click.option("--no-default-ports", is_flag=True,
              help="Probe only the --ports given, not the default UDP 3478, TCP 3478, TLS 5349, TLS 443.")
@click.option("--trace", is_flag=True,
              help="Root only: TTL-limited probes (scapy) showing at which hop each port's path drops.")
@click.option("--max-hops", type=click.IntRange(1, 64), default=16, show_default=True,
              help="Highest TTL the --trace probes use.")
@timeout_option(default=DEFAULT_TIMEOUT_S)
@concurrency_option()
@tls_options
@click.option("--server-name", metavar="NAME",
              help="Name for SNI and the certificate check (default: HOST; useful when HOST is an IP).")
@output_options
def command(host: str, ports_given: tuple[str, ...], transports: tuple[str, ...], no_default_ports: bool,
            trace: bool, max_hops: int, timeout: float, tls: TlsOptions, server_name: str | None,
            output: OutputOptions) -> int:
    """Reachability of HOST's STUN/TURN ports: UDP 3478 (a STUN Binding), TCP 3478, TLS 5349 and TLS 443.

    HOST:PORT adds UDP and TCP on PORT; a stun:/turn:/stuns:/turns: URI adds the port and transport it
    names (no ?transport= is UDP, stuns:/turns: TLS). IPv6 literals with a port go in brackets: [::1]:3478.

    For TLS ports: certificate chain, host name, days to expiry, TLS version and ALPN "stun.turn".
    All ports are probed at once.
    """
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.checks.ports import (
        DEFAULT_PORTS,
        PORTS,
        PortsPlan,
        ReachResult,
        merge_targets,
        summary_table,
        tables,
        trace_permitted,
    )
    from rtcdiag.report.build import build_report
    from rtcdiag.triage.unasked import Endpoint, soften

    started = time.time()
    host, named = parse_host(host)
    extra = [*named, *(parse_ports(ports_given) if ports_given else [])]
    if no_default_ports and not extra:
        raise UsageError("--no-default-ports needs --ports SPEC or a port in HOST:PORT")
    if trace and not trace_permitted():  # a usage error before any traffic, not a failure inside the check
        raise UsageError("--trace needs root (raw sockets, CAP_NET_RAW): run it as root or drop --trace")
    targets = merge_targets(extra, include_defaults=not no_default_ports)
    if transports:
        targets = [t for t in targets if t.transport in transports]
        if not targets:
            raise UsageError(f"-t {','.join(transports)}: no port left to probe (the ports named are "
                             f"{', '.join(f'{t.transport}:{t.port}' for t in extra)})")
    plan = PortsPlan(host=host, targets=targets,
                     timeout=timeout, ca_file=Path(tls.ca_file) if tls.ca_file else None,
                     insecure=tls.insecure, server_name=server_name, trace=trace, max_hops=max_hops)
    # A port named in HOST:PORT or a URI is the question: the well-known ports are then only tried (--ports
    # adds to them: they stay asked for).
    unasked = [t for t in DEFAULT_PORTS if t not in extra] if named else []
    with watching("ports", output):
        ran = run_async(execute(Job(PORTS, plan, Subject(f"ports:{host}", host=host))))
    result: ReachResult | None = ran.result
    notes = soften(ran.judgement, [Endpoint(host, t.port, t.transport) for t in unasked],
                   "--ports TRANSPORT:PORT asks for one, --no-default-ports leaves them out")
    report = build_report("ports", ran.judgement, tables=tables(result) if result else [],
                          results=to_jsonable(result), notes=notes + tls_notes(tls.insecure),
                          summary=summary_table(result, unasked) if result else None, started_at=started)
    return emit(report, output)
