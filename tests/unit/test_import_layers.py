"""The import contracts in pyproject.toml ([tool.importlinter]) admit no new violation.

``lint-imports`` in .ci/run is the real gate. This test runs it too (about a second) so a new upward or
forbidden import fails in pytest at once, naming the import.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# importer -> imported, as lint-imports prints them (line numbers left out).
KNOWN_VIOLATIONS: frozenset[tuple[str, str]] = frozenset()  # none left: keep it that way

_EDGE = re.compile(r"^\s*-?\s*([\w.]+) -> ([\w.]+) \(l\.[\d, ]+\)", re.MULTILINE)


def _lint_imports() -> str:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}  # one violation per line, no wrapping
    done = subprocess.run([exe, "--no-cache", "--no-logo"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert "Contracts:" in output, f"lint-imports did not check the contracts:\n{output}"
    return output


def test_no_new_import_violations() -> None:
    output = _lint_imports()
    found = set(_EDGE.findall(output))
    new = sorted(found - KNOWN_VIOLATIONS)
    assert not new, "imports that break the contracts in pyproject.toml:\n" + "\n".join(
        f"  {a} -> {b}" for a, b in new) + f"\n\nlint-imports said:\n{output}"
