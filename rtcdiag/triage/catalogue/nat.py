"""Catalogue entries: nat (RFC 5780 NAT behaviour discovery, RFC 4787 terms).

Also used by the nat-type triage, defined in general.py: UDP-BLOCKED, SERVER-UNREACHABLE.
"""

from rtcdiag.triage.entry import CatalogueEntry, Layer, Severity

ENTRIES: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        id="NAT-TYPE",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="NAT: {legacy} ({mapping} mapping, {filtering} filtering)",
        symptom="{meaning}",
        cause="RFC 5780 tests: {reason}.",
        fix="Nothing to fix by itself; make sure a TURN server is configured for the calls this network "
            "type cannot connect directly.",
        reference="RFC 5780 §4.3, §4.4; RFC 4787 §4.1, §5; RFC 3489 §5 (legacy labels)",
    ),
    CatalogueEntry(
        id="NAT-SYMMETRIC",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Symmetric NAT: a new public port for every destination ({mapping} mapping)",
        symptom="The mapped address changes with the destination ({evidence_short}).",
        cause="The NAT allocates a mapping per destination (RFC 4787 {mapping} mapping), so the "
              "server-reflexive candidate is useless to peers: direct P2P with another symmetric or "
              "port-restricted NAT will fail.",
        fix="Configure a TURN server for every client (UDP and TCP/TLS on 443); on a router you control, "
            "enable endpoint-independent mapping (RFC 4787 REQ-1), e.g. avoid 'random' port NAT "
            "(Linux: masquerade without random/fully-random; pfSense: static port outbound NAT).",
        reference="RFC 4787 §4.1 REQ-1; RFC 5780 §4.3",
    ),
    CatalogueEntry(
        id="NAT-CGNAT",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Carrier-grade NAT address space (100.64.0.0/10) on the {where} address",
        symptom="The {where} address {address} lies in 100.64.0.0/10 (RFC 6598 shared address space).",
        cause="Your ISP puts you behind a second, carrier-grade NAT: you share public addresses, cannot "
              "forward ports, and the CGN's behaviour (often symmetric, short timeouts) decides P2P. "
              "Caveat: Tailscale and some VPNs also use 100.64.0.0/10 for their own addresses.",
        fix="Plan for TURN relays (UDP, TCP and TLS on 443); ask the ISP for a public IPv4 address or use "
            "IPv6. If the address belongs to a VPN (e.g. tailscale0), test without it.",
        reference="RFC 6598; RFC 6888 (CGN requirements)",
    ),
    CatalogueEntry(
        id="NAT-NO-HAIRPIN",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="NAT does not hairpin: peers behind this NAT cannot reach each other's public address",
        symptom="A request sent from one local socket to the other socket's mapped address {mapped} never "
                "arrived.",
        cause="The NAT does not loop traffic addressed to its own public address back inside "
              "(RFC 4787 REQ-9 hairpinning).",
        fix="Usually harmless for WebRTC (ICE prefers host candidates on the same LAN); if two clients on "
            "this network must connect, enable NAT loopback/hairpinning on the router or use TURN.",
        reference="RFC 4787 §6 REQ-9; RFC 5780 §4.5",
    ),
    CatalogueEntry(
        id="NAT-SHORT-LIFETIME",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="NAT mapping expires after about {lifetime_s} s (shorter than 30 s)",
        symptom="After {lifetime_s} s without traffic the mapping was gone (alive at {alive_s} s, gone at "
                "{gone_s} s).",
        cause="The NAT's UDP idle timeout is below the RFC 4787 REQ-5 minimum of 2 minutes (and below the "
              "30 s many keepalive defaults assume).",
        fix="Send keepalives at least every {keepalive_s} s (ICE consent checks every 5 s already do; "
            "plain STUN/TURN clients: lower the keepalive/refresh interval), or raise the UDP timeout on "
            "the router.",
        reference="RFC 4787 §4.3 REQ-5; RFC 5780 §4.6; RFC 7675 (consent freshness)",
    ),
    CatalogueEntry(
        id="NAT-ALG",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="An ALG rewrites STUN: MAPPED-ADDRESS differs from XOR-MAPPED-ADDRESS",
        symptom="MAPPED-ADDRESS {mapped} but XOR-MAPPED-ADDRESS {xor_mapped} in the same response.",
        cause="A NAT application-level gateway (often 'SIP ALG') rewrites IP addresses it finds in UDP "
              "payloads; XOR-MAPPED-ADDRESS exists precisely to survive it (RFC 8489 §14.2). ALGs also "
              "mangle SIP/SDP and break calls.",
        fix="Disable the SIP/STUN ALG on the router or firewall (often 'SIP ALG', 'SIP helper', "
            "'fixup sip'); always use XOR-MAPPED-ADDRESS.",
        reference="RFC 8489 §14.2; RFC 5780 §4.7",
    ),
    CatalogueEntry(
        id="NAT-SERVER-NO-RFC5780",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Server does not support NAT behaviour discovery",
        symptom="{detail}",
        cause="RFC 5780 needs a STUN server with two IP addresses and two ports that returns "
              "OTHER-ADDRESS and honours CHANGE-REQUEST; this one does not (or not correctly), so no NAT "
              "type can be derived from it without guessing.",
        fix="Use a server that supports RFC 5780, e.g. your own coturn with two `listening-ip` lines (two "
            "addresses of the same family) and without `no-rfc5780` (coturn 4.7 and later: with an `rfc5780` "
            "line), then pass it with --server.",
        reference="RFC 5780 §4.1, §7.2, §7.3, §7.4",
    ),
    CatalogueEntry(
        id="NAT-INCONSISTENT",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="NAT behaviour differs between runs or servers",
        symptom="{detail}",
        cause="The NAT's behaviour is not stable (port-overloading NATs switch to new ports under load, "
              "several NATs or uplinks in parallel, a changing network) or one server misbehaves.",
        fix="Re-run with --repeat 3 on a quiet network and compare servers; until it is stable, assume the "
            "worst verdict and provide TURN.",
        reference="RFC 5780 §3 (results are only a point-in-time observation)",
    ),
    CatalogueEntry(
        id="NAT-UNDETERMINED",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="NAT {what} could not be determined",
        symptom="{detail}",
        cause="Packet loss on the path (measured round-trip loss up to {loss_pct} %) makes a missing reply "
              "ambiguous: it may be filtering or just loss, so no verdict is given rather than a wrong one.",
        fix="Re-run (--repeat 3) on a less lossy link, or with a larger --timeout.",
        reference="RFC 5780 §4.4; RFC 8489 §6.2.1 (retransmissions)",
    ),
    CatalogueEntry(
        id="NAT-MAPPING",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="NAT mapping: {mapping} ({verdict})",
        symptom="{meaning}",
        cause="Binding requests from one local socket to {servers} ordinary STUN servers: {reason}. "
              "Filtering is unknown: {filtering_why}.",
        fix="Nothing to fix by itself. For the complete NAT type (filtering too) run `rtcdiag nat-type "
            "--server` with an RFC 5780 server (coturn with two listening-ip lines).",
        reference="RFC 4787 §4.1 (mapping), §5 (filtering); RFC 5128 §2.4; RFC 5780 §4.3, §4.4",
    ),
    CatalogueEntry(
        id="NAT-TOO-FEW-SERVERS",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="NAT mapping needs STUN servers at two IP addresses",
        symptom="{detail}",
        cause="No server in the list supports RFC 5780, and the mapping behaviour can only be read by "
              "comparing the mapped addresses that STUN servers at different IP addresses report for the "
              "same local socket.",
        fix="Give at least two reachable STUN servers at different IP addresses with --servers, or an RFC "
            "5780 server with --server.",
        reference="RFC 4787 §4.1; RFC 5780 §4.3",
    ),
    CatalogueEntry(
        id="NAT-OFFLINE",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="No STUN server answered",
        symptom="None of the {count} STUN servers answered: {detail}.",
        cause="This machine is offline, DNS does not work, or every STUN port is blocked on the way out; "
              "nothing was measured about the NAT.",
        fix="Check the network connection and DNS (`rtcdiag dns`), or name reachable servers with --servers "
            "or --server.",
        reference="RFC 8489 §6.2.1 (no response); RFC 5780 §4.3",
    ),
)
