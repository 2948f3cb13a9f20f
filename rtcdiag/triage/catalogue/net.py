"""Catalogue entries: net (port reachability, TLS certificates, path trace, DNS).

General entries reused by the ports/dns triage (ids are global): SERVER-UNREACHABLE, SERVER-REFUSED,
UDP-BLOCKED, NO-ROUTE, TLS-UNTRUSTED, TLS-EXPIRED, TLS-HOSTNAME, TLS-HANDSHAKE, DNS-FAILURE.
"""

from rtcdiag.triage.entry import CatalogueEntry, Layer, Severity

ENTRIES: tuple[CatalogueEntry, ...] = (
    # --- ports -------------------------------------------------------------------------------------------
    CatalogueEntry(
        id="PORT-NOT-STUN",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        # a TCP port that speaks no STUN also explains UDP silence on that port
        explains=frozenset({"MALFORMED-REPLY", "SERVER-REFUSED", "SERVER-UNREACHABLE", "UDP-BLOCKED"}),
        roots_first=0,
        title="Not a STUN/TURN server on {transport} port {port}",
        symptom="{server} accepted the {transport} connection but a STUN request got no STUN answer "
                "({detail}); anything else tried on this port (UDP included) is folded under this cause.",
        cause="Something other than a STUN/TURN server listens on this port (a web server, SSH, another "
              "service), or a proxy/load balancer in front of it does not forward to the STUN/TURN server. "
              "UDP silence on the same port is then no sign of a firewall.",
        fix="Point the URI at the port the STUN/TURN server really listens on (coturn: listening-port, "
            "tls-listening-port; on the server `ss -lntp`), or make the proxy forward to it, and re-run "
            "`rtcdiag ports HOST`.",
        reference="RFC 8489 §6.2.2 (STUN over TCP)",
    ),
    CatalogueEntry(
        id="PORT-TLS443-MISSING",
        severity=Severity.WARNING,
        layer=Layer.ENDPOINT,
        title="No TURN over TLS on port 443",
        symptom="TLS 443 is {state} on {host}.",
        cause="Users on locked-down networks (corporate proxies, hotel Wi-Fi) can only leave through "
              "TCP 443; without a TURN-over-TLS listener there, calls from those networks fail.",
        fix="Add a TURN/TLS listener on 443 (coturn: `tls-listening-port=443`, or a second IP) and hand "
            "clients a `turns:` URL on 443 with the host name on the server's certificate (never an IP "
            "address: browsers check the name), as below.",
        reference="RFC 7443 (ALPN stun.turn), RFC 8656 §3.1",
    ),
    CatalogueEntry(
        id="TLS-EXPIRING-SOON",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        server_wide=True,
        observation=True,
        title="TLS certificate on {port} expires in {days} days",
        symptom="The certificate for {cert_subject} is valid until {not_after} ({days} days left).",
        cause="Certificate renewal is not automated or the renewed certificate was not reloaded by the "
              "TURN server.",
        fix="Renew the certificate and make the server reload it (coturn reads cert=/pkey= at start: "
            "restart or SIGHUP after renewal).",
        reference="RFC 5280 §4.1.2.5 (validity)",
    ),
    CatalogueEntry(
        id="TLS-NO-ALPN",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        observation=True,
        title="TLS on {port} does not negotiate ALPN stun.turn",
        symptom="The client offered ALPN \"stun.turn\"; the server selected {selected}.",
        cause="The TURN server does not implement RFC 7443, or a TLS terminator in front of it does not "
              "pass ALPN through.",
        fix="Usually harmless. If TLS 443 is shared with a web server, route by ALPN stun.turn to the TURN "
            "server (e.g. nginx ssl_preread / HAProxy alpn).",
        reference="RFC 7443 §4",
    ),
    CatalogueEntry(
        id="TLS-OLD-VERSION",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        observation=True,
        title="TLS on {port} negotiated {version}",
        symptom="The server agreed to {version}.",
        cause="TLS 1.0 and 1.1 are deprecated; browsers refuse them, so TURN over TLS fails for them.",
        fix="Disable TLS 1.0/1.1 (coturn: no-tlsv1, no-tlsv1_1) and serve TLS 1.2 or 1.3.",
        reference="RFC 8996",
    ),
    # --- trace -------------------------------------------------------------------------------------------
    CatalogueEntry(
        id="TRACE-PATH-DROP",
        severity=Severity.WARNING,
        layer=Layer.ENDPOINT,
        explains=frozenset({"SERVER-UNREACHABLE", "UDP-BLOCKED"}),
        roots_first=1,
        title="{transport}/{port}: path goes silent after hop {hop} ({address})",
        symptom="TTL-limited probes got ICMP time exceeded up to hop {hop} ({address}); nothing came back "
                "from any later hop or from the destination.",
        cause="A filter at or just after hop {hop} ({address}) drops {transport} to port {port} without "
              "sending ICMP.",
        fix="Ask whoever runs {address} (or the next hop) to allow {transport} {port} towards the server.",
        reference="RFC 792 (time exceeded), RFC 1812 §4.3.2",
    ),
    CatalogueEntry(
        id="TRACE-REJECTED",
        severity=Severity.WARNING,
        layer=Layer.ENDPOINT,
        explains=frozenset({"SERVER-REFUSED", "SERVER-UNREACHABLE", "UDP-BLOCKED"}),
        roots_first=1,
        title="{transport}/{port}: hop {hop} ({address}) rejects the traffic",
        symptom="Hop {hop} ({address}) answered with ICMP destination unreachable (type {icmp_type}, code "
                "{icmp_code}).",
        cause="A firewall or router at {address} rejects {transport} to port {port} (code 13 = "
              "administratively prohibited, 3 = port unreachable).",
        fix="Allow {transport} {port} through {address}.",
        reference="RFC 792, RFC 1812 §5.2.7.1",
    ),
    CatalogueEntry(
        id="TRACE-NO-ANSWER",
        severity=Severity.INFO,
        layer=Layer.ENDPOINT,
        title="{transport}/{port}: no hop answered the trace",
        symptom="Not even the first hop sent ICMP time exceeded.",
        cause="ICMP is filtered near this host (local firewall, container network) or the first router does "
              "not send ICMP; the trace cannot localise the drop.",
        fix="Run the trace from a host that receives ICMP, or check the local firewall first.",
    ),
    # --- DNS ---------------------------------------------------------------------------------------------
    CatalogueEntry(
        id="DNS-RESOLVER-SILENT",
        severity=Severity.ERROR,
        layer=Layer.NAME,
        # the DNS check's precise words for a name other checks could only call "does not resolve"
        explains=frozenset({"DNS-FAILURE"}),
        title="The name server {resolver} does not answer",
        symptom="{resolver} (--nameserver) answered none of the {count} questions about {name}: {detail}.",
        cause="Nothing answers DNS at that address and port: a wrong address or port given to --nameserver, "
              "a resolver that is down, or a firewall that drops DNS (UDP and TCP 53) on the way. This says "
              "nothing about {name} itself.",
        fix="Check the address and port of the name server (below), or leave --nameserver out to ask this "
            "machine's resolver.",
        reference="RFC 1035 §4.2 (DNS over UDP and TCP)",
    ),
    CatalogueEntry(
        id="DNS-NXDOMAIN",
        severity=Severity.ERROR,
        layer=Layer.NAME,
        # the DNS check's precise words for a name other checks could only call "does not resolve"
        explains=frozenset({"DNS-FAILURE"}),
        title="{name} does not exist in DNS",
        symptom="The resolver answered NXDOMAIN for {name} and for every STUN/TURN SRV name under it.",
        cause="A typo in the name, a record that was never created, or a split-horizon DNS that only "
              "publishes it internally.",
        fix="Create the A/AAAA (or SRV) records for {name}, or use the name your DNS really publishes.",
        reference="RFC 1035 §4.1.1 (RCODE 3)",
    ),
    CatalogueEntry(
        id="DNS-NO-ADDRESS",
        severity=Severity.ERROR,
        layer=Layer.NAME,
        # the DNS check's precise words for a name other checks could only call "does not resolve"
        explains=frozenset({"DNS-FAILURE"}),
        title="{name} has no address and no STUN/TURN SRV records",
        symptom="{name} exists but has no A or AAAA record, and no _stun/_turn/_turns SRV record.",
        cause="Only other record types are published for the name (e.g. MX/TXT at a bare domain).",
        fix="Add an A (and AAAA if IPv6 works) record for {name}, or SRV records pointing to the TURN host.",
    ),
    CatalogueEntry(
        id="DNS-SRV-TARGET-NO-ADDRESS",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="SRV {service} points at {target}, which has no address",
        symptom="{service}.{name} names {target}:{port}, but {target} has no A or AAAA record.",
        cause="The SRV record was not updated when the TURN host was renamed or removed.",
        fix="Add A/AAAA records for {target} or point the SRV record at the real TURN host.",
        reference="RFC 2782 (Target), RFC 5928 §3",
    ),
    CatalogueEntry(
        id="DNS-SRV-TARGET-CNAME",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="SRV {service} target {target} is an alias (CNAME)",
        symptom="{target} is a CNAME for {canonical}.",
        cause="RFC 2782 requires the SRV target to be a name with A/AAAA records, not an alias; some "
              "resolvers and clients do not follow it.",
        fix="Point the SRV record at {canonical} directly.",
        reference="RFC 2782 (\"Target ... must not be an alias\"), RFC 2181 §10.3",
    ),
    CatalogueEntry(
        id="DNS-IPV6-UNREACHABLE",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="IPv6 address {address} is published but unreachable",
        symptom="{source} publishes {address}; {tests} from here all failed.",
        cause="The AAAA record points at an address where the server does not listen, or IPv6 is not "
              "routed on the server's or this network. Clients that prefer IPv6 wait for timeouts.",
        fix="Make the server listen on {address} (coturn: listening-ip) and allow IPv6 in its firewall, or "
            "remove the AAAA record.",
        reference="RFC 8305 (Happy Eyeballs), RFC 8445 §5.1.1",
    ),
    CatalogueEntry(
        id="DNS-SLOW-RESOLVER",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Slow DNS resolver ({rtt_ms} ms)",
        symptom="The slowest query ({query}) took {rtt_ms} ms at {nameservers}.",
        cause="The resolver is far away, overloaded or retrying an upstream; ICE gathering waits for DNS "
              "before it can contact STUN/TURN servers.",
        fix="Use a closer resolver, or give clients IP literals in their ICE server URLs.",
    ),
    CatalogueEntry(
        id="DNS-NO-SRV",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="No STUN/TURN SRV records for {name}",
        symptom="None of _stun._udp, _stun._tcp, _turn._udp, _turn._tcp, _turns._tcp exists under {name}.",
        cause="SRV records are optional; clients given stun:/turn: URIs without a port fall back to "
              "A/AAAA and the default ports 3478 / 5349.",
        fix="Nothing to do unless you rely on SRV discovery (RFC 5928); then publish the SRV records.",
        reference="RFC 5928 §3, RFC 8489 §8.1",
    ),
)
