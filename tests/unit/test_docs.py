"""The README and docs/ (issue 22): the two set-up commands first, a quick start on one screen, the command
reference one page per command, real output that is the test suite's, and no link that leads nowhere."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

from rtcdiag.cli import cli

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
OUTPUT_BLOCK = re.compile(r"<!-- output: (?P<name>[\w.-]+) -->\n```console\n(?P<text>.*?)\n```", re.S)


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_anchor(m.group(1)) for m in re.finditer(r"(?m)^#+ (.+)$", text)}


def test_the_readme_starts_with_the_two_set_up_commands() -> None:
    text = README.read_text()
    blocks = re.findall(r"```(\w*)\n(.*?)\n```", text, re.S)
    assert [lang for lang, _ in blocks[:2]] == ["sh", "sh"]
    install, tests = (body for _, body in blocks[:2])
    assert "\n" not in install and install.endswith("rtcdiag selftest")
    assert "\n" not in tests and tests.endswith(".venv/bin/python -m pytest -q")
    assert text.index("## Set up") < text.index("## Quick start") < text.index("## Commands")
    assert not re.search(r"(?m)^#+ .*$", text[:text.index("## Set up")].split("\n", 1)[1])


def test_the_quick_start_is_one_screen_and_the_readme_short() -> None:
    text = README.read_text()
    quick = text.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    commands = [line for line in quick.splitlines() if not line.startswith("#")]
    assert len(commands) == 5 and len(quick.splitlines()) <= 24
    assert len(text.splitlines()) <= 200  # 2,034 lines before issue 22


def test_every_command_has_its_page_linked_from_the_readme() -> None:
    names = set(cli.list_commands(click.Context(cli)))
    pages = {p.stem for p in (DOCS / "commands").glob("*.md")}
    assert names == pages
    text = README.read_text()
    for name in names:
        assert f"](docs/commands/{name}.md)" in text, name
        page = (DOCS / "commands" / f"{name}.md").read_text()
        assert page.startswith(f"# `rtcdiag {name}"), name


def test_output_shown_is_what_the_test_suite_made() -> None:
    """Each output block of the README is a file of docs/output, written by test_first_screen.py from what
    the commands print; RTCDIAG_WRITE_EXAMPLES=1 copies them here too."""
    text = README.read_text()
    blocks = list(OUTPUT_BLOCK.finditer(text))
    assert len(blocks) >= 3
    if os.environ.get("RTCDIAG_WRITE_EXAMPLES") == "1":
        text = OUTPUT_BLOCK.sub(lambda m: f"<!-- output: {m['name']} -->\n```console\n"
                                f"{(DOCS / 'output' / m['name']).read_text().rstrip()}\n```", text)
        README.write_text(text)
        blocks = list(OUTPUT_BLOCK.finditer(text))
    for block in blocks:
        made = DOCS / "output" / block["name"]
        assert made.exists(), made
        assert block["text"] == made.read_text().rstrip("\n"), f"{block['name']}: RTCDIAG_WRITE_EXAMPLES=1"


def test_every_relative_link_leads_somewhere() -> None:
    broken = []
    for page in _pages():
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, broken
