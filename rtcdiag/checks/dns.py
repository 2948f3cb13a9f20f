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
from rtcdiag.probes.dns import DnsResult
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


ENTRIES = (Entry(DNS, DnsResult, server_job=server_job),)
