"""The DNS check: A/AAAA and the STUN/TURN SRV records of one name (probe), judged by ``triage.dns``.

When no question about the name is answered (resolver failure or NXDOMAIN) the probe also asks the control
question (:data:`rtcdiag.probes.dns.CONTROL_NAME`) of the same resolver, so that the diagnosis can tell
"this name is broken" from "DNS does not work here" (DNS-NOT-WORKING). A healthy run sends no such query.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtcdiag.addresses import parse_ip
from rtcdiag.checks.engine import Check, Job
from rtcdiag.checks.plan import ServerPlan
from rtcdiag.checks.registry import Entry
from rtcdiag.probes import dns
from rtcdiag.probes.dns import DEFAULT_DNS_PORT as DEFAULT_DNS_PORT  # for the command's --nameserver
from rtcdiag.probes.dns import DnsResult, QueryResult
from rtcdiag.probes.dns import canonical_name as canonical_name  # the command's NAME, checked before traffic
from rtcdiag.redact import echo
from rtcdiag.report.model import Table
from rtcdiag.timeouts import Timeouts
from rtcdiag.triage import dns as rules

DEFAULT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class DnsPlan:
    name: str
    nameserver: tuple[str, int] | None = None  # None: the system resolver (/etc/resolv.conf)
    timeout: float = DEFAULT_TIMEOUT_S  # per DNS question
    check_ipv6: bool = True  # test published IPv6 addresses (STUN Binding / TCP connect)
    reach_timeout: float = 1.0
    # Ask the control name when the name does not resolve at all. Meant for the system resolver: a failing
    # --nameserver is that server's problem, not "DNS does not work on this machine".
    control: bool = True


async def _run(plan: DnsPlan) -> DnsResult:
    return await dns.lookup(plan.name, nameserver=plan.nameserver, timeout=plan.timeout,
                            check_ipv6=plan.check_ipv6, reach_timeout=plan.reach_timeout,
                            control_name=dns.CONTROL_NAME if plan.control else None)


DNS: Check[DnsPlan, DnsResult] = Check("dns", _run, rules.judge)


def server_job(plan: ServerPlan, timeouts: Timeouts) -> Job[DnsPlan, DnsResult] | None:
    if parse_ip(plan.host) is not None:
        return None  # an IP literal has nothing to resolve
    return Job(DNS, DnsPlan(plan.host, timeout=timeouts.dns_question_s, reach_timeout=timeouts.reach_s),
               plan.subject, f"dns {plan.label}")


# --- the tables and notes of ``rtcdiag dns`` --------------------------------------------------------------


def _answer(q: QueryResult) -> str:
    """The records of an answer (the DNS server's data: marked as outside text), else the error."""
    return ", ".join(echo(r) for r in q.records) or (q.error or "")


def dns_tables(result: DnsResult) -> list[Table]:
    """The console/Markdown tables for a DnsResult: addresses, SRV records, every query, IPv6 tests."""
    out: list[Table] = []
    addr_rows = [[result.name, "A", a] for a in result.ipv4] + [[result.name, "AAAA", a] for a in result.ipv6]
    out.append(Table(title="Addresses", columns=["name", "type", "address"],
                     rows=addr_rows or [[result.name, "-", "none"]]))
    srv_rows = [[r.service, str(r.priority), str(r.weight), str(r.port), echo(r.target),
                 ", ".join(r.addresses) or ("(not available)" if r.target == "." else "NO ADDRESS"),
                 echo(r.target_alias_of) if r.target_alias_of else ""] for r in result.srv]
    if srv_rows:
        out.append(Table(title="SRV records (RFC 2782 order: priority, then weight)",
                         columns=["service", "priority", "weight", "port", "target", "addresses", "CNAME of"],
                         rows=srv_rows))
    target_queries = list({id(q): q for r in result.srv for q in r.target_queries}.values())
    query_rows = [[q.rdtype, q.qname, q.outcome, f"{q.rtt_ms:.1f}", _answer(q)]
                  for q in result.queries + target_queries]
    if result.control is not None:
        c = result.control
        query_rows.append([f"{c.rdtype} (control)", c.qname, c.outcome, f"{c.rtt_ms:.1f}",
                           _answer(c)])
    out.append(Table(title=f"Queries via {', '.join(result.nameservers) or '-'} ({result.resolver_source})",
                     columns=["type", "name", "outcome", "ms", "answer"], rows=query_rows))
    if result.ipv6_checks:
        out.append(Table(title="IPv6 reachability",
                         columns=["address", "transport", "port", "from", "result"],
                         rows=[[c.address, c.transport.upper(), str(c.port), c.source,
                                ("reachable" if c.reachable else "unreachable") + f" ({c.detail})"]
                               for c in result.ipv6_checks]))
    return out


def dns_summary(result: DnsResult) -> Table:
    """The answer in a few lines: the addresses, each SRV record, which resolver and how fast."""
    rows = [["addresses", ", ".join([*result.ipv4, *result.ipv6]) or "none"]]
    rows += [[r.service, f"{echo(r.target)}:{r.port} (priority {r.priority}, weight {r.weight})"]
             for r in result.srv[:8]]
    slowest = max((q.rtt_ms for q in result.queries), default=0.0)
    rows.append(["resolver", f"{', '.join(result.nameservers) or '-'} ({result.resolver_source}), slowest "
                             f"answer {slowest:.0f} ms"])
    return Table(title=f"DNS {result.name}", columns=["what", "result"], rows=rows,
                 total=len(result.srv) + 2 if len(result.srv) > 8 else None, unit="records")


def dns_notes(result: DnsResult) -> list[str]:
    control = result.control
    if control is None:
        return []
    answered = control.outcome == "answer" and bool(control.records)
    verdict = ("answered, so the resolver works and the problem is this name" if answered
               else f"failed too ({control.error or control.outcome})")
    return [f"{result.name} did not resolve, so the control name {control.qname} was asked of the same "
            f"resolver: it {verdict}."]


ENTRIES = (Entry(DNS, DnsResult, server_job=server_job),)
