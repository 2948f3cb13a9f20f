"""``rtcdiag browser``: the Trickle ICE page as a command, run by a real headless Chromium."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from rtcdiag import exitcodes
from rtcdiag.commands.common import (
    OutputOptions,
    emit,
    ice_server_list,
    output_options,
    run_async,
    timeout_option,
    turn_credential_options,
    watching,
)
from rtcdiag.errors import UsageError
from rtcdiag.secret_input import SecretArgs, load_turn_secrets, load_username
from rtcdiag.triage.finding import Subject

INSTALL_HINT = "apt-get install -y chromium (or --browser-path PATH) and pip install 'rtcdiag[browser]'"


def browser_unavailable(path: Path | None) -> str | None:
    """Why no browser run can happen here, in one line with how to install (None: it can). Nothing is
    imported: Playwright loads only when the run starts."""
    import importlib.util

    from rtcdiag.probes.browser import find_chromium

    if path is not None and not (path.is_file() and os.access(path, os.X_OK)):
        return f"--browser-path {path}: not an executable file"
    if path is None and find_chromium() is None:
        return f"no browser: Chromium is not installed; install: {INSTALL_HINT}"
    if importlib.util.find_spec("playwright") is None:
        return f"no browser driver: Playwright for Python is not installed; install: {INSTALL_HINT}"
    return None


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
@click.option("--messages", type=click.IntRange(min=0, max=1000), default=10, show_default=True,
              help="Data-channel echo messages per call.")
@click.option("--compare/--no-compare", default=True, show_default=True,
              help="Also run aioice (`rtcdiag ice`) with the same servers and compare.")
@timeout_option(default=10.0)
@output_options
def command(targets: tuple[str, ...], ice_servers: Path | None, username: str | None,
            password_args: SecretArgs, secret_args: SecretArgs, ttl: int, relay_only: bool,
            browser_path: Path | None, save_dump: Path | None, messages: int, compare: bool, timeout: float,
            output: OutputOptions) -> int:
    """Run the Trickle ICE page in a real headless Chromium against your ICE servers.

    Gathers with each server alone and with all together (every candidate and every icecandidateerror),
    makes a relay-only call and a normal call between two peer connections in the page with a data-channel
    echo, judges the run's own chrome://webrtc-internals dump with the rules of `rtcdiag analyze`, and
    compares with aioice (`rtcdiag ice`) on the same servers. Needs Chromium and the `browser` extra.
    """
    from rtcdiag.checks.browser import BROWSER, BrowserPlan, browser_notes, browser_tables
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.jsonable import to_jsonable
    from rtcdiag.probes.browser_ice import BrowserIceOptions
    from rtcdiag.probes.ice import IceOptions
    from rtcdiag.report.build import build_report

    started = time.time()
    user = load_username(username)
    password, secret = load_turn_secrets(password_args, secret_args)
    servers = ice_server_list(targets, ice_servers, username, user, password, secret, ttl,
                              unusable="Chromium does not take stuns: URLs")
    why = browser_unavailable(browser_path)
    if why is not None:
        raise UsageError(why)
    options = BrowserIceOptions(executable=str(browser_path) if browser_path else None, relay_only=relay_only,
                                messages=messages, timeout_s=timeout)
    ice_options = IceOptions(relay_only=relay_only, packets=min(messages, 20), gather_timeout_s=timeout,
                             connect_timeout_s=timeout) if compare else None
    with watching("browser", output) as view:
        page = view.add(f"Chromium: the Trickle ICE page, {len(servers)} URL(s), gathering and calls")
        ran = run_async(execute(Job(BROWSER, BrowserPlan(servers, options, ice_options), Subject("browser"))))
        view.done(page)
    evidence = ran.result
    notes = browser_notes(evidence) if evidence is not None else []
    if save_dump is not None and evidence is not None:
        notes.append(_save(evidence.page.internals_dump, save_dump))
    results = None
    if evidence is not None:
        results = {"browser": to_jsonable(evidence.page), "ice": to_jsonable(evidence.ice)}
    report = build_report("browser", ran.judgement, tables=browser_tables(evidence) if evidence else [],
                          results=results, notes=notes, started_at=started)
    return emit(report, output)


def _save(raw: bytes, path: Path) -> str:
    """Write the dump (masked: a registered secret never reaches the file, though Chromium's dumps hold
    only the servers' URLs); gzip when the name ends in .gz."""
    from rtcdiag.checks.browser import dump_text, gzip_dump
    from rtcdiag.redact import mask

    if not raw:
        return f"--save-dump {path}: Chromium gave no dump, nothing written"
    text = dump_text(raw)
    masked = mask(text)
    data = gzip_dump(masked) if path.suffix.lower() == ".gz" else masked.encode("utf-8")
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"--save-dump {path}: cannot write: {exc.strerror or exc}") from None
    extra = " (a secret found in it was masked)" if masked != text else ""
    return f"webrtc-internals dump saved to {path}{extra}"
