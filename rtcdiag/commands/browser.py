"""``rtcdiag browser``: the Trickle ICE page as a command, run by a real headless Chromium."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rtcdiag import exitcodes
from rtcdiag.commands.shared.options import OutputOptions, output_options, timeout_option
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_async, watching
from rtcdiag.commands.shared.secrets import ice_server_list, turn_credential_options
from rtcdiag.errors import UsageError
from rtcdiag.secret_input import SecretArgs, load_turn_secrets, load_username
from rtcdiag.triage.finding import Subject

if TYPE_CHECKING:
    from rtcdiag.checks.browser import BrowserIceResult
    from rtcdiag.checks.engine import Ran
    from rtcdiag.checks.interop import InteropResult

@click.command(name="browser", epilog=exitcodes.epilog(
    "rtcdiag browser 'turn:turn.example.com:3478?transport=udp' -u alice --password-env TURN_PASSWORD",
    "rtcdiag browser --ice-servers ice-servers.json --relay-only",
    "rtcdiag browser --ice-servers ice-servers.json --save-dump run.json.gz"))
@click.argument("targets", nargs=-1, metavar="[URI|HOST[:PORT]|FILE.json]...")
@click.option("--ice-servers", "ice_servers", type=click.Path(dir_okay=False, path_type=Path),
              help="A browser RTCIceServer JSON file (urls, username, credential).")
@turn_credential_options
@click.option("--relay-only", is_flag=True,
              help="Gather with iceTransportPolicy \"relay\" and make only the relay-only call.")
@click.option("--browser-path", "browser_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The Chromium or Chrome executable (default: /usr/bin/chromium, $RTCDIAG_CHROMIUM or "
                   "chromium on PATH).")
@click.option("--save-dump", "save_dump", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Keep the run's chrome://webrtc-internals dump (gzip when FILE ends in .gz); it holds "
                   "no credentials. `rtcdiag analyze FILE` reads it.")
@click.option("--engine", type=click.Choice(["chromium", "firefox", "both"]), default="chromium",
              show_default=True,
              help="Which browser runs the page: headless Chromium (Playwright), Debian's firefox-esr "
                   "(Marionette), or both, one after the other, in one report.")
@click.option("--interop", is_flag=True,
              help="With --engine both: also a call between a Chromium peer and a Firefox peer (signalling "
                   "relayed by rtcdiag), relay-only and normal, each direction, data channel and fake "
                   "audio+video: codecs, DTLS version and mismatches.")
@click.option("--messages", type=click.IntRange(min=0, max=1000), default=10, show_default=True,
              help="Data-channel echo messages per call.")
@click.option("--compare/--no-compare", default=True, show_default=True,
              help="Also run aioice (`rtcdiag ice`) with the same servers and compare.")
@timeout_option(default=10.0)
@output_options
def command(targets: tuple[str, ...], ice_servers: Path | None, username: str | None,
            password_args: SecretArgs, secret_args: SecretArgs, ttl: int, relay_only: bool,
            browser_path: Path | None, save_dump: Path | None, engine: str, interop: bool, messages: int,
            compare: bool, timeout: float, output: OutputOptions) -> int:
    """Run the Trickle ICE page in a real headless Chromium against your ICE servers.

    Gathers with each server alone and with all together (every candidate and every icecandidateerror),
    makes a relay-only call and a normal call between two peer connections in the page with a data-channel
    echo, judges the run's own chrome://webrtc-internals dump with the rules of `rtcdiag analyze`, and
    compares with aioice (`rtcdiag ice`) on the same servers. Needs Chromium and the `browser` extra.
    """
    from rtcdiag.checks.browser import BROWSER, browser_notes, browser_tables, engine_plans, unavailable
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.jsonable import to_jsonable
    from rtcdiag.report.build import build_report
    from rtcdiag.timeouts import Timeouts

    started = time.time()
    user = load_username(username)
    password, secret = load_turn_secrets(password_args, secret_args)
    servers = ice_server_list(targets, ice_servers, username, user, password, secret, ttl,
                              unusable="Chromium does not take stuns: URLs")
    engines = ("chromium", "firefox") if engine == "both" else (engine,)
    if interop and engine != "both":
        raise UsageError("--interop needs --engine both (a call between Chromium and Firefox)")
    if engine == "both" and browser_path is not None:
        raise UsageError("--browser-path names one browser: give it with --engine chromium or firefox")
    for name in engines:
        why = unavailable(name, browser_path)
        if why is not None:
            raise UsageError(why)
    plans = engine_plans(servers, engines, executable=str(browser_path) if browser_path else None,
                         relay_only=relay_only, messages=messages, timeouts=Timeouts(timeout),
                         compare=compare)
    jobs = [Job(BROWSER, plan, Subject(f"browser {name}")) for name, plan in zip(engines, plans, strict=True)]
    from rtcdiag.triage.judgement import Judgement

    ran_all = []
    interop_ran: Ran[InteropResult] | None = None
    with watching("browser", output) as view:
        for name, job in zip(engines, jobs, strict=True):  # one browser at a time: 2 shared cores
            page = view.add(f"{name.capitalize()}: the Trickle ICE page, {len(servers)} URL(s), gathering "
                            "and calls")
            ran_all.append(run_async(execute(job)))
            view.done(page)
        if interop:
            from rtcdiag.checks.interop import INTEROP, InteropPlan

            calls = view.add("Chromium <-> Firefox calls")
            interop_ran = run_async(execute(Job(INTEROP, InteropPlan(servers, timeout_s=timeout,
                                                                     messages=messages), Subject("interop"))))
            view.done(calls)
    judgement = Judgement.merge([ran.judgement for ran in ran_all])
    notes: list[str] = []
    tables = []
    results: dict[str, object] = {}
    for name, ran in zip(engines, ran_all, strict=True):
        evidence = ran.result
        if evidence is None:
            continue
        notes += browser_notes(evidence)
        tables += browser_tables(evidence)
        key = "browser" if name == engines[0] else name
        results[key] = to_jsonable(evidence.page)
        if evidence.ice is not None:
            results["ice"] = to_jsonable(evidence.ice)
        if save_dump is not None:
            notes.append(_save(evidence.page, save_dump, several=len(engines) > 1))
    if interop_ran is not None:
        from rtcdiag.checks.interop import interop_tables

        judgement.extend(interop_ran.judgement)
        if interop_ran.result is not None:
            tables += interop_tables(interop_ran.result)
            results["interop"] = to_jsonable(interop_ran.result)
    report = build_report("browser", judgement, tables=tables, results=results or None, notes=notes,
                          started_at=started)
    dumps = [r.result.dump for r in ran_all if r.result is not None and r.result.dump is not None]
    if output.wants_html and dumps:  # the run's own dumps, drawn
        from rtcdiag.checks.call_charts import call_sections

        report.visuals = call_sections(dumps, report.roots)
    return emit(report, output)


def _save(page: BrowserIceResult, path: Path, several: bool = False) -> str:
    """Write the run's evidence (masked: a registered secret never reaches the file, though the browsers
    keep only the servers' URLs); gzip when the name ends in .gz. Chromium: its webrtc-internals dump;
    Firefox: its report (getAllStats), and its ICE log beside it (FILE's name + ``.ice-log.txt``). With two
    engines each file name gets the engine before its suffixes."""
    import json

    from rtcdiag.checks.browser import dump_text, gzip_dump
    from rtcdiag.redact import mask

    if several:
        path = path.with_name(f"{page.engine}-{path.name}")
    if page.engine == "firefox":
        if not page.firefox_report:
            return f"--save-dump {path}: Firefox gave no report, nothing written"
        text = page.firefox_report.decode("utf-8", "replace")
        log_path = path.with_name(path.name.removesuffix(".gz").removesuffix(".json") + ".ice-log.txt"
                                  + (".gz" if path.suffix.lower() == ".gz" else ""))
        log = mask("\n".join(page.firefox_log))
        _write(log_path, gzip_dump(log) if log_path.suffix.lower() == ".gz" else log.encode("utf-8"))
        json.loads(text)  # Firefox's own JSON, written as given
    else:
        if not page.internals_dump:
            return f"--save-dump {path}: Chromium gave no dump, nothing written"
        text = dump_text(page.internals_dump)
    masked = mask(text)
    _write(path, gzip_dump(masked) if path.suffix.lower() == ".gz" else masked.encode("utf-8"))
    extra = " (a secret found in it was masked)" if masked != text else ""
    what = "Firefox report and ICE log" if page.engine == "firefox" else "webrtc-internals dump"
    return f"{what} saved to {path}{extra}"


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"--save-dump {path}: cannot write: {exc.strerror or exc}") from None
