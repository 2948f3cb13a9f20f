"""The browser probes' page scripts are real JavaScript files (rtcdiag/probes/pages/*.js, package data): each
parses (``node --check``), evaluates to one function (what Playwright's ``evaluate`` and Firefox's Marionette
call with one argument), and is what the probes load."""

from __future__ import annotations

import shutil
import subprocess
from importlib.resources import files
from pathlib import Path

import pytest

from rtcdiag.probes import browser_ice, interop
from rtcdiag.probes.pages import page_script

PAGES = sorted(Path(str(files("rtcdiag.probes.pages"))).glob("*.js"))
NODE = shutil.which("node")  # installed with the README's npm line (tests/peers)
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (README: the npm line)")
# A file must evaluate to a function: the drivers await ``(script)(arg)``.
IS_FUNCTION = ("const src = require('fs').readFileSync(process.argv[1], 'utf8');"
               "const f = (0, eval)('(' + src + ')');"
               "if (typeof f !== 'function') { console.error('not a function: ' + typeof f);"
               " process.exit(1); }")


def test_every_page_script_is_package_data_the_probes_load() -> None:
    names = {p.name for p in PAGES}
    assert names == {"trickle_ice.js", "interop_setup.js", "interop_settle.js", "interop_stats.js"}
    loaded = {name: page_script(name) for name in names}
    assert loaded["trickle_ice.js"] == browser_ice.PAGE_SCRIPT
    assert loaded["interop_setup.js"] == interop.SETUP and loaded["interop_settle.js"] == interop.SETTLE
    assert loaded["interop_stats.js"] == interop.STATS
    assert browser_ice.PAGE_SCRIPT.lstrip().startswith("async (s) =>")


@needs_node
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_script_is_valid_javascript_and_one_function(page: Path) -> None:
    assert NODE is not None
    checked = subprocess.run([NODE, "--check", str(page)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    evaluated = subprocess.run([NODE, "-e", IS_FUNCTION, str(page)], capture_output=True, text=True,
                               timeout=30)
    assert evaluated.returncode == 0, evaluated.stderr


@needs_node
def test_the_check_catches_a_syntax_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.js"
    broken.write_text(page_script("interop_stats.js").replace("return out;", "return out;;)"))
    assert NODE is not None
    assert subprocess.run([NODE, "--check", str(broken)], capture_output=True, timeout=30).returncode != 0
