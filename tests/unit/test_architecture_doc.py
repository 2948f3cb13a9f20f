"""docs/architecture.md's worked example of a check in the registry is real code: every Python block under
"Worked example: the `ports` check in the registry" appears, line for line, in rtcdiag/checks/ports.py, and
the registry loads that module's entry under the key the page names."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
SECTION = "## Worked example: the `ports` check in the registry"


def _blocks() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_every_code_block_of_the_example_is_in_the_module() -> None:
    source = (ROOT / "rtcdiag" / "checks" / "ports.py").read_text(encoding="utf-8")
    blocks = _blocks()
    assert len(blocks) >= 4
    for block in blocks:
        assert block.strip() in source, f"not in rtcdiag/checks/ports.py:\n{block}"


def test_the_example_entry_is_what_the_registry_loads() -> None:
    from rtcdiag.checks import ports, registry
    from rtcdiag.config import CHECKS

    entry = registry.entry(registry.Key.PORTS)
    assert entry is ports.ENTRIES[0]
    assert entry.check is ports.PORTS and entry.server_job is ports.server_job
    assert entry.metrics is ports.metrics and "ports" in CHECKS
