"""DNS probe: A/AAAA and the STUN/TURN SRV records of a name, with the resolver used and timing per query.

``await lookup("example.com")`` returns a :class:`DnsResult` that records every query (outcome, answers,
CNAME chain, time). SRV records are listed in RFC 2782 order; their targets are resolved and checked for
aliases; published IPv6 addresses get a quick reachability test (TCP connect / STUN binding) so that
"AAAA published but unreachable" can be reported. dnspython is imported inside the functions.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rtcdiag.addresses import format_hostport, parse_ip
from rtcdiag.redact import ECHO

if TYPE_CHECKING:
    from rtcdiag.probes.reach import PortResult

# RFC 5389 §9 / RFC 5766 §6 / RFC 5928 §3: the SRV services a STUN/TURN client looks up, in the order
# RFC 5928 lists the transports (UDP, then TCP, then TLS over TCP).
SRV_SERVICES: tuple[str, ...] = ("_stun._udp", "_stun._tcp", "_turn._udp", "_turn._tcp", "_turns._tcp")
DEFAULT_STUN_PORT = 3478  # RFC 8489 §8
MAX_IPV6_CHECKS = 6  # bound the reachability tests however many AAAA records are published
DEFAULT_DNS_PORT = 53
# The control question asked when NAME does not resolve at all (resolver failure or NXDOMAIN), to tell "this
# name is broken" from "DNS does not work here": the A record of example.com. RFC 2606 / RFC 6761 reserve
# it and IANA keeps it published, so any resolver that can resolve anything answers it; unlike the root NS
# (which a resolver may answer from its priming hints while recursion is broken) it takes the same path
# as a real lookup, and it says nothing about the name being diagnosed.
CONTROL_NAME = "example.com"


class QueryOutcome(StrEnum):
    """What the resolver answered to one question."""

    ANSWER = "answer"
    NODATA = "nodata"  # the name exists, no record of this type
    NXDOMAIN = "nxdomain"
    TIMEOUT = "timeout"
    SERVFAIL = "servfail"  # no name server gave a usable answer
    ERROR = "error"  # any other resolver failure (see QueryResult.error)


@dataclass
class QueryResult:
    """One DNS question and what the resolver answered."""

    qname: str
    rdtype: str
    outcome: QueryOutcome
    records: list[str] = field(default_factory=list, metadata=ECHO)  # the DNS server's data
    # set when the name is an alias (CNAME chain followed)
    canonical_name: str | None = field(default=None, metadata=ECHO)
    rtt_ms: float = 0.0
    error: str | None = None


@dataclass
class SrvRecord:
    """One SRV record and what its target resolves to (RFC 2782)."""

    service: str  # e.g. "_turn._udp"
    priority: int
    weight: int
    port: int
    # without the trailing dot; "." means "service decidedly not available"
    target: str = field(metadata=ECHO)
    addresses: list[str] = field(default_factory=list)
    # the CNAME's canonical name when the target is an alias
    target_alias_of: str | None = field(default=None, metadata=ECHO)
    target_queries: list[QueryResult] = field(default_factory=list)

    @property
    def transport(self) -> str:
        return "udp" if self.service.endswith("._udp") else "tcp"


@dataclass
class Ipv6Check:
    """A quick reachability test of one published IPv6 address."""

    address: str
    port: int
    transport: str  # "udp" (STUN binding) | "tcp" (connect)
    source: str  # which record published it, e.g. "AAAA example.com" or "_turn._tcp"
    reachable: bool
    rtt_ms: float | None = None
    detail: str = ""  # state / error text


@dataclass
class DnsResult:
    name: str
    nameservers: list[str]  # host:port of the resolvers asked
    resolver_source: str  # "/etc/resolv.conf" or "--nameserver"
    queries: list[QueryResult] = field(default_factory=list)  # A, AAAA, then each SRV service
    srv: list[SrvRecord] = field(default_factory=list)  # all services, each in RFC 2782 order
    ipv4: list[str] = field(default_factory=list)
    ipv6: list[str] = field(default_factory=list)
    ipv6_checks: list[Ipv6Check] = field(default_factory=list)
    # A CONTROL_NAME, asked only when no question about ``name`` was answered (see ``unanswered``).
    control: QueryResult | None = None
    duration_ms: float = 0.0

    @property
    def unanswered(self) -> bool:
        """No question about ``name`` got an answer or NODATA: the resolver failed or said NXDOMAIN."""
        return bool(self.queries) and all(q.outcome not in ("answer", "nodata") for q in self.queries)

    def query(self, rdtype: str, qname: str | None = None) -> QueryResult | None:
        for q in self.queries:
            if q.rdtype == rdtype and (qname is None or q.qname == qname):
                return q
        return None


def srv_order(records: Sequence[SrvRecord]) -> list[SrvRecord]:
    """RFC 2782: lowest priority first; within one priority heavier weight first (the most likely pick
    of the weighted random selection), then target and port so the order is stable."""
    return sorted(records, key=lambda r: (r.priority, -r.weight, r.target, r.port))


def _make_resolver(nameserver: tuple[str, int] | None, timeout: float) -> tuple[Any, str]:
    import dns.asyncresolver
    import dns.resolver

    if nameserver is None:
        try:
            resolver = dns.asyncresolver.Resolver(configure=True)
        except dns.resolver.NoResolverConfiguration:
            # No nameserver configured: DNS does not work here (every question fails), not a usage error.
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = []
        source = "/etc/resolv.conf"
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [nameserver[0]]
        resolver.port = nameserver[1]
        source = "--nameserver"
    resolver.timeout = timeout
    resolver.lifetime = timeout
    return resolver, source


def _nameserver_texts(resolver: Any) -> list[str]:
    out: list[str] = []
    for ns in resolver.nameservers:
        text = str(ns)
        out.append(format_hostport(text, resolver.port) if parse_ip(text) is not None else text)
    return out


async def _query(resolver: Any, qname: str, rdtype: str) -> tuple[QueryResult, Any]:
    """Ask one question; map every dnspython outcome to a :class:`QueryResult` (never raises)."""
    import dns.exception
    import dns.resolver

    started = time.perf_counter()
    result = QueryResult(qname=qname, rdtype=rdtype, outcome=QueryOutcome.ERROR)
    answer: Any = None
    if not resolver.nameservers:
        result.error = "no nameserver configured (/etc/resolv.conf)"
        return result, None
    try:
        answer = await resolver.resolve(qname + ".", rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        result.outcome = QueryOutcome.NXDOMAIN
    except dns.resolver.LifetimeTimeout:
        result.outcome = QueryOutcome.TIMEOUT
        result.error = "no answer before the timeout"
    except dns.resolver.NoNameservers as exc:
        result.outcome = QueryOutcome.SERVFAIL
        result.error = _first_line(exc)
    except dns.exception.DNSException as exc:
        result.error = _first_line(exc)
    result.rtt_ms = round((time.perf_counter() - started) * 1000.0, 2)
    if answer is not None:
        result.outcome = QueryOutcome.ANSWER if answer.rrset is not None else QueryOutcome.NODATA
        if answer.rrset is not None:
            result.records = [rd.to_text() for rd in answer.rrset]
        canonical = answer.canonical_name.to_text(omit_final_dot=True)
        if canonical.lower() != qname.lower():
            result.canonical_name = canonical
    return result, answer


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


async def _resolve_srv(resolver: Any, service: str, name: str) -> tuple[QueryResult, list[SrvRecord]]:
    qname = f"{service}.{name}"
    query, answer = await _query(resolver, qname, "SRV")
    records: list[SrvRecord] = []
    if answer is not None and answer.rrset is not None:
        for rd in answer.rrset:
            target = rd.target.to_text(omit_final_dot=True) or "."
            records.append(SrvRecord(service=service, priority=rd.priority, weight=rd.weight, port=rd.port,
                                     target=target))
    return query, srv_order(records)


async def _resolve_target(resolver: Any, target: str) -> list[QueryResult]:
    (q4, _), (q6, _) = await asyncio.gather(_query(resolver, target, "A"), _query(resolver, target, "AAAA"))
    return [q4, q6]


async def _resolve_targets(resolver: Any, records: list[SrvRecord]) -> None:
    """Resolve each distinct SRV target once (A and AAAA) and attach the answers to its records."""
    # RFC 2782: a target of "." means the service is decidedly not available at this domain.
    targets = list(dict.fromkeys(r.target.lower() for r in records if r.target != "."))
    answers = dict(zip(targets, await asyncio.gather(*(_resolve_target(resolver, t) for t in targets)),
                       strict=True))
    for record in records:
        queries = answers.get(record.target.lower())
        if queries is None:
            continue
        q4, q6 = queries
        record.target_queries = [q4, q6]
        record.addresses = q4.records + q6.records
        record.target_alias_of = q4.canonical_name or q6.canonical_name


async def _check_ipv6(address: str, port: int, transport: str, source: str, timeout: float) -> Ipv6Check:
    from rtcdiag.probes import reach

    target = reach.PortTarget(transport=transport, port=port)
    result: PortResult = await reach.probe_port(address, target, timeout=timeout)
    return Ipv6Check(address=address, port=port, transport=transport, source=source,
                     reachable=result.state == "open", rtt_ms=result.rtt_ms,
                     detail=result.error or result.state)


def _ipv6_targets(result: DnsResult) -> list[tuple[str, int, str, str]]:
    """(address, port, transport, source) for every published IPv6 address, bounded and de-duplicated."""
    wanted: list[tuple[str, int, str, str]] = []
    for addr in result.ipv6:
        wanted.append((addr, DEFAULT_STUN_PORT, "udp", f"AAAA {result.name}"))
        wanted.append((addr, DEFAULT_STUN_PORT, "tcp", f"AAAA {result.name}"))
    for rec in result.srv:
        for addr in rec.addresses:
            if parse_ip(addr) is not None and ":" in addr:
                wanted.append((addr, rec.port, rec.transport, rec.service))
    seen: set[tuple[str, int, str]] = set()
    unique: list[tuple[str, int, str, str]] = []
    for item in wanted:
        key = item[:3]
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique[:MAX_IPV6_CHECKS]


def canonical_name(name: str) -> str:
    """``name`` as DNS text without the final dot (IDNA allowed); ValueError for IP literals and bad names."""
    import dns.exception
    import dns.name

    name = name.strip()
    if not name:
        raise ValueError("the name is empty")
    if parse_ip(name) is not None:
        raise ValueError(f"{name!r} is an IP address; give a host name (e.g. turn.example.com)")
    try:
        return dns.name.from_text(name).to_text(omit_final_dot=True)
    except (dns.exception.DNSException, UnicodeError, ValueError) as exc:
        raise ValueError(f"{name!r} is not a valid DNS name ({exc})") from None


# The control question's answer per event loop, resolver and name: lookups of several failing names in one run
# (``rtcdiag check``) ask it once and share the answer.
_CONTROL: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                    dict[tuple[tuple[str, ...], str], asyncio.Future[QueryResult]]] = \
    weakref.WeakKeyDictionary()


async def _control_question(resolver: Any, name: str, nameservers: list[str]) -> QueryResult:
    asked = _CONTROL.setdefault(asyncio.get_running_loop(), {})
    key = (tuple(nameservers), name.lower())
    answer = asked.get(key)
    if answer is None:
        answer = asked[key] = asyncio.ensure_future(_answer_only(resolver, name))
    return await asyncio.shield(answer)  # one waiter cancelled does not cancel the others' answer


async def _answer_only(resolver: Any, name: str) -> QueryResult:
    query, _ = await _query(resolver, name, "A")
    return query


async def lookup(name: str, *, nameserver: tuple[str, int] | None = None, timeout: float = 2.0,
                 check_ipv6: bool = True, reach_timeout: float = 1.0,
                 control_name: str | None = None) -> DnsResult:
    """Resolve ``name``: A, AAAA and every STUN/TURN SRV service (with their targets), concurrently.

    ``nameserver`` (``(ip, port)``) replaces the system resolver. ``timeout`` bounds each
    query. With ``check_ipv6`` every published IPv6 address gets a STUN binding / TCP connect test. With
    ``control_name`` (e.g. :data:`CONTROL_NAME`) that name's A record is asked of the same resolver when no
    question about ``name`` was answered, and only then (no extra query on a healthy run).
    """
    name = canonical_name(name)
    resolver, source = _make_resolver(nameserver, timeout)
    result = DnsResult(name=name, nameservers=_nameserver_texts(resolver), resolver_source=source)
    started = time.perf_counter()

    (qa, _), (qaaaa, _), *srv_results = await asyncio.gather(
        _query(resolver, name, "A"), _query(resolver, name, "AAAA"),
        *(_resolve_srv(resolver, service, name) for service in SRV_SERVICES),
    )
    result.queries = [qa, qaaaa]
    result.ipv4, result.ipv6 = list(qa.records), list(qaaaa.records)
    for query, records in srv_results:
        result.queries.append(query)
        result.srv.extend(records)
    await _resolve_targets(resolver, result.srv)
    if control_name is not None and result.unanswered and control_name.lower() != name.lower():
        result.control = await _control_question(resolver, control_name, result.nameservers)
    if check_ipv6:
        targets = _ipv6_targets(result)
        result.ipv6_checks = list(await asyncio.gather(
            *(_check_ipv6(addr, port, transport, src, reach_timeout)
              for addr, port, transport, src in targets)))
    result.duration_ms = round((time.perf_counter() - started) * 1000.0, 2)
    return result
