"""``rtcdiag budget``: from a call topology to relayed bandwidth, TURN allocations, relay ports, descriptors
and the monthly egress bill; with ``--conf``, whether a coturn deployment holds it. Pure computation: no
network traffic. Inputs from options or the ``[budget]`` table of an rtcdiag.toml (options win); every bad
input is exit 2 before anything runs."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from rtcdiag import exitcodes
from rtcdiag.commands.shared.options import OutputOptions, list_option, output_options
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_async
from rtcdiag.errors import UsageError

TOPOLOGIES = ("p2p", "sfu", "mcu")
MAX_SUMMARY_FILES = 100_000  # as `analyze --summary`
LAYERINGS = ("simulcast", "svc")
# [budget] keys and the options they stand for (options given on the command line win).
_KEYS = {
    "topology": "--topology", "participants": "--participants", "rooms": "--rooms",
    "audio_kbps": "--audio-kbps", "video_kbps": "--video-kbps", "layering": "--layering",
    "receive_layer": "--receive-layer", "video_share": "--video-share", "relay_ratio": "--relay-ratio",
    "from_summary": "--from-summary", "from_coturn_log": "--from-coturn-log",
    "minutes_per_month": "--minutes-per-month", "price_per_gb": "--price-per-gb",
    "call_minutes": "--call-minutes", "shared_user": "--shared-user", "tcp_allocations": "--tcp-allocations",
    "conf": "--conf", "fd_limit": "--fd-limit",
}
_DEFAULTS: dict[str, Any] = {"rooms": 1, "audio_kbps": 32.0, "video_kbps": "1500", "layering": "simulcast",
                             "video_share": 1.0, "call_minutes": 60.0, "shared_user": False,
                             "tcp_allocations": 0.0}


def _table(path: Path) -> dict[str, Any]:
    """The ``[budget]`` table of an rtcdiag.toml (exit 2 for a missing file, bad TOML or an unknown key)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--config {path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"--config {path}: not valid TOML: {exc}") from None
    table = data.get("budget")
    if not isinstance(table, Mapping):
        raise UsageError(f"--config {path}: no [budget] table")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise UsageError(f"{path}: budget.{unknown[0]}: unknown key (allowed: {', '.join(sorted(_KEYS))})")
    out = dict(table)
    for key in ("from_summary", "from_coturn_log", "conf"):  # paths relative to the config file
        if isinstance(out.get(key), str):
            out[key] = str(path.parent / out[key])
    return out


def _number(name: str, value: Any, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{_KEYS[name]}: {value!r} is not a number")
    if integer and (not isinstance(value, int) and not float(value).is_integer()):
        raise UsageError(f"{_KEYS[name]}: {value!r} is not a whole number")
    return float(value)


def _layers(value: Any) -> tuple[float, ...]:
    """``--video-kbps 150,500,1500`` (or a TOML number or list) -> (150.0, 500.0, 1500.0)."""
    items: list[Any]
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        items = [value]
    out: list[float] = []
    for item in items:
        try:
            number = float(item) if not isinstance(item, bool) else float("nan")
        except (TypeError, ValueError):
            raise UsageError(f"--video-kbps: {item!r} is not a number (give kbit/s per layer, lowest "
                             "first, comma-separated)") from None
        if number != number:  # NaN
            raise UsageError(f"--video-kbps: {item!r} is not a number")
        out.append(number)
    if not out:
        raise UsageError("--video-kbps: give at least one bitrate")
    return tuple(out)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).lower()
    if text not in choices:
        raise UsageError(f"{_KEYS[name]}: {value!r} is not one of {', '.join(choices)}")
    return text


def _measured_ratio(directory: Path) -> tuple[float, str]:
    """``analyze --summary`` over a folder of dumps: connections with a relayed selected pair / connected."""
    from rtcdiag.checks.analyze import summarize_files, summary_numbers

    if not directory.is_dir():
        raise UsageError(f"--from-summary {directory}: not a folder")
    paths = sorted(str(p) for p in directory.rglob("*") if p.is_file())
    if len(paths) > MAX_SUMMARY_FILES:
        raise UsageError(f"--from-summary {directory}: more than {MAX_SUMMARY_FILES} files")
    numbers = summary_numbers(summarize_files(paths))
    if numbers.relay_ratio is None:
        raise UsageError(f"--from-summary {directory}: no connected call in {numbers.files} file(s) "
                         f"({numbers.refused} refused): no relay ratio to measure (give --relay-ratio)")
    return numbers.relay_ratio, (f"measured: {numbers.relayed} of {numbers.connected} connected peer "
                                 f"connections relayed in {numbers.files - numbers.refused} dump(s) of "
                                 f"{directory}")


def _measured_leg(path: Path) -> tuple[float, str]:
    """Server egress per allocation-second from a coturn log's sessions (``sb`` to the client plus ``sb`` of
    the peer side), over the sessions with both a start and an end."""
    import zlib

    from rtcdiag.evidence.coturn_log import looks_like_coturn_log, read_coturn_log
    from rtcdiag.evidence.sniff import open_maybe_gzip

    try:
        with open_maybe_gzip(path) as handle:  # plain or gzip (logrotate)
            head = handle.read(4096)
    except (OSError, EOFError, zlib.error) as exc:
        raise UsageError(f"--from-coturn-log {path}: cannot read: {exc}") from None
    if not looks_like_coturn_log(head):
        raise UsageError(f"--from-coturn-log {path}: not a coturn log")
    log = read_coturn_log(path, str(path))
    egress = seconds = 0.0
    used = 0
    for session in log.sessions.values():
        if session.opened is None or session.closed is None or session.closed <= session.opened:
            continue
        sent = session.sb + session.peer_sb
        if not sent:
            continue
        egress += sent
        seconds += session.closed - session.opened
        used += 1
    if not used or seconds <= 0:
        raise UsageError(f"--from-coturn-log {path}: no closed session with usage counters (run coturn with "
                         "`verbose` so that it logs `usage: ... rp=, rb=, sp=, sb=`)")
    kbps = egress * 8 / seconds / 1000.0
    return kbps, f"{path} ({used} session(s), {egress / 1e6:.3g} MB over {seconds:.0f} s)"


@click.command(name="budget", epilog=exitcodes.epilog(
    "rtcdiag budget --topology sfu --participants 8 --rooms 50 --video-kbps 150,500,1500",
    "rtcdiag budget --topology p2p --participants 4 --from-summary dumps/ --minutes-per-month 200000 "
    "--price-per-gb 0.05",
    "rtcdiag budget --topology sfu --participants 10 --rooms 20 --conf /etc/turnserver.conf "
    "--fd-limit 65536"))
@click.option("--topology", type=click.Choice(TOPOLOGIES, case_sensitive=False), default=None,
              help="p2p (full mesh), sfu or mcu.")
@click.option("--participants", type=int, default=None, metavar="N", help="Participants per room (2..200).")
@click.option("--rooms", type=int, default=None, metavar="N", help="Rooms at once at peak. Default: 1.")
@click.option("--audio-kbps", type=float, default=None, metavar="K",
              help="Audio kbit/s per stream. Default: 32.")
@list_option("--video-kbps", examples=("150", "1500"), metavar="K",
             help="Video kbit/s per layer, lowest first (e.g. 150,500,1500 for three simulcast layers). "
                  "Default: 1500 (one layer)")
@click.option("--layering", type=click.Choice(LAYERINGS, case_sensitive=False), default=None,
              help="Several layers are simulcast encodings (sent side by side) or SVC (cumulative). "
                   "Default: simulcast.")
@click.option("--receive-layer", type=int, default=None, metavar="N",
              help="The layer a receiver gets (1 = lowest). Default: the top layer.")
@click.option("--video-share", type=float, default=None, metavar="X",
              help="Share of participants sending video (0..1). Default: 1.")
@click.option("--relay-ratio", type=float, default=None, metavar="X",
              help="Share of legs relayed through TURN (0..1). Default: 1 (worst case).")
@click.option("--from-summary", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Measure the relay ratio: `analyze --summary` of a folder of webrtc-internals dumps.")
@click.option("--from-coturn-log", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="Use the server egress per allocation measured in a coturn log (verbose: session usage "
                   "lines) instead of the bitrate model.")
@click.option("--minutes-per-month", type=float, default=None, metavar="M",
              help="Participant-minutes per month (a 10-minute call of 4 is 40), for egress GB and cost.")
@click.option("--price-per-gb", type=float, default=None, metavar="P",
              help="Your provider's egress price per GB (10^9 bytes); rtcdiag has no price list.")
@click.option("--call-minutes", type=float, default=None, metavar="M",
              help="A typical call's length, for refreshes per allocation. Default: 60.")
@click.option("--shared-user", is_flag=True, default=None,
              help="Every client uses one TURN user name (static credentials): user-quota caps them all.")
@click.option("--tcp-allocations", type=float, default=None, metavar="X",
              help="Share of relayed legs that are RFC 6062 TCP allocations (not browsers). Default: 0.")
@click.option("--conf", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="A coturn turnserver.conf: can it hold the budget (ports, quotas, bandwidth, lifetime)?")
@click.option("--fd-limit", type=int, default=None, metavar="N",
              help="The coturn service's hard descriptor limit (`ulimit -Hn`, systemd LimitNOFILE).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="Read the inputs from the [budget] table of this rtcdiag.toml (options win).")
@output_options
def command(config_path: Path | None, output: OutputOptions, **given: Any) -> int:
    """Relay budget: streams, relayed Mbit/s at peak, TURN allocations, relay ports, file descriptors,
    egress GB and cost per month — with every formula shown and cited. With --conf, every shortfall of a
    coturn turnserver.conf (port range, quotas, bps-capacity/max-bps, lifetime, descriptors) is a finding
    with the line that fixes it. No network traffic.
    """
    from rtcdiag.checks.budget import BUDGET, BudgetPlan, tables
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.jsonable import to_jsonable
    from rtcdiag.report.build import build_report
    from rtcdiag.triage.budget_model import BudgetInputs, Layering, Topology
    from rtcdiag.triage.finding import Subject

    started = time.time()
    values: dict[str, Any] = dict(_DEFAULTS)
    if config_path is not None:
        values.update(_table(config_path))
    values.update({key: value for key, value in given.items() if value is not None and value != ()})
    if "topology" not in values or "participants" not in values:
        raise UsageError("give --topology (p2p, sfu, mcu) and --participants N (or a --config with [budget])")
    if values.get("relay_ratio") is not None and values.get("from_summary") is not None:
        raise UsageError("--relay-ratio and --from-summary are mutually exclusive")
    if values.get("fd_limit") is not None and values.get("conf") is None:
        raise UsageError("--fd-limit only applies with --conf")
    if values.get("price_per_gb") is not None and values.get("minutes_per_month") is None:
        raise UsageError("--price-per-gb needs --minutes-per-month (the cost is per month)")
    fd_limit = values.get("fd_limit")
    if fd_limit is not None and (_number("fd_limit", fd_limit, integer=True) < 1):
        raise UsageError("--fd-limit: give a positive number")
    ratio, source, measured = 1.0, "assumed: every leg relayed, the worst case", False
    if values.get("relay_ratio") is not None:
        ratio, source = _number("relay_ratio", values["relay_ratio"]), "given"
    inputs = BudgetInputs(
        topology=Topology(_choice("topology", values["topology"], TOPOLOGIES)),
        participants=int(_number("participants", values["participants"], integer=True)),
        rooms=int(_number("rooms", values["rooms"], integer=True)),
        audio_kbps=_number("audio_kbps", values["audio_kbps"]),
        video_kbps=_layers(values["video_kbps"]),
        layering=Layering(_choice("layering", values["layering"], LAYERINGS)),
        receive_layer=(int(_number("receive_layer", values["receive_layer"], integer=True))
                       if values.get("receive_layer") is not None else None),
        video_share=_number("video_share", values["video_share"]), relay_ratio=ratio,
        relay_ratio_source=source,
        participant_minutes=(_number("minutes_per_month", values["minutes_per_month"])
                             if values.get("minutes_per_month") is not None else None),
        price_per_gb=(_number("price_per_gb", values["price_per_gb"])
                      if values.get("price_per_gb") is not None else None),
        call_minutes=_number("call_minutes", values["call_minutes"]),
        shared_user=bool(values["shared_user"]),
        tcp_allocation_share=_number("tcp_allocations", values["tcp_allocations"]))
    problems = inputs.problems()
    if problems:
        raise UsageError(f"--{problems[0]}")
    limits = None
    if values.get("conf") is not None:
        from rtcdiag.lint.coturn_limits import read_limits
        from rtcdiag.lint.turnserver_conf import read_file

        conf_path = Path(values["conf"])
        if not conf_path.is_file():
            raise UsageError(f"--conf {conf_path}: no such file" if not conf_path.exists()
                             else f"--conf {conf_path}: not a regular file")
        limits = read_limits(read_file(conf_path))
    # The measured inputs last: reading dumps or a log is the slow part; every cheap check came first.
    if values.get("from_summary") is not None:
        ratio, source = _measured_ratio(Path(values["from_summary"]))
        inputs = replace(inputs, relay_ratio=ratio, relay_ratio_source=source)
        measured = True
    if values.get("from_coturn_log") is not None:
        kbps, where = _measured_leg(Path(values["from_coturn_log"]))
        inputs = replace(inputs, measured_leg_kbps=kbps, measured_source=where)
    plan = BudgetPlan(inputs, limits, int(fd_limit) if fd_limit is not None else None, measured)
    subject = Subject("budget")
    ran = run_async(execute(Job(BUDGET, plan, subject)))
    result = ran.result
    report = build_report("budget", ran.judgement, tables=tables(result) if result is not None else [],
                          results=to_jsonable(result) if result is not None else None,
                          detail_notes=["pure computation: no network traffic was sent"], started_at=started)
    return emit(report, output)

