"""Catalogue entries: STUN Binding (RFC 8489, RFC 5780 attributes, RFC 3489 legacy servers).

Placeholders (filled by ``make_finding``): ``{server}`` host:port, ``{transport}`` UDP/TCP/TLS, ``{detail}``
one line of specifics (attribute and address, error code, counts).
"""

from rtcdiag.triage.entry import CatalogueEntry, Layer, Severity

ENTRIES: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        id="STUN-RFC3489-ONLY",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Server speaks only classic STUN (RFC 3489)",
        symptom="{server} answered the old way: {detail}.",
        cause="The server implements the obsolete RFC 3489: no magic cookie, MAPPED-ADDRESS only. NAT "
              "application-level gateways rewrite a plain MAPPED-ADDRESS in transit, so the address it "
              "reports can be wrong, and RFC 8489 clients may ignore a response without XOR-MAPPED-ADDRESS.",
        fix="Replace it with a maintained RFC 8489 server (coturn, stuntman) or use another STUN server.",
        reference="RFC 8489 §5 (magic cookie), §14.2 (why XOR-MAPPED-ADDRESS), §11 (RFC 3489 compatibility)",
    ),
    CatalogueEntry(
        id="STUN-INTERNAL-ADDRESS-LEAK",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Server reveals an internal address",
        symptom="{server} was reached at a public address but reports an internal one: {detail}.",
        cause="The server runs behind NAT (Docker, a cloud VM) and reports its private interface address in "
              "RESPONSE-ORIGIN / OTHER-ADDRESS; coturn does this without external-ip. It discloses internal "
              "topology and, in OTHER-ADDRESS, breaks RFC 5780 NAT discovery (the alternate address is "
              "unreachable from outside).",
        fix="With coturn, set external-ip=PUBLIC/PRIVATE (e.g. external-ip=203.0.113.5/10.0.0.5), or bind "
            "listening-ip to the public address; for RFC 5780 give it a second public address "
            "(alt-listening-port / a second external-ip).",
        reference="RFC 5780 §7.3 (RESPONSE-ORIGIN), §7.4 (OTHER-ADDRESS), §9 (security considerations)",
    ),
    CatalogueEntry(
        id="STUN-NO-FINGERPRINT",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="Replies carry no FINGERPRINT",
        symptom="Responses from {server} over {transport} have no FINGERPRINT attribute.",
        cause="FINGERPRINT is optional for plain STUN; it lets a receiver tell STUN apart from other "
              "traffic multiplexed on one port (RTP, DTLS) and detects corrupted replies.",
        fix="Nothing breaks for browsers; for robustness enable it (coturn: fingerprint).",
        reference="RFC 8489 §14.7 (FINGERPRINT), §7 (demultiplexing), RFC 7983",
    ),
    CatalogueEntry(
        id="STUN-ERROR-RESPONSE",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="Binding request answered with an error",
        symptom="{server} rejected the Binding request over {transport}: {detail}.",
        cause="401: the server demands credentials for Binding (coturn `secure-stun`), which browsers never "
              "send to a stun: URI, so they gather no server-reflexive candidate. 420: it does not "
              "understand an attribute of the request. 5xx: a server-side problem.",
        fix="Allow unauthenticated Binding requests (coturn: remove secure-stun and no-stun), or list this "
            "server as turn: with credentials instead of stun:.",
        reference="RFC 8489 §6.3.4 (error responses), §14.8 (ERROR-CODE), §9 (authentication is optional)",
    ),
    CatalogueEntry(
        id="STUN-NO-MAPPED-ADDRESS",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="Success response without a mapped address",
        symptom="{server} answered Binding success over {transport} with neither XOR-MAPPED-ADDRESS nor "
                "MAPPED-ADDRESS.",
        cause="The server or a middlebox in between is broken: a client cannot learn its public address "
              "from this reply.",
        fix="Update or replace the server; check whether a proxy in front of it strips attributes.",
        reference="RFC 8489 §14.2 (XOR-MAPPED-ADDRESS in Binding success responses)",
    ),
    CatalogueEntry(
        id="STUN-ALG-REWRITE",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="A NAT rewrote MAPPED-ADDRESS",
        symptom="MAPPED-ADDRESS and XOR-MAPPED-ADDRESS in the same reply from {server} differ: {detail}.",
        cause="An application-level gateway on a router rewrites IP addresses it finds in packet payloads; "
              "this is exactly why RFC 5389 introduced the XOR form. Such ALGs also mangle SIP and can break "
              "calls.",
        fix="Disable the SIP/STUN ALG on the router or firewall (often named 'SIP ALG'); clients that use "
            "XOR-MAPPED-ADDRESS, such as browsers, are unaffected.",
        reference="RFC 8489 §14.2 (XOR-MAPPED-ADDRESS rationale), RFC 5389 §15.2",
    ),
    CatalogueEntry(
        id="STUN-ASYMMETRIC-RESPONSE",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Reply came from another address",
        symptom="The Binding request went to {server} but the reply came from another address: {detail}.",
        cause="A multi-homed server answers from a different interface or address than the one the client "
              "used (no listening-ip, asymmetric routing, or a load balancer with direct server return). "
              "NATs and firewalls drop such replies, and ICE treats the addresses as non-symmetric.",
        fix="Bind the server to its explicit public address (coturn: listening-ip and relay-ip) so replies "
            "leave from the address the client sent to.",
        reference="RFC 8445 §7.2.5.2.1 (non-symmetric transport addresses), RFC 4787 §5 (filtering)",
    ),
    CatalogueEntry(
        id="STUN-PACKET-LOSS",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Requests needed retransmission",
        symptom="Requests to {server} over UDP were answered only after retransmission: {detail}.",
        cause="UDP packets are lost on the path (busy Wi-Fi, a congested uplink) or the server rate-limits "
              "or is overloaded. Calls over this path will see loss and slower ICE.",
        fix="Re-run to see whether the loss persists; test from a wired connection; check the server's "
            "load and any rate limits (coturn: max-bps, user-quota).",
        reference="RFC 8489 §6.2.1 (retransmission schedule: RTO 500 ms, doubling)",
    ),
    CatalogueEntry(
        id="STUN-HIGH-RTT",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="High round-trip time to the server",
        symptom="Binding round-trip time to {server} over {transport} is high: {detail}.",
        cause="The server is far away or the path is congested. Media relayed through it (TURN) adds this "
              "delay to every packet; beyond about 300 ms round trip, conversation suffers.",
        fix="Offer a server closer to the users (one per region, geo-DNS or anycast), and check this "
            "network's latency to other hosts.",
        reference="ITU-T G.114 (one-way delay up to 150 ms for interactive speech)",
    ),
    CatalogueEntry(
        id="STUN-ALTERNATE-SERVER",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="Server redirects to an alternate server",
        symptom="{server} answered 300 Try Alternate: {detail}.",
        cause="The server is configured to redirect clients (load balancing or migration). Browsers follow "
              "the redirect once; tools that do not will fail.",
        fix="If unintended, remove the alternate-server setting (coturn: alternate-server); otherwise make "
            "sure the alternate answers too.",
        reference="RFC 8489 §10 (ALTERNATE-SERVER mechanism), §14.15",
    ),
    CatalogueEntry(
        id="STUN-UNKNOWN-ATTRIBUTES",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="Reply contains attributes rtcdiag does not know",
        symptom="{server} sent attribute types outside the registries rtcdiag knows: {detail}.",
        cause="A vendor extension or a newer specification. Comprehension-optional attributes "
              "(0x8000-0xFFFF) are safely ignored by clients; comprehension-required ones (0x0000-0x7FFF) "
              "in a response are a server bug.",
        fix="Usually nothing to do; the raw bytes are in the JSON output (--json) if you need to look.",
        reference="RFC 8489 §14 (comprehension-required/optional ranges), §18.3 (IANA attribute registry)",
    ),
    CatalogueEntry(
        id="STUN-MALFORMED-MAPPED-ADDRESS",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="Success response with a malformed mapped address",
        symptom="{server} answered Binding success over {transport} with a mapped-address attribute that "
                "cannot be decoded: {detail}.",
        cause="The attribute is there but its bytes are not a valid address (wrong family, wrong length, "
              "truncated): the server or a middlebox that rewrites STUN messages is broken. A client cannot "
              "learn its public address from this reply.",
        fix="Update or replace the server; check whether a proxy or ALG in front of it rewrites STUN "
            "attributes (compare with `rtcdiag stun` against another server from the same network).",
        reference="RFC 8489 §14.1 (MAPPED-ADDRESS), §14.2 (XOR-MAPPED-ADDRESS)",
    ),
    CatalogueEntry(
        id="STUN-RFC3489-SERVER",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="Server is an RFC 3489-era STUN server",
        symptom="{server} answered over {transport} with classic STUN attributes: {detail}.",
        cause="CHANGED-ADDRESS and SOURCE-ADDRESS come from RFC 3489 (obsoleted in 2008); such servers, "
              "e.g. Vovida stund, drop requests their parser cannot read (a string attribute whose length is "
              "not a multiple of 4). Browsers get a correct address from it as long as it sends "
              "XOR-MAPPED-ADDRESS; RFC 5780 NAT discovery works through CHANGED-ADDRESS.",
        fix="Nothing breaks for browsers today; plan to replace it with a maintained RFC 8489 server "
            "(coturn, stuntman).",
        reference="RFC 3489 §11.2 (attributes), RFC 8489 §14 and §18.3 (CHANGED-ADDRESS, SOURCE-ADDRESS "
                  "reserved), RFC 5780 §7.4 (OTHER-ADDRESS)",
    ),
    CatalogueEntry(
        id="STUN-DROPS-OPTIONAL-ATTRIBUTES",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Server ignores Binding requests with optional attributes",
        symptom="{server} never answered a Binding request over {transport} that carried {detail}, but "
                "answered one without optional attributes.",
        cause="The server's parser rejects attributes it should skip or accept: RFC 3489-era servers (Vovida "
              "stund) drop a request whose SOFTWARE length is not a multiple of 4, some drop FINGERPRINT. "
              "Clients that add such attributes (many SIP and WebRTC stacks send SOFTWARE and FINGERPRINT) "
              "see the server as down.",
        fix="Replace or update the server (coturn, stuntman); RFC 8489 servers must ignore unknown "
            "comprehension-optional attributes.",
        reference="RFC 8489 §14 (comprehension-optional attributes are ignored), §14.7 (FINGERPRINT), "
                  "§14.14 (SOFTWARE), RFC 3489 §11.2.6 (lengths a multiple of 4)",
    ),
)
