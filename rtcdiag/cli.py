"""Command-line entry point: a thin click group whose subcommands are imported only when used.

Nothing heavy is imported here so that ``rtcdiag --version`` stays fast.
"""

from __future__ import annotations

import errno
import gc
import os
import sys
from importlib import import_module
from typing import Any

import click

from rtcdiag import __version__, exitcodes
from rtcdiag.errors import RtcdiagError

# name -> "module:attribute" of the click command, imported lazily.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "stun": ("rtcdiag.commands.stun:command", "Send STUN Binding requests; show mapped address and RTT."),
    "turn-check": ("rtcdiag.commands.turn_check:command",
                   "Check a TURN server: auth, allocation, relay address and data path."),
    "nat-type": ("rtcdiag.commands.nat_type:command",
                 "Classify NAT mapping/filtering behaviour (RFC 5780) and what it means for calls."),
    "ports": ("rtcdiag.commands.ports:command", "Reachability of STUN/TURN ports over UDP, TCP and TLS."),
    "signal": ("rtcdiag.commands.signal:command",
               "Is the WebSocket signalling path open: proxies, TLS interception, upgrade, idle timeouts."),
    "dns": ("rtcdiag.commands.dns:command", "Resolve A/AAAA and STUN/TURN SRV records for a name."),
    "ice": ("rtcdiag.commands.ice:command", "Run two real ICE agents through your servers, end to end."),
    "check": ("rtcdiag.commands.check:command", "Run every applicable check and print one triage report."),
    "selftest": ("rtcdiag.commands.selftest:command",
                 "Start a coturn on loopback and run the full check against it (offline)."),
    "analyze": ("rtcdiag.commands.analyze:command",
                "Triage a failed call from its evidence: dumps, getStats, SDP, pcap, coturn logs."),
    "browser": ("rtcdiag.commands.browser:command",
                "Run the Trickle ICE page in a real headless Chromium: candidates, errors, calls, verdict."),
    "explain": ("rtcdiag.commands.explain:command", "List the findings catalogue or explain one finding id."),
    "lint": ("rtcdiag.commands.lint:command",
             "Audit a turnserver.conf (version-aware) or an ICE server list; no network traffic."),
    "lab": ("rtcdiag.commands.lab:command", "Bring up or down an emulated NAT in network namespaces (root)."),
    "exporter": ("rtcdiag.commands.exporter:command",
                 "Serve Prometheus probes (/probe?target=...&module=...) over the checks of a config."),
    "budget": ("rtcdiag.commands.budget:command",
               "Relay budget from a call topology (bandwidth, allocations, ports, cost) and whether a "
               "turnserver.conf holds it."),
    "load": ("rtcdiag.commands.load:command",
             "Load a TURN server you operate: ramp relayed streams to the knee (486/508, loss, RTT)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = SUBCOMMANDS.get(cmd_name)
        if spec is None:
            return None
        module_name, attr = spec[0].split(":")
        command = getattr(import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{spec[0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table, so ``--help`` does not import every subcommand.
        with formatter.section("Commands"):
            formatter.write_dl([(name, spec[1]) for name, spec in SUBCOMMANDS.items()])


@click.group(cls=LazyGroup, epilog=exitcodes.EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rtcdiag")
def cli() -> None:
    """Diagnose WebRTC connectivity: STUN, TURN, NAT type, ports, DNS and ICE.

    Every command prints a report that reads symptom -> cause -> fix, can emit JSON, JUnit XML or
    Markdown, and exits with a code that carries the verdict.
    """


def _fail(message: str, code: int) -> None:
    from rtcdiag.redact import unmark

    click.echo(f"rtcdiag: error: {unmark(message)}", err=True)
    sys.exit(code)


# Write errors of the output itself (full disk, quota, I/O error, closed pipe): told in one line, not a bug.
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EPIPE})


def _stdout_gone() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _internal(exc: BaseException) -> None:
    if os.environ.get("RTCDIAG_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    _fail(f"internal error: {type(exc).__name__}: {exc} (set RTCDIAG_DEBUG=1 for a traceback; "
          "please report it)", exitcodes.INTERNAL)


GC_THRESHOLD = 20_000  # allocations between collections (Python's default: 700)


def _interrupted_again() -> None:
    """A second Ctrl-C during the cleanup of the first (or one outside a run): one line, exit 130."""
    import logging

    from rtcdiag import interrupt

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # no "Task was destroyed" at exit
    first = interrupt.requested()
    if first is not None and not first.files_only:
        _fail("interrupted again during cleanup: allocations not yet released expire on the server's timer",
              exitcodes.INTERRUPTED)
    _fail("interrupted", exitcodes.INTERRUPTED)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: map every expected failure to one line and a documented exit code."""
    from rtcdiag import interrupt

    interrupt.reset()
    # A command is a short process that makes many small objects, most of them while its modules load: the
    # cyclic collector runs every GC_THRESHOLD allocations from the start
    # (rtcdiag.commands.shared.running.run_async).
    if gc.get_threshold()[0] < GC_THRESHOLD:
        gc.set_threshold(GC_THRESHOLD, 10, 10)
    try:
        rv: Any = cli.main(args=argv, prog_name="rtcdiag", standalone_mode=False)
    except click.exceptions.Abort:
        _interrupted_again()
    except KeyboardInterrupt:
        _interrupted_again()
    except click.UsageError as exc:  # one line, like every other input error
        command = exc.ctx.command_path if exc.ctx is not None else "rtcdiag"
        _fail(f"{exc.format_message()} (see '{command} --help')", exitcodes.USAGE)
    except click.ClickException as exc:
        _fail(exc.format_message(), exitcodes.USAGE)
    except RtcdiagError as exc:
        _fail(str(exc), exc.exit_code)
    except OSError as exc:
        if exc.errno not in _OUTPUT_ERRNOS:
            _internal(exc)
        _stdout_gone()
        if exc.errno != errno.EPIPE:  # EPIPE: the reader went away (`| head`), nothing to say
            _fail(f"cannot write the output: {exc.strerror or exc}", exitcodes.USAGE)
        sys.exit(exitcodes.USAGE)
    except Exception as exc:  # a bug: one line (RTCDIAG_DEBUG adds the traceback; the exit code stays 4)
        _internal(exc)
    stopped = interrupt.requested()
    if stopped is not None and stopped.deadline_s is not None:  # --deadline: the report's verdict stands
        click.echo(f"rtcdiag: {stopped.message()}", err=True)
    elif stopped is not None:  # Ctrl-C, SIGTERM or SIGHUP: what finished was reported; 128 + the signal
        _fail(stopped.message(), stopped.exit_code)
    sys.exit(rv if isinstance(rv, int) else exitcodes.OK)
