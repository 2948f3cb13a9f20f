"""Plumbing shared by every subcommand: output options, running probes, rendering, exit code."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import gc
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import click

from rtcdiag import exitcodes
from rtcdiag.errors import Interrupted, OutputError, UsageError
from rtcdiag.report.model import Report
from rtcdiag.secret_input import PASSWORD_ENV, SECRET_ENV, USERNAME_ENV, SecretArgs

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from rtcdiag.probes.ice import IceServer
    from rtcdiag.report.layout import View
    from rtcdiag.report.progress import ProgressView
    from rtcdiag.targets import Target

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class OutputOptions:
    json: bool = False
    markdown: bool = False
    junit: Path | None = None
    report_file: Path | None = None
    html: Path | None = None  # --html FILE: the self-contained page (rtcdiag.report.html)
    verbose: bool = False  # -v: info findings, full tables, descriptive notes on the console
    quiet: bool = False  # -q: the verdict line only
    wide: bool = False  # --wide: tables at their natural width

    @property
    def wants_html(self) -> bool:
        """An HTML page will be written (``--html``, or ``--report-file`` ending in .html): the command then
        attaches the evidence's charts to the report (``Report.visuals``), and only then."""
        return self.html is not None or (self.report_file is not None
                                         and _SUFFIX_FORMAT.get(self.report_file.suffix.lower()) == "html")

    @property
    def console_only(self) -> bool:
        """The report goes to the console only (no JSON, Markdown, JUnit, report file or HTML page)."""
        return not (self.json or self.markdown or self.junit or self.report_file or self.html)

    @property
    def view(self) -> View:
        """How much of the report the console shows (-v, -q, --wide)."""
        from rtcdiag.report.layout import Detail, View

        detail = Detail.VERBOSE if self.verbose else Detail.QUIET if self.quiet else Detail.NORMAL
        return View(detail, wide=self.wide)


JUNIT_HELP = "Also write a JUnit XML file (one testcase per server x transport x check)."


@overload
def output_options(func: F) -> F: ...


@overload
def output_options(*, junit_help: str) -> Callable[[F], F]: ...


def output_options(func: F | None = None, *, junit_help: str = JUNIT_HELP) -> Any:
    """Add ``--json``, ``--markdown``, ``--junit FILE``, ``--report-file FILE``, ``--html FILE``,
    ``-v/--verbose``, ``-q/--quiet`` and ``--wide`` to a command (``junit_help``: what a testcase is for this
    command).

    The command receives them as one ``output: OutputOptions`` keyword argument.
    """
    if func is None:
        return functools.partial(output_options, junit_help=junit_help)
    options = [
        click.option("-v", "--verbose", "verbose", is_flag=True,
                     help="Also show findings for the record (info), the full tables and descriptive notes."),
        click.option("-q", "--quiet", "quiet", is_flag=True,
                     help="Print only the verdict line (the exit code says the same)."),
        click.option("--wide", "wide", is_flag=True,
                     help="Lay tables out at their full width, one line per row, whatever the terminal's."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print the report as JSON (schema rtcdiag/1): everything, whatever -v/-q say."),
        click.option("--markdown", "as_markdown", is_flag=True, help="Print the report as Markdown."),
        click.option("--junit", "junit", type=click.Path(dir_okay=False, path_type=Path), help=junit_help),
        click.option("--report-file", "report_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="Also write the report to FILE; format from the suffix (.json, .md, .xml, .txt, "
                          ".html)."),
        click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
                     help="Also write the report as one self-contained HTML page (verdict and root causes on "
                          "top, the evidence's charts below; no script, no network request)."),
    ]

    @functools.wraps(func)  # keeps __click_params__ of options declared below this decorator
    def wrapper(*args: Any, as_json: bool, as_markdown: bool, junit: Path | None,
                report_file: Path | None, html_file: Path | None, verbose: bool, quiet: bool, wide: bool,
                **kwargs: Any) -> Any:
        if as_json and as_markdown:
            raise UsageError("--json and --markdown are mutually exclusive")
        if verbose and quiet:
            raise UsageError("-v/--verbose and -q/--quiet are mutually exclusive")
        # before any traffic: a bad path must not cost the verdict
        check_output_paths(junit, report_file, html_file)
        out = OutputOptions(json=as_json, markdown=as_markdown, junit=junit, report_file=report_file,
                            html=html_file, verbose=verbose, quiet=quiet, wide=wide)
        return func(*args, output=out, **kwargs)

    decorated: Any = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


@dataclass(frozen=True)
class TlsOptions:
    """Certificate verification for stuns:/turns:/TLS ports (verified unless ``insecure``)."""

    ca_file: str | None = None
    insecure: bool = False


INSECURE_NOTE = ("TLS certificate verification was off (--insecure): certificate problems found by a "
                 "separate check are reported as warnings (TLS-CERT-IGNORED), not errors.")


def tls_notes(insecure: bool) -> list[str]:
    """The report's note when certificate verification was off."""
    return [INSECURE_NOTE] if insecure else []


def _check_ca_file(path: str) -> None:
    import ssl

    try:
        # A bare client context: the file is validated without also loading the system store (~20 ms).
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise UsageError(f"--ca {path}: not a PEM file of CA certificates ({exc})") from None


def tls_options(func: F) -> F:
    """Add ``--ca FILE`` and ``--insecure``; the command receives them as one ``tls: TlsOptions``."""

    @functools.wraps(func)
    def wrapper(*args: Any, ca_file: str | None, insecure: bool, **kwargs: Any) -> Any:
        if ca_file is not None and insecure:
            raise UsageError("--ca and --insecure are mutually exclusive")
        if ca_file is not None:
            _check_ca_file(ca_file)
        return func(*args, tls=TlsOptions(ca_file=ca_file, insecure=insecure), **kwargs)

    decorated: Any = click.option(
        "--insecure", is_flag=True, help="Do not verify TLS certificates (trust and host name).")(wrapper)
    decorated = click.option(
        "--ca", "ca_file", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
        help="Also trust the CA certificates in this PEM file for TLS (the system store stays trusted).",
    )(decorated)
    return decorated  # type: ignore[no-any-return]


def follow_option(func: F) -> F:
    """``--follow/--no-follow``: whether a 300 Try Alternate is followed (RFC 8489 §10); the command receives
    ``follow: bool``. Followed only to addresses rtcdiag.addresses.redirect_refusal allows (README
    "Redirects"); every 300 is reported either way."""
    decorated: Any = click.option(
        "--follow/--no-follow", "follow", default=True, show_default=True,
        help="Follow a 300 Try Alternate redirect once (only to a public address or one in the same scope "
             "as the target, never link-local, multicast, broadcast or other special-purpose addresses). "
             "Every redirect is reported either way.")(func)
    return decorated  # type: ignore[no-any-return]


class ListOption(click.Option):
    """An option that names several values, taken both ways people write a list: repeated
    (``--servers a --servers b``, how click users write lists) and comma-separated (``--servers a,b``),
    mixed as they like. The command receives one tuple of the items, in order, without duplicates.

    Every list option of every command is one of these (``tests/unit/test_list_options.py`` walks the
    command tree): a repeated option that keeps only its last value would silently drop the others.
    ``examples``: two valid items, for that test.
    """

    def __init__(self, *args: Any, examples: tuple[str, str], choices: tuple[str, ...] | None = None,
                 **kwargs: Any) -> None:
        kwargs.update(multiple=True, callback=self._split)
        super().__init__(*args, **kwargs)
        self.examples = examples
        self.choices = choices

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """Shell completion of the choices, of the last comma-separated item too (``-t udp,t``: ``udp,tcp``)
        """
        from click.shell_completion import CompletionItem

        if self.choices is None:
            return super().shell_complete(ctx, incomplete)
        done, _, last = incomplete.rpartition(",")
        prefix = f"{done}," if done else ""
        return [CompletionItem(prefix + choice) for choice in self.choices if choice.startswith(last.lower())]

    def _split(self, ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
        items = split_list(values, lower=self.choices is not None)
        flag = next((o for o in self.opts if o.startswith("--")), self.name)
        if values and not items:
            raise click.UsageError(f"{flag}: name at least one value", ctx=ctx)
        if self.choices is not None:
            for item in items:
                if item not in self.choices:
                    raise click.UsageError(f"{flag}: {item!r} is not one of {', '.join(self.choices)} "
                                           f"(repeat {flag} or separate them with commas)", ctx=ctx)
        return items


def split_list(values: Sequence[str], *, lower: bool = False) -> tuple[str, ...]:
    """``("a,b", " c", "a")`` -> ``("a", "b", "c")``: every item of repeated and comma-separated values,
    stripped, in order, without empty items or duplicates."""
    items: list[str] = []
    for value in values:
        for raw in value.split(","):
            item = raw.strip().lower() if lower else raw.strip()
            if item and item not in items:
                items.append(item)
    return tuple(items)


def list_option(*param_decls: str, examples: tuple[str, str], choices: tuple[str, ...] | None = None,
                metavar: str = "LIST", help: str, hidden: bool = False) -> Callable[[F], F]:
    """A :class:`ListOption`: repeatable and comma-separated. ``choices`` (compared in lower case) are
    checked before any traffic, as a usage error (exit 2); the help says how to give several. ``hidden``:
    an older spelling kept working, not shown in --help."""
    spelled = "repeatable or comma-separated"
    return click.option(*param_decls, cls=ListOption, examples=examples, choices=choices, metavar=metavar,
                        help=f"{help} ({spelled}).", hidden=hidden)


DEFAULT_TIMEOUT_S = 5.0


def timeout_option(default: float | None = DEFAULT_TIMEOUT_S) -> Callable[[F], F]:
    """``--timeout S``, the same option with the same meaning in every command: how long one transaction
    (a STUN/TURN request, a DNS question, a TCP connect or TLS handshake, ICE gathering or connecting) may
    take before it counts as unanswered.

    The RFC 8489 §6.2.1 schedule (RTO 500 ms doubling, Rc=7, Rm=16: 39.5 s in all) is scaled to fit S,
    so every retransmission still happens; ``--timeout 39.5`` is the RFC's own timing. ``default=None``:
    the command takes it from elsewhere (``check``: the config's ``timeout``, else 5).
    """
    shown = f"{default:g}" if default is not None else f"the config's timeout, else {DEFAULT_TIMEOUT_S:g}"

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, deadline: float | None, **kwargs: Any) -> Any:
            from rtcdiag import interrupt

            interrupt.set_deadline(deadline)  # read by run_async; reset with the rest by rtcdiag.cli.main
            return func(*args, **kwargs)

        decorated: Any = click.option(
            "--deadline", type=click.FloatRange(min=0.1, max=86400), default=None, metavar="S",
            help="Seconds the whole run may take (like curl --max-time): what has not finished then is cut "
                 "short (allocations released) and reported as not finished; exit 3 unless something "
                 "failed.")(wrapper)
        decorated = click.option(
            "--timeout", type=click.FloatRange(min=0.05, max=600), default=default, metavar="S",
            help="Seconds before one transaction (request, DNS question, connect, handshake) counts as "
                 f"unanswered; the RFC 8489 retransmission schedule is scaled to fit (39.5 = RFC timing). "
                 f"Default: {shown}.")(decorated)
        return decorated  # type: ignore[no-any-return]

    return decorate


DEFAULT_CONCURRENCY = 32  # shown in --help; the same as rtcdiag.probes.slots.DEFAULT_CONCURRENCY


def concurrency_option(*, pass_to_command: bool = False) -> Callable[[F], F]:
    """``--concurrency N``: at most N probes in flight at once (one Binding, one TURN transport, one ICE
    server, one port each), and never more open descriptors than ``ulimit -n`` allows. With
    ``pass_to_command`` the command receives ``concurrency: int | None`` (``check``: its config may set it);
    else the cap is set here."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, concurrency: int | None, **kwargs: Any) -> Any:
            if pass_to_command:
                return func(*args, concurrency=concurrency, **kwargs)
            from rtcdiag.probes import slots

            slots.set_concurrency(concurrency or slots.DEFAULT_CONCURRENCY)
            return func(*args, **kwargs)

        default = "the config's concurrency, else " if pass_to_command else ""
        decorated: Any = click.option(
            "--concurrency", type=click.IntRange(1, 4096), default=None, metavar="N",
            help="Probes in flight at once (one per target x transport; fewer if `ulimit -n` is low). "
                 f"Default: {default}{DEFAULT_CONCURRENCY}.")(wrapper)
        return decorated  # type: ignore[no-any-return]

    return decorate


@contextlib.contextmanager
def watching(command: str, output: OutputOptions, *, level: int = 0) -> Iterator[ProgressView]:
    """The live status line of ``rtcdiag COMMAND`` on a terminal's stderr (never with --json), following the
    probes of every fan-out at ``level`` (:func:`rtcdiag.interrupt.watched`); the command may add its own."""
    from rtcdiag import interrupt
    from rtcdiag.report.progress import progress

    with progress(f"rtcdiag {command}", enabled=False if output.json else None) as view, \
            interrupt.watched(view, level):
        yield view


def run_async(coro: Coroutine[Any, Any, T], *, network: bool = True) -> T:
    """Run the probes' coroutine; Ctrl-C, SIGTERM and SIGHUP cut it short after cleanup ran (see
    :func:`_run`): the command still reports what finished, and exits with 128 + the signal.

    A command is a short process that makes many small objects (probe results, report, renderables):
    the cyclic garbage collector runs every 20,000 allocations instead of 700 (about 200 collections and
    ~0.1 s of a 60-URL ``check``, ~5 with this) and never walks what was loaded before the run
    (``gc.freeze``), and TLS connections get a small read buffer.
    """
    if network:  # (``network=False``: a command that only reads files, e.g. analyze, needs none of it)
        from rtcdiag.protocol.transport import keep_kernel_timestamps_on
        from rtcdiag.tls import limit_tls_read_buffer

        limit_tls_read_buffer()
        with contextlib.suppress(OSError):  # kernel receive timestamps on before the first probe (RTTs)
            keep_kernel_timestamps_on()
    if gc.get_threshold()[0] < GC_THRESHOLD:
        gc.set_threshold(GC_THRESHOLD, 10, 10)
    gc.freeze()  # what is loaded now (modules, classes) lives as long as the process: never walked
    return _run(coro)


GC_THRESHOLD = 20_000
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` where Ctrl-C (SIGINT), SIGTERM and SIGHUP interrupt the run (:mod:`rtcdiag.interrupt`):
    the main task is cancelled, so every ``finally`` runs (TURN allocations are released with Refresh
    LIFETIME=0, bounded by the probe's release timeout, sockets and peers closed); what had finished is
    returned and reported (the command then ends with 128 + the signal, see ``rtcdiag.cli.main``). When
    nothing could be returned, :class:`Interrupted` ends the command. A second signal during the cleanup
    gets the default action (the handlers are removed on the first)."""
    from rtcdiag import interrupt  # its state is reset once per command, by rtcdiag.cli.main
    # The result is handed over here, not as the main task's result: asyncio.run's SIGINT handler holds the
    # task, and looking the handler up when the run ends (signal.getsignal) formats its repr, results and
    # all (a 60-URL check spent a tenth of its time there).
    result: list[T] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        installed: list[signal.Signals] = []

        def on_signal(signum: signal.Signals) -> None:
            interrupt.request(int(signum), signum.name)
            for sig in installed:
                loop.remove_signal_handler(sig)
            installed.clear()
            if task is not None:
                task.cancel()

        for signum in STOP_SIGNALS:
            try:
                loop.add_signal_handler(signum, on_signal, signum)
            except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or no such signal
                continue
            installed.append(signum)

        def on_deadline(seconds: float) -> None:
            interrupt.request_deadline(seconds)
            if task is not None:
                task.cancel()

        seconds = interrupt.deadline()
        timer = loop.call_later(seconds, on_deadline, seconds) if seconds is not None else None
        try:
            result.append(await coro)
        finally:
            if timer is not None:
                timer.cancel()
            for sig in installed:
                loop.remove_signal_handler(sig)

    try:
        asyncio.run(main())
    except asyncio.CancelledError:
        stopped = interrupt.requested()
        if stopped is not None:
            cut = Interrupted(stopped.signum, stopped.name, message=stopped.message())
            cut.exit_code = stopped.exit_code  # 128 + the signal, or 3 for --deadline
            raise cut from None
        raise
    return result[0]


def _render_text(report: Report, fmt: str) -> str:
    if fmt == "json":
        from rtcdiag.report import json_report

        return json_report.render(report)
    if fmt == "markdown":
        from rtcdiag.report import markdown

        return markdown.render(report)
    if fmt == "junit":
        from rtcdiag.report import junit

        return junit.render(report)
    if fmt == "html":
        from rtcdiag.report import html

        return html.render(report)
    from rtcdiag.report import plain
    from rtcdiag.report.layout import VERBOSE

    text = plain.render(report, PLAIN_WIDTH, VERBOSE)  # a file gets all of it, as -v shows it
    if text is not None:
        return text
    from rtcdiag.report import console

    return console.render_plain(report, PLAIN_WIDTH, VERBOSE)


PLAIN_WIDTH = 100  # --report-file x.txt


def _print_console(report: Report, view: View) -> None:
    """The console report on stdout, as much as ``view`` says: without rich when stdout gets no colour
    (rtcdiag.report.plain prints the same text, for less start-up time), else with rich."""
    from rtcdiag.report import plain

    width = plain.stdout_width()
    text = plain.render(report, width, view) if width is not None else None
    if text is not None:
        sys.stdout.write(text)
        return
    from rtcdiag.report import console

    console.print_report(report, view=view)


_SUFFIX_FORMAT = {".json": "json", ".md": "markdown", ".markdown": "markdown", ".xml": "junit",
                  ".txt": "text", ".html": "html", ".htm": "html"}


def _check_output_path(option: str, path: Path) -> None:
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a folder, give a file name")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{option} {path}: not writable")


def check_output_path(option: str, path: Path) -> None:
    """One more output file of a command (e.g. ``check --openmetrics``), checked before the run starts."""
    _check_output_path(option, path)


def check_output_paths(junit: Path | None, report_file: Path | None, html: Path | None = None) -> None:
    """Usage errors (exit 2) for output files that cannot be written, checked before the run starts."""
    if report_file is not None and report_file.suffix.lower() not in _SUFFIX_FORMAT:
        raise UsageError(f"--report-file {report_file}: use a .json, .md, .xml, .txt or .html suffix")
    named = [("--junit", junit), ("--report-file", report_file), ("--html", html)]
    for option, path in named:
        if path is not None:
            _check_output_path(option, path)
    given = [(option, path, path.resolve()) for option, path in named if path is not None]
    for index, (option, path, resolved) in enumerate(given):
        for other, _, other_resolved in given[index + 1:]:
            if resolved == other_resolved:
                raise UsageError(f"{option} and {other} name the same file {path}")


def _write(path: Path, text: str) -> str | None:
    """Write one report file; the one-line reason when it fails (no truncated file is left behind)."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        return f"cannot write {path}: {exc.strerror or exc}"
    return None


def _write_stdout(write: Callable[[], None]) -> str | None:
    """Print the report; a full disk or I/O error on stdout is one line, not an internal error."""
    try:
        write()
        sys.stdout.flush()
    except OSError as exc:
        # Nothing more can reach this stdout; point it at /dev/null so the exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        if exc.errno == errno.EPIPE:
            return None  # the reader went away (`| head`): not an error of the run
        return f"cannot write the report to stdout: {exc.strerror or exc}"
    return None


def interruption_note(report: Report) -> str | None:
    """The note of a report cut short by a signal: when, and what had not finished (so is not in it)."""
    stopped = report.interrupted
    if stopped is None:
        return None
    after = max(stopped.at - report.started_at, 0.0)
    cut = f"--deadline {stopped.deadline_s:g} s reached" if stopped.deadline_s is not None else \
        f"Interrupted by {stopped.name} {after:.1f} s into the run"
    text = f"{cut}: this report shows only what had finished, judged on its own."
    if stopped.unfinished:
        text += f" Not finished (not judged): {', '.join(stopped.unfinished)}."
    return text


def emit(report: Report, output: OutputOptions, *, stdout: Callable[[], str] | None = None) -> int:
    """Render ``report`` to stdout and any requested files (each format built once); return its exit code.

    A run cut short by a signal (:mod:`rtcdiag.interrupt`) is reported as what had finished: the verdict
    says INTERRUPTED, a note names what had not, and the exit code is 128 + the signal. ``stdout``: the
    command's own console text instead of the console report (files are written as usual)."""
    from rtcdiag import interrupt

    stopped = interrupt.requested()
    if stopped is not None and report.interrupted is None:
        report.interrupted = stopped
        note = interruption_note(report)
        if note is not None:
            report.notes.append(note)
    if not report.duration_s:
        report.duration_s = round(time.time() - report.started_at, 3)
    rendered: dict[str, str] = {}

    def text(fmt: str) -> str:
        if fmt not in rendered:
            rendered[fmt] = _render_text(report, fmt)
        return rendered[fmt]

    check_output_paths(output.junit, output.report_file, output.html)  # callers without output_options

    def to_stdout() -> None:
        if stdout is not None:  # the command's own console form (lint speaks like a linter)
            sys.stdout.write(stdout())
        elif output.json:
            sys.stdout.write(text("json"))
            sys.stdout.write("\n")  # not concatenated: the JSON of a large check is megabytes
        elif output.markdown:
            sys.stdout.write(text("markdown"))
        else:
            _print_console(report, output.view)

    problems = [_write_stdout(to_stdout)]
    if stopped is not None:
        stopped.reported = True
    if output.junit is not None:
        problems.append(_write(output.junit, text("junit")))
    if output.report_file is not None:
        problems.append(_write(output.report_file, text(_SUFFIX_FORMAT[output.report_file.suffix.lower()])))
    if output.html is not None:
        problems.append(_write(output.html, text("html")))
    failed = [p for p in problems if p]
    if failed:
        raise OutputError("; ".join(failed), exit_code=report.exit_code or exitcodes.USAGE)
    return report.exit_code


# --- TURN credentials (values loaded by rtcdiag.secret_input) ---------------------------------------------


def secret_options(name: str, *, default_env: str, what: str) -> Callable[[F], F]:
    """Click options ``--NAME``, ``--NAME-env VAR`` and ``--NAME-file F`` passed as one ``SecretArgs``.

    The command receives a keyword argument ``NAME_args`` (dashes become underscores).
    """
    key = name.replace("-", "_")

    def decorate(func: F) -> F:
        options = [
            click.option(f"--{name}", f"_{key}_value", metavar="VALUE",
                         help=f"The {what} (visible in the process list; prefer --{name}-env or "
                              f"--{name}-file). Default: ${default_env}."),
            click.option(f"--{name}-env", f"_{key}_env", metavar="VAR",
                         help=f"Read the {what} from environment variable VAR."),
            click.option(f"--{name}-file", f"_{key}_file", metavar="FILE",
                         type=click.Path(dir_okay=False, path_type=Path),
                         help=f"Read the {what} from FILE (one trailing newline is ignored)."),
        ]

        @functools.wraps(func)  # keeps __click_params__ of options declared below this decorator
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs[f"{key}_args"] = SecretArgs(value=kwargs.pop(f"_{key}_value"),
                                               env=kwargs.pop(f"_{key}_env"),
                                               file=kwargs.pop(f"_{key}_file"))
            return func(*args, **kwargs)

        decorated: Any = wrapper
        for option in reversed(options):
            decorated = option(decorated)
        return decorated  # type: ignore[no-any-return]

    return decorate


def turn_credential_options(func: F) -> F:
    """``-u/--user``, ``--password[-env|-file]``, ``--secret[-env|-file]`` and ``--ttl`` for TURN commands.

    The command receives ``username``, ``password_args``, ``secret_args`` and ``ttl``.
    """
    decorators = [
        click.option("-u", "--user", "username", metavar="USER",
                     help=f"TURN user name (for REST credentials: the user part). Default: ${USERNAME_ENV}."),
        secret_options("password", default_env=PASSWORD_ENV, what="TURN password (long-term credentials)"),
        secret_options("secret", default_env=SECRET_ENV,
                       what="TURN REST API shared secret (coturn static-auth-secret)"),
        click.option("--ttl", type=click.IntRange(min=1), default=86400, show_default=True, metavar="S",
                     help="Lifetime in seconds of REST credentials generated from the secret."),
    ]
    decorated: Any = func
    for decorator in reversed(decorators):
        decorated = decorator(decorated)
    return decorated  # type: ignore[no-any-return]


def refuse_half_credentials(user_option: str | None, username: str | None, password: str | None,
                            secret: str | None, targets: Sequence[Target]) -> None:
    """A user name without a password (or a password without a user name) for TURN targets that take the
    command line's credentials: one line, exit 2, before any traffic (the run could only stop at the 401).

    ``user_option``: what ``-u`` said (None: the name came from $RTCDIAG_TURN_USERNAME, or there is none).
    """
    from rtcdiag.targets import half_credentials

    if not any(t.is_turn and not (t.username or t.credential) for t in targets):
        return  # nothing would use them (STUN only, or ice-servers entries with their own)
    half = half_credentials(username, password, secret)
    if half is None:
        return
    if username:
        given = f"-u {username}" if user_option is not None else f"${USERNAME_ENV} ({username})"
        raise UsageError(f"{given} without a password: give it in ${PASSWORD_ENV}, --password-env VAR or "
                         f"--password-file FILE (or a REST secret: ${SECRET_ENV}, --secret-env VAR)")
    raise UsageError(f"a password without a user name: add -u USER (or ${USERNAME_ENV})")


def ice_server_list(targets: tuple[str, ...], ice_servers: Path | None, user_option: str | None,
                    user: str | None, password: str | None, secret: str | None, ttl: int, *,
                    unusable: str) -> list[IceServer]:
    """The ICE servers of ``rtcdiag ice`` and ``rtcdiag browser``: URIs / ``host[:port]`` and an RTCIceServer
    file, with long-term credentials or REST credentials minted from ``secret`` (a ready-made
    ``expiry:user`` keeps exactly that name). Usage errors (exit 2) before any traffic; ``unusable`` says
    why no given server can be used."""
    from rtcdiag.checks.ice import ice_servers_from_targets
    from rtcdiag.targets import load_ice_servers, parse_targets

    given = parse_targets(targets, default_scheme="turn")
    refuse_half_credentials(user_option, user, password, secret, given)
    if secret is not None:
        from rtcdiag.protocol.credentials import DEFAULT_REST_USER, rest_login

        user, password, _ = rest_login(secret, user or DEFAULT_REST_USER, ttl)
    parsed = parse_targets(targets, default_scheme="turn", username=user, credential=password)
    if ice_servers is not None:
        parsed += load_ice_servers(ice_servers)
    if not parsed:
        raise UsageError("give at least one TURN/STUN URI, host[:port] or --ice-servers FILE")
    servers = ice_servers_from_targets(list(parsed))
    if not servers:
        raise UsageError(f"no usable server: {unusable}")
    for server in servers:
        if server.is_turn and (not server.username or not server.password):
            raise UsageError(f"{server.url}: TURN needs a user name and a password (-u USER and "
                             f"${PASSWORD_ENV}, --password-env VAR or --password-file F, or a REST secret)")
    return servers
