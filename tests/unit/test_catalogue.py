"""The findings catalogue: stable ids, every entry actionable, general/STUN entries complete."""

from __future__ import annotations

import re
import string

import pytest

from rtcdiag.triage.catalogue import CATALOGUE, general, stun
from rtcdiag.triage.finding import CatalogueEntry, Severity, make_finding

MINE = (*general.ENTRIES, *stun.ENTRIES)
PLACEHOLDERS = {"server", "transport", "detail", "host"}  # documented in general.py / stun.py

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
    assert re.search(r"RFC \d{3,4}|ITU-T", entry.reference), f"{entry.id} cites no RFC or standard"
    assert len(entry.cause) >= 60 and len(entry.fix) >= 40
    assert entry.fix[0].isupper() and entry.fix.rstrip().endswith((".", ")"))
    for text in _fields(entry):
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        assert names <= PLACEHOLDERS, f"{entry.id}: undocumented placeholder(s) {names - PLACEHOLDERS}"


@pytest.mark.parametrize("entry", MINE, ids=lambda e: e.id)
def test_make_finding_fills_every_placeholder(entry: CatalogueEntry) -> None:
    finding = make_finding(entry.id, subject="stun:203.0.113.7:3478", server="203.0.113.7:3478",
                           transport="UDP", detail="the detail", host="stun.example.org")
    for text in (finding.title, finding.symptom, finding.cause, finding.fix):
        assert "{" not in text, f"{entry.id}: unfilled placeholder in {text!r}"
    assert finding.severity is entry.severity


def test_udp_blocked_says_what_to_do() -> None:
    entry = CATALOGUE["UDP-BLOCKED"]
    assert entry.fix.startswith("Clients will fall back to TURN/TCP; make sure turns:443 exists")


def test_placeholders_left_visible_when_not_given() -> None:
    finding = make_finding("SERVER-UNREACHABLE", server="127.0.0.1:9")
    assert "127.0.0.1:9" in finding.symptom and "{transport}" in finding.symptom
