"""`rtcdiag --version` must stay fast: heavy dependencies load only where they are used."""

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
