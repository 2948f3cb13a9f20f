"""``rtcdiag load TARGET``: ramp TURN allocations and relayed ChannelData streams against a server you operate
until it refuses (486, 508), loses packets or queues them; report the knee. Thin: parse options (every bad one
exit 2 before any traffic) -> LoadPlan -> the load check -> build_report -> emit()."""

from __future__ import annotations

import math
import time

import click

from rtcdiag import exitcodes
from rtcdiag.commands.shared.options import (
    OutputOptions,
    TlsOptions,
    output_options,
    timeout_option,
    tls_notes,
    tls_options,
)
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_async, watching
from rtcdiag.commands.shared.secrets import turn_credential_options
from rtcdiag.errors import UsageError
from rtcdiag.secret_input import SecretArgs, load_turn_secrets, load_username
from rtcdiag.targets import TRANSPORTS

OPERATE_NOTE = ("rtcdiag load is for TURN servers you operate: it holds up to {streams} allocation(s) and "
                "sends up to {mbps:g} Mbit/s through the relay. Run it against someone else's server only "
                "with their permission.")


def parse_ramp(option: str, text: str, *, integer: bool) -> tuple[float, ...]:
    """``N``, ``A,B,C`` or ``START:STEP:MAX`` -> the values of the steps, in order."""
    cleaned = text.strip()
    try:
        if ":" in cleaned:
            parts = [float(p) for p in cleaned.split(":")]
            if len(parts) != 3:
                raise ValueError
            start, step, stop = parts
            if step <= 0 or stop < start:
                raise UsageError(f"{option} {text}: START:STEP:MAX needs STEP > 0 and MAX >= START")
            count = math.floor((stop - start) / step + 1e-9) + 1
            if count > 100:
                raise UsageError(f"{option} {text}: more than 100 steps")
            values = [start + i * step for i in range(count)]
        else:
            values = [float(p) for p in cleaned.split(",") if p.strip()]
    except ValueError:
        raise UsageError(f"{option} {text!r}: give N, a list A,B,C or START:STEP:MAX") from None
    if not values:
        raise UsageError(f"{option}: give at least one value")
    if any(not math.isfinite(v) or v <= 0 for v in values):
        raise UsageError(f"{option} {text}: every value must be a positive number")
    if integer and any(not v.is_integer() for v in values):
        raise UsageError(f"{option} {text}: stream counts are whole numbers")
    return tuple(values)


def _raise_descriptor_limit(needed: int) -> None:
    """Raise this process's soft RLIMIT_NOFILE towards the hard limit for ``needed`` descriptors (exit 2 when
    the hard limit is too low: one line, before any traffic)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            target = soft
        if target < needed:
            raise UsageError(f"--streams: up to {needed} descriptors are needed and `ulimit -n` allows "
                             f"{target}: raise it (ulimit -n {needed}) or ask for fewer streams")


@click.command(name="load", epilog=exitcodes.epilog(
    "rtcdiag load turn.example.com -u alice --password-env TURN_PASSWORD",
    "rtcdiag load turn.example.com -t tcp --streams 10:10:200 -u alice --password-env TURN_PASSWORD",
    "rtcdiag load 'turns:turn.example.com:443?transport=tcp' --rate 50:50:500 --streams 20 "
    "--secret-env TURN_SECRET"))
@click.argument("target", metavar="TARGET")
@click.option("-t", "--transport", "transport_text", default=None,
              type=click.Choice(TRANSPORTS, case_sensitive=False),
              help="Transport to the server for a HOST[:PORT] target (default udp; tls uses --tls-port); one "
                   "per run: the knee is a transport's. A turn: URI says its own (?transport=tcp; turns: is "
                   "TLS).")
@click.option("--tls-port", type=click.IntRange(1, 65535), default=None,
              help="TLS port for a HOST[:PORT] target with --transport tls. Default: 5349.")
@turn_credential_options
@click.option("--realm", metavar="R", help="Hash the password with realm R instead of the server's realm.")
@tls_options
@click.option("--streams", "streams_text", default="10:10:100", show_default=True, metavar="SPEC",
              help="Allocations streaming at once, per step: N, a list A,B,C, or START:STEP:MAX.")
@click.option("--rate", "rate_text", default="50", show_default=True, metavar="SPEC",
              help="Packets per second per stream (N, list or START:STEP:MAX; ramp either --streams or "
                   "--rate, not both).")
@click.option("--size", type=int, default=200, show_default=True, metavar="BYTES",
              help="Bytes of each packet (ChannelData payload), 28..1400.")
@click.option("--step-seconds", type=float, default=2.0, show_default=True, metavar="S",
              help="How long each step streams (0.2..60).")
@click.option("--max-duration", type=float, default=60.0, show_default=True, metavar="S",
              help="Bound on the whole ramp (1..600 s); the release comes after it.")
@click.option("--max-loss", type=float, default=1.0, show_default=True, metavar="PCT",
              help="Loss (beyond this machine's own drops) that ends the ramp, in percent.")
@click.option("--max-rtt-ms", type=float, default=100.0, show_default=True, metavar="MS",
              help="95th-percentile round trip through the relay that ends the ramp.")
@timeout_option()
@output_options
def command(target: str, transport_text: str | None, tls_port: int | None, username: str | None,
            password_args: SecretArgs, secret_args: SecretArgs, ttl: int, realm: str | None, tls: TlsOptions,
            streams_text: str, rate_text: str, size: int, step_seconds: float, max_duration: float,
            max_loss: float, max_rtt_ms: float, timeout: float, output: OutputOptions) -> int:
    """Load a TURN server you operate: N allocations at once, each streaming paced ChannelData through its
    relay to local echo peers, ramped in steps until an Allocate is refused (486 quota or bandwidth, 508 no
    relay ports), loss or the round trip crosses a threshold, or the last step is held.

    Reports allocations per second, the knee (the most streams and Mbit/s held clean), the first failure
    and, when the server runs on this machine, its CPU. This machine's own limits (its drops, a pacer that
    falls behind) are reported apart and never blamed on the server. Bounded in time and count; every
    allocation is released (Refresh LIFETIME=0), also after errors, Ctrl-C and SIGTERM. Special-purpose
    targets (link-local, multicast, broadcast, unspecified, reserved) are refused.
    """
    from rtcdiag.addresses import UNUSABLE, scope_of
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.checks.load import LOAD, LoadOptions, LoadPlan, descriptors_needed, plan_problems, tables
    from rtcdiag.jsonable import to_jsonable
    from rtcdiag.report.build import build_report
    from rtcdiag.resolve import ResolveError, resolve
    from rtcdiag.targets import DEFAULT_TLS_PORT, expand_transports, parse_target
    from rtcdiag.triage.finding import Subject

    started = time.time()
    streams = parse_ramp("--streams", streams_text, integer=True)
    rates = parse_ramp("--rate", rate_text, integer=False)
    if len(streams) > 1 and len(rates) > 1:
        raise UsageError("ramp --streams or --rate, not both (give the other one value)")
    steps = tuple((int(n), r) for n in streams for r in rates)
    parsed = parse_target(target, default_scheme="turn")
    if not parsed.is_turn:
        raise UsageError(f"{parsed.uri} is a STUN server: give a turn:/turns: URI or HOST[:PORT]")
    if not parsed.shortcut and (transport_text is not None or tls_port is not None):
        raise UsageError("--transport and --tls-port only apply to a HOST[:PORT] target; a turn: URI carries "
                         "its own transport (add ?transport=tcp or use turns:)")
    leg = expand_transports([parsed], (transport_text or "udp",), tls_port=tls_port or DEFAULT_TLS_PORT)[0]
    password, secret = load_turn_secrets(password_args, secret_args)
    options = LoadOptions(
        transport=leg.transport or "udp", steps=steps, size=size, step_s=step_seconds,
        max_duration_s=max_duration, max_loss_pct=max_loss, max_rtt_ms=max_rtt_ms, timeout_s=timeout,
        username=load_username(username), password=password, secret=secret, ttl_s=ttl, realm=realm,
        ca_file=tls.ca_file, insecure=tls.insecure, server_name=leg.host)
    problems = plan_problems(options)
    if not 0 <= max_loss <= 100:
        problems.append(f"--max-loss: {max_loss:g} is not a percentage")
    if not max_rtt_ms > 0:
        problems.append("--max-rtt-ms: give a positive number")
    if problems:
        raise UsageError(problems[0])
    _raise_descriptor_limit(descriptors_needed(options))

    async def resolved() -> tuple[str, int]:
        try:
            found = await resolve(leg.host, leg.port, transport=options.transport, timeout=timeout)
        except ResolveError as err:
            raise UsageError(f"{leg.uri}: {err}") from None
        return found[0].ip, leg.port

    server = run_async(resolved())  # DNS only: no packet has gone to the server yet
    scope = scope_of(server[0])
    if scope in UNUSABLE:
        raise UsageError(f"{leg.uri}: {server[0]} is a {scope.value} address: never a TURN server, "
                         "not loaded")
    most = max(n for n, _ in steps)
    mbps = max(n * r for n, r in steps) * size * 8 * 2 / 1e6
    notes = [OPERATE_NOTE.format(streams=most, mbps=round(mbps, 3))]
    click.echo(f"rtcdiag: note: {notes[0]}", err=True)  # before the first packet, whatever the output format
    with watching("load", output) as view:
        ramp = view.add(f"the ramp to {most} stream(s) over {options.transport} ({len(steps)} step(s))")
        ran = run_async(execute(Job(LOAD, LoadPlan(server, leg.uri, options), Subject(leg.uri))))
        view.done(ramp)
    result = ran.result
    if options.secret is not None:
        notes.append("REST credentials: one user name per stream (as one per participant), so coturn's "
                     "user-quota (per name) does not cap the run; total-quota does")
    elif options.password is not None:
        notes.append(f"long-term credentials: every stream uses the user {options.username}, so a per-user "
                     "quota (coturn user-quota) caps the whole run")
    report = build_report("load", ran.judgement, tables=tables(result) if result is not None else [],
                          results=to_jsonable(result) if result is not None else None,
                          notes=notes + tls_notes(tls.insecure), started_at=started)
    return emit(report, output)
