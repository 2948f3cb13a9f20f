"""Above the rules, a check is found through its registry entry, never by comparing its name: no
``each.check == "turn"`` (or ``in ("browser", ...)``) in the checks, commands, exporter, config or CLI.
A new check then needs no switch anywhere (issue 21). The registry module itself is the one place that
names them."""

import ast
from pathlib import Path

import pytest

from rtcdiag.checks import registry

ROOT = Path(__file__).resolve().parents[2] / "rtcdiag"
SCOPE = [*sorted((ROOT / "checks").rglob("*.py")), *sorted((ROOT / "commands").rglob("*.py")),
         *sorted((ROOT / "exporter").rglob("*.py")), ROOT / "config.py", ROOT / "cli.py"]
NAMES = set(registry.MODULES)


def _is_check_name(node: ast.expr) -> bool:
    """``x.check``, ``x.name`` of a check, or a variable called ``check``."""
    return (isinstance(node, ast.Attribute) and node.attr in ("check", "checks")) or (
        isinstance(node, ast.Name) and node.id in ("check", "checks", "check_name"))


def _literals(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for element in node.elts for s in _literals(element)]
    return []


@pytest.mark.parametrize("path", [p for p in SCOPE if p.name != "registry.py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_check_name_is_compared_as_a_string(path: Path) -> None:
    hits: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        if any(_is_check_name(side) for side in sides):
            hits += [f"line {node.lineno}: {s!r}" for side in sides for s in _literals(side) if s in NAMES]
    assert not hits, f"{path.relative_to(ROOT)} compares check names as strings: {hits}"


def test_the_guard_finds_the_pattern_it_forbids() -> None:
    tree = ast.parse('if each.check == "browser" or "turn" in plan.checks:\n    pass\n')
    compares = [n for n in ast.walk(tree) if isinstance(n, ast.Compare)]
    assert all(any(_is_check_name(s) for s in [c.left, *c.comparators]) for c in compares)
    assert [s for c in compares for side in [c.left, *c.comparators] for s in _literals(side)] == [
        "browser", "turn"]
