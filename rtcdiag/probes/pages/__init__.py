"""The JavaScript the browser probes run in a real browser, one function expression per ``.js`` file (package
data, checked as JavaScript by tests/unit/test_page_scripts.py): the drivers (Playwright's ``evaluate``,
Firefox's Marionette) await it with one argument."""

from __future__ import annotations

import functools
from importlib.resources import files


@functools.cache
def page_script(name: str) -> str:
    """The text of ``name`` (e.g. ``"trickle_ice.js"``) from this package."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
