"""The golden view of rtcdiag's JSON reports: the safety net of the refactor of issue 21.

"No behaviour change: the same findings, root causes and JSON structure (timings aside) on the selftest and
on every committed fixture before and after." A run's *view* is a list of short lines, one fact each:

    exit 1 fail                                    exit code and status
    verdict FAIL: 1 root cause(s); ...             the verdict line (offline)
    root SEVERITY REF                              each root cause ...
    root REF explains REF                          ... and each finding it explains
    finding SEVERITY ID subject=... host=... port=... transport=... entry=... check=... step=...
            explained_by=... params=...            every finding (offline: params with values, a value
                                                   over 100 characters as its start and its digest;
                                                   live: param names only)
    check SUITE | NAME | STATUS | IDS              every report row (the JUnit testcases)
    table TITLE | rows=N digest=...                every table (offline: columns and rows hashed)
    note ...                                       notes (offline)
    texts digest=...                               title/symptom/cause/fix/reference/evidence (offline)
    results digest=...                             the results block, whole (offline)
    structure HASH                                 every JSON key path with its types, recursively
                                                   (and each table's columns); a second one for the
                                                   results block (live)
    stderr ...                                     the first stderr line of a run that printed no report
    entry ID AREA SEVERITY | diagnosis: ...        ``explain --json``: each catalogue entry

The lines after the first are sorted (the order of findings and rows is not compared: a registry that runs
checks in another order is not a change the rule names); live, a line seen twice counts once. A
structure's key paths are stored once per golden file (``structures``: hash -> paths) and expanded in a
diff; a list's items are merged under ``path[]``, the keys of ``params`` and any key that is not a name
(an address, a channel number) under ``path.*``. Offline, the structure of the ``results`` blocks is the
union over the group's runs (``results_structure``): each run's results are compared whole by digest, and
their shape follows the data (a null here, an empty list there).

Normalisations (each applied to every string, keys included, before anything is recorded or hashed):
- the repository's path -> ``<repo>``, a temporary folder -> ``<tmp>``, the test coturn's CA file ->
  ``<ca>``; offline runs name their files relative to the fixture's folder (run there), as a user would;
- live runs: the ports of the servers the test started (coturn's, the dead port) -> ``<port:NAME>``
  (chosen at random per run); the selftest's own coturn ports are read from its note;
- ``expires in N days`` -> ``expires in <N> days`` (a REST user name's expiry counted from today, lint);
- the ``timing`` block and every ``duration_s`` are kept as structure only (never as values).
Live runs record no verdict line, parameter values, table rows, notes, evidence or results values (RTTs,
mapped addresses and relay ports are the network's, not the tool's); see tests/integration/
test_golden_live.py for the load-dependent findings a live run leaves out and why.

``RTCDIAG_UPDATE_GOLDEN=1`` rewrites the golden files (for an intended change: review the diff).
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"
UPDATE = os.environ.get("RTCDIAG_UPDATE_GOLDEN") == "1"
MAX_DIFFS_SHOWN = 25  # runs whose diff is printed in full; the names of the others follow


@dataclass(frozen=True)
class Run:
    """One rtcdiag invocation: ``name`` is its key in the golden file; ``args`` go after ``rtcdiag``, run in
    the folder ``cwd`` (file names relative to it: the report names them as given)."""

    name: str
    args: tuple[str, ...]
    cwd: Path = REPO
    env: tuple[tuple[str, str], ...] = ()  # environment variables set for this run only


@dataclass
class Normaliser:
    """What varies from run to run, replaced in every string: exact texts, then regular expressions."""

    texts: dict[str, str] = field(default_factory=dict)  # literal -> placeholder (longest first)
    ports: dict[int, str] = field(default_factory=dict)  # port -> name (digits not part of a longer number)

    def __post_init__(self) -> None:
        self.texts.setdefault(str(REPO), "<repo>")

    def __call__(self, text: str) -> str:
        for literal in sorted(self.texts, key=len, reverse=True):
            text = text.replace(literal, self.texts[literal])
        for port, name in self.ports.items():
            text = re.sub(rf"(?<![\w.]){port}(?!\w)", f"<port:{name}>", text)
        return _DAYS.sub(r"\1<N>\2", text)


_DAYS = re.compile(r"(expires in )\d+( days?)")


def normalised(data: Any, norm: Callable[[str], str]) -> Any:
    """Every string of ``data`` (dictionary keys included) through ``norm``."""
    if isinstance(data, dict):
        return {norm(str(k)): normalised(v, norm) for k, v in data.items()}
    if isinstance(data, list):
        return [normalised(v, norm) for v in data]
    if isinstance(data, str):
        return norm(data)
    return data  # a number stays a number (its type is structure); a port in a finding line is text there


# ---- the view ---------------------------------------------------------------------------------------------

def _type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "object"}.get(
        type(value), type(value).__name__)


_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAPS = frozenset({"params"})  # objects whose keys are data, not fields (a finding's parameters)


def structure(data: Any, path: str = "") -> dict[str, set[str]]:
    """Every key path of ``data`` with the types seen there: a list's items merged under ``path[]``, the
    keys of a map (``params``, or any key that is not a name: an address, a channel number, a file) under
    ``path.*``."""
    out: dict[str, set[str]] = {}

    def walk(value: Any, at: str) -> None:
        out.setdefault(at or ".", set()).add(_type(value))
        if isinstance(value, dict):
            is_map = at.rsplit(".", 1)[-1] in MAPS
            for key, item in value.items():
                walk(item, f"{at}.{key if not is_map and _FIELD.fullmatch(key) else '*'}")
        elif isinstance(value, list):
            for item in value:
                walk(item, f"{at}[]")

    walk(data, path)
    return out


def structure_lines(data: Any) -> list[str]:
    return [f"{path}: {'|'.join(sorted(types))}" for path, types in sorted(structure(data).items())]


def digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]


MAX_SHOWN = 100  # a longer parameter value is shown by its start and the digest of all of it


def _shown(value: Any) -> Any:
    text = str(value)
    return value if len(text) <= MAX_SHOWN else f"{text[:60]}... ({len(text)} chars, digest {digest(text)})"


def _finding_line(f: Mapping[str, Any], *, values: bool) -> str:
    params = f.get("params") or {}
    shown = (json.dumps({k: _shown(v) for k, v in params.items()}, sort_keys=True, ensure_ascii=False)
             if values else ",".join(sorted(params)))
    subject = " ".join(f"{k}={f.get(k)!r}" if isinstance(f.get(k), str) else f"{k}={f.get(k)}"
                       for k in ("subject", "host", "port", "transport", "entry", "check", "step"))
    return (f"finding {f.get('severity')} {f.get('id')} {subject} explained_by={f.get('explained_by')} "
            f"params={shown}")


TEXT_KEYS = ("title", "symptom", "cause", "fix", "reference", "evidence")


def view(code: int, report: dict[str, Any] | None, stderr: str, *, live: bool,
         skip_findings: Iterable[str] = ()) -> tuple[list[str], list[str], list[list[str]]]:
    """(the first lines of a run: exit code and verdict, the other lines in any order, its structure in
    parts: the report without its results, then the results).
    ``report``: the JSON, normalised already. ``skip_findings``: ids left out of a live view (the live test
    says why for each)."""
    if report is None:
        first = (stderr.strip().splitlines() or [""])[0]
        return [f"exit {code} (no report)", f"stderr {first}"], [], []
    if "entries" in report:  # rtcdiag explain --json: the catalogue
        return [f"exit {code} explain"], _explain_view(report), [structure_lines(report)]
    report = without_findings(report, set(skip_findings))
    findings = report.get("findings", [])
    head = [f"exit {code} {report.get('status')}"]
    if not live:
        head.append(f"verdict {report.get('verdict')}")
    lines: list[str] = []
    for root in report.get("root_causes", []):
        lines.append(f"root {root.get('severity')} {root.get('ref')}")
        lines += [f"root {root.get('ref')} explains {ref}" for ref in root.get("explains", [])]
    lines += [_finding_line(f, values=not live) for f in findings]
    for c in report.get("checks", []):
        ids = ",".join(sorted(c.get("finding_ids", [])))
        lines.append(f"check {c.get('suite')} | {c.get('name')} | {c.get('status')} | {ids}")
    for t in report.get("tables", []):
        rows = t.get("rows", [])
        cells = "" if live else f" | rows={len(rows)} digest={digest([t.get('columns'), rows])}"
        lines.append(f"table {t.get('title')}{cells}")
    if not live:
        lines += [f"note {n}" for n in report.get("notes", [])]
        texts = [{k: f.get(k) for k in TEXT_KEYS} for f in findings]
        lines.append(f"texts digest={digest(sorted(texts, key=digest))}")
        lines.append(f"results digest={digest(report.get('results'))}")
    envelope = {k: v for k, v in report.items() if k != "results"}
    columns = sorted({"columns: " + ", ".join(map(str, t.get("columns", [])))
                      for t in report.get("tables", [])})
    parts = [structure_lines(envelope) + columns, structure_lines({"results": report.get("results")})]
    return head, lines, parts


def without_findings(report: dict[str, Any], skipped: set[str]) -> dict[str, Any]:
    """The report as if the findings with these ids had not been made: gone from the findings, the roots,
    what the roots explain and the rows; a row or a report whose only warnings they were passes."""
    if not skipped or not any(f.get("id") in skipped for f in report.get("findings", [])):
        return report
    refs = {f.get("ref") for f in report.get("findings", []) if f.get("id") in skipped}
    findings = [f for f in report.get("findings", []) if f.get("ref") not in refs]
    roots = [{**r, "explains": [e for e in r.get("explains", []) if e not in refs]}
             for r in report.get("root_causes", []) if r.get("ref") not in refs]
    checks = []
    for c in report.get("checks", []):
        ids = [i for i in c.get("finding_ids", []) if i not in skipped]
        kept = [r for r in c.get("finding_refs", []) if r not in refs]
        row = {**c, "finding_ids": ids, "finding_refs": kept}
        if c.get("status") == "warn" and not ids:
            row["status"] = "pass"
        checks.append(row)
    status = report.get("status")
    if status == "warn" and not any(r.get("severity") == "warning" for r in roots):
        status = "pass"
    return {**report, "findings": findings, "root_causes": roots, "checks": checks, "status": status}


def _explain_view(report: dict[str, Any]) -> list[str]:
    lines = []
    for e in report["entries"]:
        texts = digest({k: e.get(k) for k in TEXT_KEYS})
        lines.append(f"entry {e.get('id')} {e.get('area')} {e.get('severity')} "
                     f"| diagnosis: {e.get('diagnosis')} | texts digest={texts}")
    return lines


# ---- running ----------------------------------------------------------------------------------------------

def run_in_process(args: Iterable[str]) -> tuple[int, str, str]:
    """``rtcdiag ARGS`` in this process (the command's own code path, its exit code): stdout, stderr."""
    from rtcdiag.cli import main
    from rtcdiag.redact import clear_secrets

    clear_secrets()  # as in a fresh process: no secret registered by an earlier run masks this one's text
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def parse_report(stdout: str) -> dict[str, Any] | None:
    try:
        loaded = json.loads(stdout)
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


@dataclass
class Recorded:
    args: list[str]
    lines: list[str]
    structure: list[list[str]]  # parts, each recorded once per golden file and named by its digest


def record(args: list[str], code: int, stdout: str, stderr: str, norm: Normaliser, *, live: bool,
           skip_findings: Iterable[str] = ()) -> Recorded:
    report = parse_report(stdout)
    if report is not None:
        report = normalised(report, norm)
    head, body, shape = view(code, report, norm(stderr), live=live, skip_findings=skip_findings)
    body = [norm(line) for line in body]
    # Sorted once normalised (the order of findings and rows is not compared); live, a set: two findings
    # told apart only by a value a live view leaves out are one line (e.g. the relay candidates of two ICE
    # agents, on coturn's first or second listening address as it chooses).
    lines = [norm(line) for line in head] + sorted(set(body) if live else body)
    return Recorded([norm(a) for a in args], lines, shape)


# ---- the golden file --------------------------------------------------------------------------------------

def compare(group: str, runs: Mapping[str, Recorded], *, results_union: bool, directory: Path = GOLDEN,
            update: bool = UPDATE) -> None:
    """Compare with tests/golden/GROUP.json (or rewrite it under RTCDIAG_UPDATE_GOLDEN=1); on a mismatch,
    fail with a readable diff per run. ``results_union``: the structure of the ``results`` blocks is kept
    once for the group (the union of the runs') instead of per run: offline, each run's results are
    compared whole by their digest already, and their shape varies with the data (a null here, an empty
    list there)."""
    path = directory / f"{group}.json"
    structures: dict[str, list[str]] = {}
    union: dict[str, set[str]] = {}
    current: dict[str, dict[str, Any]] = {}
    for name in sorted(runs):
        rec = runs[name]
        keys = []
        for i, part in enumerate(rec.structure):
            if results_union and i == 1:
                for line in part:
                    at, types = line.rsplit(": ", 1)
                    union.setdefault(at, set()).update(types.split("|"))
                continue
            keys.append(digest(part))
            structures[keys[-1]] = part
        current[name] = {"args": rec.args, "view": [*rec.lines, *(f"structure {key}" for key in keys)]}
    if update:
        directory.mkdir(parents=True, exist_ok=True)
        data = {"about": "tests/golden_view.py: the golden views of rtcdiag's reports; "
                         "RTCDIAG_UPDATE_GOLDEN=1 rewrites this file", "runs": current,
                "structures": dict(sorted(structures.items())), "results_structure": _merged(union)}
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        return
    if not path.exists():
        raise AssertionError(f"{path} is missing: run with RTCDIAG_UPDATE_GOLDEN=1 to record it")
    golden = json.loads(path.read_text())
    old_runs: dict[str, Any] = golden["runs"]
    old_shapes: dict[str, list[str]] = golden["structures"]
    problems: list[str] = []
    old_union = golden.get("results_structure", [])
    if _merged(union) != old_union:
        diff = difflib.unified_diff(old_union, _merged(union), "golden", "now", n=1, lineterm="")
        problems.append("the structure of the results blocks (all runs):\n" + "\n".join(diff))
    for name in sorted(set(old_runs) | set(current)):
        if name not in current:
            problems.append(f"{name}: in the golden file but not run (a fixture removed or renamed?)")
            continue
        if name not in old_runs:
            problems.append(f"{name}: new run, not in the golden file ({' '.join(current[name]['args'])})")
            continue
        new_view, old_view = current[name]["view"], old_runs[name]["view"]
        if new_view == old_view and current[name]["args"] == old_runs[name]["args"]:
            continue
        old_lines = _with_structure(old_view, old_shapes)
        new_lines = _with_structure(new_view, structures)
        diff = difflib.unified_diff(old_lines, new_lines, "golden", "now", n=1, lineterm="")
        args = " ".join(current[name]["args"])
        problems.append(f"{name}: rtcdiag {args}\n" + "\n".join(diff))
    if problems:
        shown = problems[:MAX_DIFFS_SHOWN]
        rest = [p.splitlines()[0] for p in problems[MAX_DIFFS_SHOWN:]]
        raise AssertionError(
            f"{len(problems)} difference(s) from {path} (an intended change: rerun with "
            "RTCDIAG_UPDATE_GOLDEN=1 and review the diff of the golden file):\n\n"
            + "\n\n".join(shown) + ("\n\nand also:\n" + "\n".join(rest) if rest else ""))


def _merged(union: Mapping[str, set[str]]) -> list[str]:
    return [f"{at}: {'|'.join(sorted(types))}" for at, types in sorted(union.items())]


def _with_structure(view_lines: list[str], shapes: Mapping[str, list[str]]) -> list[str]:
    out: list[str] = []
    for line in view_lines:
        out.append(line)
        if line.startswith("structure "):
            out += [f"  {s}" for s in shapes.get(line.split()[1], ["(unknown structure)"])]
    return out
