"""`rtcdiag --version` must stay fast: heavy dependencies load only where they are used."""

import os
import subprocess
import sys

import pytest

HEAVY = ("scapy", "aioice", "dns.resolver", "rich", "asyncio", "ssl", "playwright")


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_cli_start_imports_nothing_heavy(argv: list[str]) -> None:
    code = (
        "import sys, rtcdiag.cli as c\n"
        f"try:\n    c.main({argv!r})\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == "", f"imported at start-up: {done.stderr.strip()}"


def test_browser_help_does_not_import_playwright() -> None:
    """Playwright (the ``browser`` extra) loads only when ``rtcdiag browser`` runs a browser."""
    code = (
        "import sys, rtcdiag.cli as c\n"
        "try:\n    c.main(['browser', '--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "print(','.join(m for m in ('playwright', 'aioice') if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == "", f"imported by browser --help: {done.stderr.strip()}"


def test_quick_stun_to_a_pipe_imports_no_renderer_nor_heavy_dependency() -> None:
    """`rtcdiag stun` with one target, its report going to a pipe (no colour), runs without rich's console
    (rtcdiag.report.plain prints the same text), scapy, aioice, dnspython or Playwright. The target is a
    closed port on loopback: the report has a finding block to lay out."""
    code = (
        "import sys, rtcdiag.cli as c\n"
        "try:\n    c.main(['stun', '127.0.0.1:9', '--timeout', '0.5'])\nexcept SystemExit as e:\n"
        "    assert e.code == 1, e.code\n"
        "print(','.join(m for m in ('rich.console', 'rich.text', 'scapy', 'aioice', 'dns.resolver',"
        " 'playwright') if m in sys.modules), file=sys.stderr)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert "ERROR SERVER-REFUSED" in done.stdout, done.stdout
    assert done.stderr.strip() == "", f"imported: {done.stderr.strip()}"


# What the one-target commands must not load (issue 20, "quick answers fast"): `check`'s plans and config
# (rtcdiag.config loads tomllib, the signalling probe's options and every check's option types), the TURN
# and signalling results, the renderers of formats not asked for, and shutil (bz2, lzma: only the status
# line on a terminal uses it).
NOT_ON_THE_QUICK_PATH = (
    "rtcdiag.config", "rtcdiag.checks.plan", "tomllib", "rtcdiag.secret_input", "rtcdiag.triage.expectations",
    "rtcdiag.probes.signal", "rtcdiag.probes.signal_result", "rtcdiag.probes.turn_result",
    "rtcdiag.report.console", "rtcdiag.report.json_report", "rtcdiag.report.junit", "rtcdiag.report.markdown",
    "rtcdiag.report.html", "shutil", "bz2", "lzma", "json",
)


@pytest.mark.parametrize(("argv", "exit_code", "loaded"), [
    (["stun", "127.0.0.1:9", "--timeout", "0.5"], 1, "rtcdiag.probes.binding"),
    (["nat-type", "--server", "stun:127.0.0.1:9", "--timeout", "0.5"], 3, "rtcdiag.probes.nat"),
])
def test_quick_commands_load_only_their_own_path(argv: list[str], exit_code: int, loaded: str) -> None:
    """`stun` and `nat-type` with one target (a closed port on loopback: a SERVER-REFUSED finding to
    report), their report to a pipe: none of NOT_ON_THE_QUICK_PATH is imported, while the command's own
    probe is (the check would pass vacuously if the run stopped before probing)."""
    code = (
        "import sys, rtcdiag.cli as c\n"
        f"try:\n    c.main({argv!r})\nexcept SystemExit as e:\n    assert e.code == {exit_code}, e.code\n"
        f"assert {loaded!r} in sys.modules\n"
        f"print(','.join(m for m in {NOT_ON_THE_QUICK_PATH!r} if m in sys.modules), file=sys.stderr)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert "SERVER-REFUSED" in done.stdout, done.stdout
    assert done.stderr.strip() == "", f"imported on the quick path: {done.stderr.strip()}"


def test_check_without_nat_servers_or_signalling_loads_neither_check() -> None:
    """`rtcdiag check` loads the NAT and signalling checks (their probes and rules) only for a config with
    ``nat_servers`` or ``[[signalling]]``: without them they would plan no job. The TURN check runs (a closed
    port on loopback: refused)."""
    code = (
        "import sys, rtcdiag.cli as c\n"
        "try:\n    c.main(['check', 'turn:127.0.0.1:9', '-u', 'alice', '--password-env', 'RTCDIAG_TEST_PW',"
        " '--timeout', '0.5'])\nexcept SystemExit as e:\n    assert e.code == 1, e.code\n"
        "assert 'rtcdiag.checks.turn' in sys.modules\n"
        "print(','.join(m for m in ('rtcdiag.checks.nat', 'rtcdiag.checks.signal', 'rtcdiag.probes.signal',"
        " 'rtcdiag.triage.signal') if m in sys.modules), file=sys.stderr)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env["RTCDIAG_TEST_PW"] = "not-a-secret"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert "SERVER-REFUSED" in done.stdout, done.stdout
    assert done.stderr.strip() == "", f"loaded without input: {done.stderr.strip()}"
