"""``rtcdiag lint`` rules over the fixtures in tests/fixtures/lint (written for these tests): a hardened
config has no findings, each rule fixture gets exactly its finding(s), the wide-open one gets every error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rtcdiag.lint.advisories import ADVISORIES, COMPILED
from rtcdiag.lint.turnserver_conf import read_file
from rtcdiag.lint.versions import KnownVersion, VersionSource, parse_version
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Status
from rtcdiag.triage.catalogue import CATALOGUE
from rtcdiag.triage.finding import Severity
from rtcdiag.triage.judgement import Judgement
from rtcdiag.triage.lint import SENSITIVE, LintPlan, judge

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lint"
RULES = sorted((FIXTURES / "rules").glob("*.conf"))


def version(text: str) -> KnownVersion:
    parsed = parse_version(text)
    return KnownVersion(parsed, VersionSource.OPTION, text) if parsed else \
        KnownVersion(None, VersionSource.UNKNOWN, "no version given")


def lint(name: str | Path, ver: str) -> Judgement:
    return judge(LintPlan(read_file(FIXTURES / name if isinstance(name, str) else name), version(ver)))


def test_hardened_config_is_clean_for_its_version() -> None:
    assert lint("hardened-4.17.conf", "4.17.1").findings == []
    report = build_report("lint", lint("hardened-4.17.conf", "4.17.1"))
    assert {c.name for c in report.checks} == {"auth", "peer-acl", "admin", "tls", "operations", "version"}
    assert all(c.status is Status.PASS for c in report.checks)


def test_hardened_46_config_has_no_errors_on_46_and_is_rejected_on_47() -> None:
    old = lint("hardened.conf", "4.6.1")
    assert not [f for f in old.findings if f.severity is Severity.ERROR]
    # 4.6.1 is affected by CVE-2026-40613 on ARM64 only (a condition the config cannot show): a warning.
    assert {f.id for f in old.findings} == {"LINT-ADVISORY"}
    assert all(f.severity is Severity.WARNING for f in old.findings)
    new = lint("hardened.conf", "4.17.1")
    rejected = [f for f in new.findings if f.id == "LINT-OPTION-REJECTED"]
    assert {f.params["option"] for f in rejected} == {"no-tlsv1", "no-tlsv1_1"}
    assert all(f.severity is Severity.ERROR and "refuses to start" in f.symptom for f in rejected)


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.stem)
def test_each_rule_fixture_gets_exactly_its_findings(path: Path) -> None:
    header = re.search(r"version=(\S+) expect=(\S+)", path.read_text())
    assert header is not None
    expect = set(header.group(2).split(","))
    assert path.stem in expect
    judgement = lint(path, header.group(1))
    got = {f.id for f in judgement.findings if f.severity is not Severity.INFO or f.id in expect}
    assert got == expect
    for finding in judgement.findings:
        assert "{" not in finding.symptom + finding.fix and finding.fix
        assert finding.check == "lint" and finding.subject.server == str(path)


def test_wide_open_config_gets_every_error_with_fix() -> None:
    judgement = lint("wide-open.conf", "4.6.1")
    errors = {f.id for f in judgement.findings if f.severity is Severity.ERROR}
    assert {"LINT-NO-AUTH", "LINT-LOOPBACK-PEERS", "LINT-SERVER-RELAY", "LINT-CLI-EXPOSED",
            "LINT-CLI-WEAK-PASSWORD", "LINT-TLS-NO-CERT", "LINT-PEER-IP-MALFORMED", "LINT-PEER-ACL-MISSING",
            "LINT-PEER-IPV4-MAPPED", "LINT-ADVISORY"} <= errors
    warnings = {f.id for f in judgement.findings if f.severity is Severity.WARNING}
    assert {"LINT-ALLOWED-PEER-OVERLAP", "LINT-MULTICAST-PEERS", "LINT-TCP-RELAY", "LINT-NO-QUOTA",
            "LINT-LONG-LIFETIME", "LINT-RELAY-PORTS", "LINT-RUNS-AS-ROOT", "LINT-NO-REALM",
            "LINT-PROMETHEUS-EXPOSED", "LINT-PRIVATE-NO-EXTERNAL-IP", "LINT-OLD-TLS"} <= warnings
    missing = next(f for f in judgement.findings if f.id == "LINT-PEER-ACL-MISSING")
    # 10.0.0.0/8 was written as CIDR (malformed, ignored by coturn): still reported missing, with its fix.
    assert "10.0.0.0/8 (private)" in missing.symptom
    assert "denied-peer-ip=10.0.0.0-10.255.255.255" in missing.snippet  # one line each (issue 22)
    assert "169.254.0.0/16 (link-local)" in missing.symptom
    # 4.6.1 denies 0.0.0.0/8 and :: by itself (CVE-2020-26262 fix, 4.5.2): not reported.
    assert "0.0.0.0/8 (unspecified)" not in missing.symptom


def test_peer_acl_defaults_follow_the_version() -> None:
    from rtcdiag.lint.turnserver_conf import parse_text

    text = "realm=example.org\nuse-auth-secret\n"  # no denied-peer-ip at all

    def missing(ver: str) -> str:
        judgement = judge(LintPlan(parse_text(text, "t.conf"), version(ver)))
        return next(f for f in judgement.findings if f.id == "LINT-PEER-ACL-MISSING").symptom

    zero = "0.0.0.0/8 (unspecified)"
    assert zero in missing("4.5.1.3") and zero not in missing("4.5.2")
    assert "169.254.0.0/16" in missing("4.13.0") and "169.254.0.0/16" not in missing("4.13.1")
    assert "64:ff9b::/96" in missing("4.13.0") and "64:ff9b::/96" not in missing("4.13.1")
    assert "127.0.0.0/8" not in missing("4.6.1")  # denied unless allow-loopback-peers
    mapped = lambda ver: {f.id for f in judge(LintPlan(parse_text(text, "t"), version(ver))).findings}  # noqa: E731
    assert "LINT-PEER-IPV4-MAPPED" in mapped("4.8.0")
    assert "LINT-PEER-IPV4-MAPPED" in mapped("4.12.0")  # default loopback guard (GHSA-w4hf-cr3w-6h79)
    assert "LINT-PEER-IPV4-MAPPED" not in mapped("4.13.0")


def test_unknown_version_says_so_and_checks_no_advisories() -> None:
    judgement = lint("hardened-4.17.conf", "none")
    ids = {f.id for f in judgement.findings}
    assert "LINT-VERSION-UNKNOWN" in ids and "LINT-ADVISORY" not in ids


def test_advisory_table_carries_sources_and_is_consistent() -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", COMPILED)
    ids = [a.id for a in ADVISORIES]
    assert len(ids) == len(set(ids))
    assert {"CVE-2020-26262", "CVE-2026-27624"} <= set(ids)
    for advisory in ADVISORIES:
        assert re.fullmatch(r"(CVE-\d{4}-\d{4,}|GHSA(-[a-z0-9]{4}){3})", advisory.id), advisory.id
        assert advisory.introduced < advisory.fixed
        assert advisory.sources and all(s.startswith("https://") for s in advisory.sources)
        assert advisory.allows
    cve = next(a for a in ADVISORIES if a.id == "CVE-2020-26262")
    assert cve.affects((4, 5, 1, 3)) and not cve.affects((4, 5, 2))
    mapped = next(a for a in ADVISORIES if a.id == "CVE-2026-27624")
    assert mapped.affects((4, 8, 0)) and not mapped.affects((4, 9, 0)) and not mapped.affects((4, 4, 5, 2))


def test_sensitive_ranges_are_special_purpose_and_catalogued() -> None:
    from rtcdiag.addresses import AddressScope, scope_of

    for cidr in SENSITIVE:
        first = cidr.split("/")[0]
        assert scope_of(first) is not AddressScope.PUBLIC or cidr == "64:ff9b::/96", cidr
    for entry_id in ("LINT-NO-AUTH", "LINT-PEER-ACL-MISSING", "TURN-ACL-PEER-PERMITTED",
                     "APP-STATIC-CREDENTIAL"):
        assert entry_id in CATALOGUE


# --- zeros, as coturn reads them (rtcdiag.lint.numbers; the real coturn: test_lint_coturn.py) ----------

HARDENED_BASE = (FIXTURES / "hardened-4.17.conf").read_text()


def _over_hardened(lines: str, ver: str = "4.17.1") -> dict[str, list[Severity]]:
    from rtcdiag.lint.turnserver_conf import parse_text

    # The hardened config's quota lines are dropped so that each case decides the quota rule by itself.
    base = "\n".join(line for line in HARDENED_BASE.splitlines()
                     if not line.startswith(("user-quota", "total-quota", "max-bps", "bps-capacity")))
    found: dict[str, list[Severity]] = {}
    for f in judge(LintPlan(parse_text(base + "\n" + lines, "t.conf"), version(ver))).findings:
        found.setdefault(f.id, []).append(f.severity)
    return found


@pytest.mark.parametrize(("lines", "limited"), [
    ("user-quota=0\ntotal-quota=0", False),  # the issue: 0 is *no* quota to coturn
    ("max-bps=0\nbps-capacity=0", False),
    ("user-quota=x", False),  # atoi("x") is 0
    ("", False),
    ("user-quota=12", True),
    ("total-quota=500", True),
    ("user-quota=12abc", True),  # atoi stops at the first non-digit: 12
    ("max-bps=0\nuser-quota=0\nuser-quota=3", True),  # the last line wins
    ("max-bps=64000", True),
])
def test_a_quota_of_zero_is_no_quota(lines: str, limited: bool) -> None:
    found = _over_hardened(lines)
    assert ("LINT-NO-QUOTA" not in found) is limited, found


def test_no_quota_says_which_zeros_were_read_as_no_limit() -> None:
    from rtcdiag.lint.turnserver_conf import parse_text

    judgement = judge(LintPlan(parse_text("user-quota=0\ntotal-quota=0\n", "t.conf"), version("4.17.1")))
    [finding] = [f for f in judgement.findings if f.id == "LINT-NO-QUOTA"]
    assert "(`user-quota=0`, `total-quota=0`: coturn reads 0 as no limit)" in finding.symptom


def test_negative_total_quota_and_capacity_without_max_bps_are_errors() -> None:
    assert _over_hardened("total-quota=-1")["LINT-BAD-VALUE"] == [Severity.ERROR]
    assert _over_hardened("bps-capacity=1000000")["LINT-BAD-VALUE"] == [Severity.ERROR]
    assert "LINT-BAD-VALUE" not in _over_hardened("bps-capacity=1000000\nmax-bps=64000")


@pytest.mark.parametrize(("line", "ver", "severity"), [
    ("max-allocate-lifetime=0", "4.17.1", Severity.ERROR),
    ("max-allocate-lifetime=0", "4.6.1", Severity.ERROR),
    ("channel-lifetime=0", "4.13.0", Severity.ERROR),  # swept at once from 4.13.0
    ("channel-lifetime=0", "4.12.0", Severity.WARNING),  # never expires before
    ("permission-lifetime=0", "4.17.1", Severity.ERROR),
    ("permission-lifetime=0", "4.6.1", Severity.WARNING),
    ("permission-lifetime=0", "", Severity.WARNING),  # version unknown: both said
    ("stale-nonce=0", "4.17.1", Severity.INFO),
])
def test_a_zero_lifetime_is_what_this_coturn_makes_of_it(line: str, ver: str, severity: Severity) -> None:
    assert _over_hardened(line, ver)["LINT-ZERO-VALUE"] == [severity]


@pytest.mark.parametrize("line", ["stale-nonce", "stale-nonce=600", "channel-lifetime=600",
                                  "max-allocate-lifetime=1800", "permission-lifetime"])
def test_no_zero_no_finding(line: str) -> None:
    assert "LINT-ZERO-VALUE" not in _over_hardened(line)  # an empty value is coturn's default, not 0


def test_min_port_zero_is_port_zero_not_the_default() -> None:
    # min-port=0: ports 0-65535, the listening ports inside
    assert _over_hardened("min-port=0")["LINT-RELAY-PORTS"] == [Severity.WARNING]
    assert _over_hardened("min-port=49152\nmax-port=0")["LINT-RELAY-PORTS"] == [Severity.WARNING]
    assert "LINT-RELAY-PORTS" not in _over_hardened("listening-port=0")
