"""Click options shared by the subcommands: output and report files, TLS, redirects, lists, timeout,
concurrency."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import click

from rtcdiag import timeouts
from rtcdiag.errors import UsageError

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from rtcdiag.report.layout import View



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
                                         and SUFFIX_FORMAT.get(self.report_file.suffix.lower()) == "html")

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
    from rtcdiag.tls import ca_file_problem

    problem = ca_file_problem(path)
    if problem is not None:
        raise UsageError(f"--ca {path}: {problem}")


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


DEFAULT_TIMEOUT_S = timeouts.DEFAULT_S


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
            from rtcdiag.checks.engine import set_concurrency

            set_concurrency(concurrency)
            return func(*args, **kwargs)

        default = "the config's concurrency, else " if pass_to_command else ""
        decorated: Any = click.option(
            "--concurrency", type=click.IntRange(1, 4096), default=None, metavar="N",
            help="Probes in flight at once (one per target x transport; fewer if `ulimit -n` is low). "
                 f"Default: {default}{DEFAULT_CONCURRENCY}.")(wrapper)
        return decorated  # type: ignore[no-any-return]

    return decorate


# --- output paths, checked before any traffic ----------------------------------------------------------


SUFFIX_FORMAT = {".json": "json", ".md": "markdown", ".markdown": "markdown", ".xml": "junit",
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
    if report_file is not None and report_file.suffix.lower() not in SUFFIX_FORMAT:
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
