"""``rtcdiag check``'s plans: one :class:`ServerPlan` per server host of a config, and what every check that
runs per server derives from it (URLs with concrete transports, REST credentials, the Binding targets)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from rtcdiag.config import SHORTCUT_TRANSPORTS, CheckConfig, ServerConfig
from rtcdiag.targets import Target, expand_transports
from rtcdiag.triage.expectations import Expectations
from rtcdiag.triage.finding import Subject
from rtcdiag.triage.judgement import Judgement
from rtcdiag.triage.nat_result import LOCAL_NETWORK as NAT_SUBJECT

LOCAL_NETWORK = NAT_SUBJECT.server  # the subject of checks about this machine's network


@dataclass
class ServerPlan:
    """One server host of the config with the URLs, credentials and checks that apply to it."""

    host: str
    targets: list[Target]
    config: ServerConfig
    checks: tuple[str, ...]
    expect: Expectations
    ca: Path | None
    insecure: bool
    label: str = ""  # unique among the plans: the host, plus the server's name or a number if needed
    follow_redirects: bool = True  # config follow_redirects / check --no-follow
    shortcut_transports: tuple[str, ...] = SHORTCUT_TRANSPORTS  # of a host[:port] target (check -t)

    @property
    def turn_targets(self) -> list[Target]:
        return [t for t in self.targets if t.is_turn]

    @property
    def subject(self) -> Subject:
        """The plan's own subject; its label is also the server entry every finding of its jobs gets."""
        return Subject(self.label, self.host, entry=self.label)

    @property
    def suffix(self) -> str:
        """What tells this plan apart from another entry on the same host: ``(name)``, ``(#2)`` or ""."""
        return self.label.removeprefix(self.host).strip()

    @property
    def ca_file(self) -> str | None:
        return str(self.ca) if self.ca else None


def plan_servers(config: CheckConfig) -> list[ServerPlan]:
    plans: list[ServerPlan] = []
    for server in config.servers:
        hosts: dict[str, list[Target]] = {}
        for target in server.targets:
            hosts.setdefault(target.host, []).append(target)
        for host, targets in hosts.items():
            insecure = server.insecure if server.insecure is not None else config.insecure
            plans.append(ServerPlan(host=host, targets=targets, config=server,
                                    checks=config.server_checks(server), expect=config.server_expect(server),
                                    ca=server.ca or config.ca, insecure=insecure, label=host,
                                    follow_redirects=config.follow_redirects,
                                    shortcut_transports=config.shortcut_transports))
    counts: dict[str, int] = {}
    for plan in plans:
        counts[plan.host] = counts.get(plan.host, 0) + 1
    seen: dict[str, int] = {}
    labels: set[str] = set()
    for plan in plans:
        if counts[plan.host] > 1:
            seen[plan.host] = seen.get(plan.host, 0) + 1
            plan.label = f"{plan.host} ({plan.config.name or '#' + str(seen[plan.host])})"
            if plan.label in labels:  # two entries of one name on one host: still two entries
                plan.label = f"{plan.host} ({plan.config.name} #{seen[plan.host]})"
        labels.add(plan.label)
    return plans


def server_transports(plan: ServerPlan) -> list[Target]:
    """Each URL with a concrete transport, as a browser uses it: a stun:/turn: URL without ``?transport=``
    is UDP (RFC 7065 §3); only a ``host[:port]`` given on the command line is tried over UDP and TCP (or the
    transports of ``check -t``)."""
    return expand_transports(plan.targets, plan.shortcut_transports)


def with_credentials(plan: ServerPlan) -> list[Target]:
    """The plan's URLs with REST API credentials derived from its shared secret, if it has one."""
    server = plan.config
    if server.secret is None:
        return plan.targets
    from rtcdiag.protocol.credentials import DEFAULT_REST_USER, rest_login

    username, password, _ = rest_login(server.secret, server.username or DEFAULT_REST_USER, server.ttl)
    return [replace(t, username=username, credential=password) for t in plan.targets]


def usable_ice_targets(plans: list[ServerPlan]) -> list[Target]:
    """The URLs an ICE agent can use: every STUN URL, and TURN URLs that have credentials."""
    return [t for plan in plans for t in with_credentials(plan)
            if not t.is_turn or (t.username and t.credential)]


def assign_browser_entries(judgement: Judgement, plans: list[ServerPlan]) -> None:
    """Findings of a check over every server at once (a browser) about a URL (or, for a call, about a TURN
    host) belong to the one server entry that lists it; a URL of two entries stays the check's own (never
    attributed to either)."""
    by_endpoint: dict[tuple[str, int | None, str | None], set[str]] = {}
    by_host: dict[str, set[str]] = {}
    for plan in plans:
        by_host.setdefault(plan.host, set()).add(plan.label)
        for target in server_transports(plan):
            by_endpoint.setdefault((target.host, target.port, target.transport), set()).add(plan.label)

    def entry_of(subject: Subject) -> str | None:
        if subject.port is None:
            owners = by_host.get(subject.host, set())
        else:
            owners = by_endpoint.get((subject.host, subject.port, subject.transport), set())
        return next(iter(owners)) if len(owners) == 1 else None

    for finding in judgement.findings:
        entry = entry_of(finding.subject)
        if entry is not None:
            finding.subject = replace(finding.subject, entry=entry)
    judgement.steps = [replace(step, subject=replace(step.subject, entry=entry_of(step.subject)))
                       for step in judgement.steps]
