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
