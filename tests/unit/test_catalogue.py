"""The findings catalogue: stable ids, every entry actionable, general/STUN entries complete."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

import rtcdiag
from rtcdiag.triage.catalogue import CATALOGUE, general, stun
from rtcdiag.triage.finding import CatalogueEntry, CatalogueError, Severity, Subject, make_finding

MINE = (*general.ENTRIES, *stun.ENTRIES)
# documented in general.py / stun.py
PLACEHOLDERS = {"server", "transport", "detail", "host", "names", "count", "check_name", "about"}

# Ids appear in JSON, JUnit and users' scripts: never rename one (add a new id instead).
REQUIRED = {
    "SERVER-UNREACHABLE": Severity.ERROR,
    "SERVER-REFUSED": Severity.ERROR,
    "UDP-BLOCKED": Severity.ERROR,
    "MALFORMED-REPLY": Severity.ERROR,
    "TLS-UNTRUSTED": Severity.ERROR,
    "TLS-EXPIRED": Severity.ERROR,
    "TLS-HOSTNAME": Severity.ERROR,
    "TLS-HANDSHAKE": Severity.ERROR,
    "DNS-FAILURE": Severity.ERROR,
    "DNS-NOT-WORKING": Severity.ERROR,
    "INTERNAL-ERROR": Severity.ERROR,
    "LOCAL-RESOURCES": Severity.WARNING,
    "NO-ROUTE": Severity.ERROR,
    "STUN-RFC3489-ONLY": Severity.WARNING,
    "STUN-INTERNAL-ADDRESS-LEAK": Severity.WARNING,
    "STUN-NO-FINGERPRINT": Severity.INFO,
    "STUN-ERROR-RESPONSE": Severity.ERROR,
    "STUN-NO-MAPPED-ADDRESS": Severity.ERROR,
    "STUN-ALG-REWRITE": Severity.WARNING,
    "STUN-ASYMMETRIC-RESPONSE": Severity.WARNING,
    "STUN-PACKET-LOSS": Severity.WARNING,
    "STUN-HIGH-RTT": Severity.WARNING,
    "STUN-ALTERNATE-SERVER": Severity.INFO,
    "STUN-UNKNOWN-ATTRIBUTES": Severity.INFO,
    "REDIRECT-REFUSED": Severity.ERROR,
    "REDIRECT-LOOP": Severity.ERROR,
    "STUN-MALFORMED-MAPPED-ADDRESS": Severity.ERROR,
    "REPLY-FLOOD": Severity.WARNING,
    "TLS-CERT-IGNORED": Severity.WARNING,
    "TLS-HANDSHAKE-STALL": Severity.ERROR,
    "SERVER-SLOW-REPLY": Severity.ERROR,
    "STUN-RFC3489-SERVER": Severity.INFO,
    "STUN-DROPS-OPTIONAL-ATTRIBUTES": Severity.WARNING,
}


def _fields(entry: CatalogueEntry) -> tuple[str, ...]:
    return (entry.title, entry.symptom, entry.cause, entry.fix)


def test_required_ids_exist_with_their_severity() -> None:
    assert {e.id: e.severity for e in MINE} == REQUIRED


def test_every_id_in_every_area_is_well_formed() -> None:
    for entry_id, entry in CATALOGUE.items():
        assert re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)+", entry_id), entry_id
        assert entry.id == entry_id
        assert entry.title and entry.cause and entry.fix, f"{entry_id} lacks title, cause or fix"


@pytest.mark.parametrize("entry", MINE, ids=lambda e: e.id)
def test_general_and_stun_entries_are_actionable(entry: CatalogueEntry) -> None:
    if entry.id not in ("INTERNAL-ERROR", "LOCAL-RESOURCES"):  # rtcdiag's own bug or limits: no RFC to cite
        assert re.search(r"RFC \d{3,4}|ITU-T", entry.reference), f"{entry.id} cites no RFC or standard"
    assert len(entry.cause) >= 60 and len(entry.fix) >= 40
    assert entry.fix[0].isupper() and entry.fix.rstrip().endswith((".", ")"))
    for text in _fields(entry):
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        assert names <= PLACEHOLDERS, f"{entry.id}: undocumented placeholder(s) {names - PLACEHOLDERS}"


@pytest.mark.parametrize("entry", MINE, ids=lambda e: e.id)
def test_make_finding_fills_every_placeholder(entry: CatalogueEntry) -> None:
    finding = make_finding(entry.id, Subject("stun:203.0.113.7:3478", "203.0.113.7", 3478, "udp"),
                           check="stun", step="binding", server="203.0.113.7:3478", transport="UDP",
                           detail="the detail", host="stun.example.org", names="a.example", count=1,
                           check_name="stun", about="stun:203.0.113.7:3478")
    for text in (finding.title, finding.symptom, finding.cause, finding.fix):
        assert "{" not in text, f"{entry.id}: unfilled placeholder in {text!r}"
    assert finding.severity is entry.severity


def test_udp_blocked_says_what_to_do() -> None:
    entry = CATALOGUE["UDP-BLOCKED"]
    assert entry.fix.startswith("Clients will fall back to TURN/TCP; make sure turns:443 exists")


def test_unknown_id_or_unfilled_placeholder_is_an_error_never_literal_braces() -> None:
    subject = Subject("s", "s")
    with pytest.raises(CatalogueError, match="transport"):
        make_finding("SERVER-UNREACHABLE", subject, check="stun", step="binding", server="127.0.0.1:9",
                     detail="x")
    with pytest.raises(CatalogueError, match="unknown finding id"):
        make_finding("NO-SUCH-ID", subject, check="stun", step="binding")


def _make_finding_calls() -> list[tuple[str, int, ast.Call]]:
    calls = []
    for path in sorted(Path(rtcdiag.__file__).parent.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == \
                    "make_finding":
                calls.append((str(path.relative_to(Path(rtcdiag.__file__).parent)), node.lineno, node))
    return calls


def test_every_rule_names_a_known_id_and_fills_every_placeholder() -> None:
    """Walks every make_finding call in the package: an unknown id or a missing placeholder fails here,
    never in front of a user (calls whose id is computed are covered by the rule tests). A rule names its id
    by a constant of ``rtcdiag.triage.ids`` (``ids.TURN_AUTH_401``) or, outside the rules, a literal."""
    from rtcdiag.triage import ids

    checked = 0
    problems: list[str] = []
    for where, line, call in _make_finding_calls():
        first = call.args[0] if call.args else None
        if isinstance(first, ast.Attribute) and isinstance(first.value, ast.Name) and first.value.id == "ids":
            finding_id = getattr(ids, first.attr, f"ids.{first.attr}")
        elif isinstance(first, ast.Constant):
            finding_id = first.value
        else:
            continue
        if finding_id not in CATALOGUE:
            problems.append(f"{where}:{line}: unknown id {finding_id}")
            continue
        if any(k.arg is None for k in call.keywords):
            continue  # **values: the rule's own tests fill it
        given = {k.arg for k in call.keywords}
        missing = CATALOGUE[finding_id].placeholders - given
        if missing:
            problems.append(f"{where}:{line}: {finding_id} lacks {sorted(missing)}")
        checked += 1
    assert problems == []
    assert checked >= 20, "the walk found too few rules: is make_finding still called by name?"


def test_suggested_commands_quote_what_they_are_given() -> None:
    """A command a fix suggests takes its values shell-quoted (`{url_sh}`): `turn:h:3478?transport=udp`
    unquoted is a glob in zsh (issue 22)."""
    import re

    commands = [span for entry in CATALOGUE.values() for text in (entry.cause, entry.fix)
                for span in re.findall(r"`([^`]*)`", text)
                if span.startswith(("rtcdiag ", "openssl ", "ss "))]
    assert commands  # the catalogue does suggest commands
    for span in commands:
        for name in re.findall(r"\{(\w+)\}", span):
            assert name.endswith("_sh"), f"`{span}`: {{{name}}} is not shell-quoted"


def test_shell_quoted_placeholders_fill_from_their_parameter() -> None:
    import shlex

    from rtcdiag.triage.finding import Subject, make_finding

    url = "turn:127.0.0.1:3478?transport=udp"
    entry = CATALOGUE["ANALYZE-TURN-UNREACHABLE"]
    finding = make_finding(entry.id, Subject("x"), check="analyze", step="gather",
                           **{name: url if name == "url" else "1" for name in entry.placeholders})
    assert f"`rtcdiag turn-check '{url}'`" in finding.fix
    command = finding.fix.split("`rtcdiag turn-check ")[1].split("`")[0]
    assert shlex.split(command) == [url]


def _ids_module_text() -> str:
    """rtcdiag/triage/ids.py as the catalogue says it must be (one constant per entry, by area)."""
    from importlib import import_module

    from rtcdiag.triage.catalogue import AREAS

    current = Path(__file__).resolve().parents[2] / "rtcdiag" / "triage" / "ids.py"
    text = current.read_text(encoding="utf-8")
    head = text[: text.index("\n# --- ")] if "\n# --- " in text else text
    body = []
    for area in AREAS:
        body.append(f"\n# --- {area} ---\n")
        for entry in import_module(f"rtcdiag.triage.catalogue.{area}").ENTRIES:
            body.append(f'{entry.id.replace("-", "_")}: Final = "{entry.id}"\n')
    return head + "\n" + "".join(body).lstrip("\n")


def test_the_id_constants_are_exactly_the_catalogue() -> None:
    """Rules name findings by ``rtcdiag.triage.ids`` constants: one per catalogue entry, named after its id,
    and nothing else (``RTCDIAG_UPDATE_IDS=1`` rewrites the module after a catalogue change)."""
    import os

    from rtcdiag.triage import ids

    constants = {name: value for name, value in vars(ids).items() if name.isupper()}
    expected = _ids_module_text()
    path = Path(ids.__file__)
    if os.environ.get("RTCDIAG_UPDATE_IDS") == "1":
        path.write_text(expected, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == expected
    assert set(constants.values()) == set(CATALOGUE)
    assert all(name == value.replace("-", "_") for name, value in constants.items())


# Modules outside the rules that still spell an id (the engine and commands side of issue 21 replaces them).
_ID_LITERALS_LEFT: set[str] = set()  # none left (issue 21)


def test_no_rule_spells_a_finding_id_as_a_string() -> None:
    """Outside the catalogue (its entries are the ids' one home) a finding id is an ``ids`` constant: a
    literal that equals a catalogue id is a typo waiting to happen (issue 21)."""
    import io
    import tokenize

    root = Path(rtcdiag.__file__).parent
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        where = str(path.relative_to(root))
        if where.startswith("triage/catalogue/") or where == "triage/ids.py" or where in _ID_LITERALS_LEFT:
            continue
        for token in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
            if token.type != tokenize.STRING:
                continue
            try:
                value = ast.literal_eval(token.string)
            except (ValueError, SyntaxError):
                continue  # an f-string
            if isinstance(value, str) and value in CATALOGUE:
                found.append(f"{where}:{token.start[0]}: {value}")
    assert found == []
