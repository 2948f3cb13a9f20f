"""Catalogue entries: general (reachability, transports, TLS, DNS) shared by every probe.

Placeholders (filled by ``make_finding``): ``{server}`` host:port, ``{transport}`` UDP/TCP/TLS, ``{host}`` the
name as given, ``{detail}`` one line of specifics (error text, counts). ``rtcdiag explain`` shows them as
``<server>`` etc.
"""

from rtcdiag.triage.entry import CatalogueEntry, Layer, Severity

ENTRIES: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        id="SERVER-UNREACHABLE",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        # rtcdiag check --browser: Chromium's own report of the same failure
        explains=frozenset({
            "ANALYZE-STUN-UNREACHABLE", "ANALYZE-TURN-UNREACHABLE", "ANALYZE-TURNS-CONNECT-FAILED",
        }),
        title="Server did not answer",
        symptom="Nothing came back from {server} over {transport}, not even an error: {detail}.",
        cause="The server is down or not listening on this address, port and transport, or a firewall on the "
              "path (this network, a cloud security group, the server's host firewall) silently drops the "
              "packets.",
        fix="Check that the server runs and listens on this port and transport (on the server: `ss -lnup` "
            "for UDP, `ss -lntp` for TCP/TLS), open the port for this transport in its firewall / security "
            "group, and run `rtcdiag ports` on the host to see which ports and transports do answer.",
        reference="RFC 8489 §6.2.1 (UDP: Rc=7 tries, 39.5 s at RTO 500 ms), §6.2.2 (TCP/TLS: 39.5 s)",
    ),
    CatalogueEntry(
        id="SERVER-REFUSED",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="Connection refused",
        symptom="{server} refused {transport}: {detail}.",
        cause="The host is up but nothing listens on this port for this transport (TCP answered with RST, or "
              "UDP with ICMP port unreachable), or a firewall rejects the traffic actively.",
        fix="Start the server or enable this listener (coturn: `listening-port=` for UDP and TCP, "
            "`tls-listening-port=` for TLS, and no `no-udp` / `no-tcp` / `no-tls`), check `listening-ip`, or "
            "use the port it really listens on.",
        reference="RFC 9293 §3.5 (RST), RFC 792 / RFC 4443 (ICMP port unreachable), RFC 1122 §4.1.3.1",
    ),
    CatalogueEntry(
        id="UDP-BLOCKED",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        # the UDP SERVER-UNREACHABLE said precisely
        explains=frozenset({"SERVER-UNREACHABLE"}),
        same_transport_only=True,
        roots_first=2,
        title="UDP is blocked, TCP works",
        symptom="No UDP answer from {server} while TCP/TLS to the same server answered: {detail}.",
        cause="A firewall between here and the server drops UDP: a corporate or guest network, or a server "
              "security group that only allows TCP. Browsers send STUN only over UDP, so no "
              "server-reflexive candidate is gathered and direct (peer-to-peer) media fails from here.",
        fix="Clients will fall back to TURN/TCP; make sure turns:443 exists (TURN over TLS on port 443 gets "
            "through most firewalls) and is in the iceServers you hand to clients. If the block is on the "
            "server side, allow UDP 3478 and the relay port range (coturn min-port..max-port).",
        reference="RFC 8656 §3.1 (TURN over TCP/TLS for networks that block UDP), RFC 7065 (turns: URIs)",
    ),
    CatalogueEntry(
        id="MALFORMED-REPLY",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="Replies are not valid STUN",
        symptom="Replies from {server} over {transport} were rejected and not trusted: {detail}.",
        cause="Something other than a STUN/TURN server answers on this port (HTTP, SIP, a load balancer or "
              "captive portal), a middlebox rewrites the packets, or the server is buggy: wrong transaction "
              "id, bad length or magic cookie, or a FINGERPRINT whose CRC does not match.",
        fix="Check what listens on the port (on the server: `ss -lunpt`), point the URI at the real "
            "STUN/TURN port, make any proxy in front pass UDP/TCP through unchanged, and update the server "
            "if its FINGERPRINT is wrong.",
        reference="RFC 8489 §6.3 (response processing: cookie, transaction id), §14.7 (FINGERPRINT), "
                  "§5 (message header)",
    ),
    CatalogueEntry(
        id="TLS-UNTRUSTED",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        # rtcdiag check --browser: Chromium's own report of the same failure
        explains=frozenset({"ANALYZE-TURN-UNREACHABLE", "ANALYZE-TURNS-CONNECT-FAILED"}),
        server_wide=True,
        title="TLS certificate is not trusted",
        symptom="Certificate verification of {server} failed: {detail}.",
        cause="The certificate is self-signed or from a private CA, or the server does not send its "
              "intermediate certificates (TURN/TLS clients do not fetch missing intermediates). Browsers "
              "drop a turns: server with an untrusted certificate without telling the user.",
        fix="Use a certificate from a public CA and configure the full chain (coturn: cert=fullchain.pem, "
            "pkey=privkey.pem). To test against a private CA pass --ca FILE; --insecure skips verification.",
        reference="RFC 5280 §6 (path validation), RFC 8656 §3.1 (TURN over TLS)",
    ),
    CatalogueEntry(
        id="TLS-EXPIRED",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        # rtcdiag check --browser: Chromium's own report of the same failure
        explains=frozenset({"ANALYZE-TURN-UNREACHABLE", "ANALYZE-TURNS-CONNECT-FAILED"}),
        server_wide=True,
        title="TLS certificate has expired",
        symptom="The certificate of {server} is outside its validity period: {detail}.",
        cause="The certificate expired (often: renewal replaced the file but coturn, which reads it at "
              "start-up, was not restarted), or this machine's clock is wrong.",
        fix="Renew the certificate and restart or reload the server so it reads the new file; compare the "
            "clocks with `date -u` on both ends.",
        reference="RFC 5280 §4.1.2.5 (validity)",
    ),
    CatalogueEntry(
        id="TLS-HOSTNAME",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        # rtcdiag check --browser: Chromium's own report of the same failure
        explains=frozenset({"ANALYZE-TURN-UNREACHABLE", "ANALYZE-TURNS-CONNECT-FAILED"}),
        server_wide=True,
        title="TLS certificate does not match the host name",
        symptom="The certificate of {server} is not valid for {host}: {detail}.",
        cause="The URI names an IP address or another name than the certificate's subjectAltName entries; "
              "browsers check the host of the turns: URI against the certificate.",
        fix="Put the host name the certificate was issued for in the turns:/stuns: URI (not an IP address), "
            "or reissue the certificate with that name in subjectAltName.",
        reference="RFC 6125 §6 (service identity), RFC 8656 §3.1",
    ),
    CatalogueEntry(
        id="TLS-HANDSHAKE",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="TLS handshake failed",
        symptom="The TCP connection to {server} opened but the TLS handshake failed: {detail}.",
        cause="The port speaks something else (plain TCP STUN, HTTP), the two sides share no TLS version or "
              "cipher (an old server with TLS 1.0 only), or a middlebox intercepts TLS.",
        fix="Check that this port is the TLS listener (coturn: tls-listening-port, not listening-port), "
            "allow TLS 1.2 and 1.3 on the server, and compare with `openssl s_client -connect HOST:PORT`.",
        reference="RFC 8446 (TLS 1.3), RFC 9325 (TLS recommendations), RFC 8656 §3.1",
    ),
    CatalogueEntry(
        id="DNS-FAILURE",
        severity=Severity.ERROR,
        layer=Layer.NAME,
        title="Host name does not resolve",
        symptom="{host} could not be resolved: {detail}.",
        cause="The name is misspelled, its A/AAAA records are missing, or this machine's resolver cannot "
              "reach DNS (VPN down, split-horizon DNS, captive portal).",
        fix="Check the spelling in the URI, publish an A record (and AAAA if the server has IPv6), and "
            "compare with `rtcdiag dns HOST`.",
        reference="RFC 7064 §3.2 / RFC 7065 §3 (resolving stun:/turn: URIs), RFC 5928 (SRV)",
    ),
    CatalogueEntry(
        id="NO-ROUTE",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="No route to the server",
        symptom="Sending to {server} over {transport} failed locally: {detail}.",
        cause="This machine has no route to that address: typically no IPv6 connectivity for an IPv6 "
              "address, a VPN or interface that is down, or a local firewall rule that rejects the packet.",
        fix="Check `ip route get ADDRESS`; for IPv6 without IPv6 connectivity use the IPv4 address or name; "
            "bring up the interface or VPN.",
        reference="RFC 1122 §3.3.1 (routing outbound datagrams), RFC 4443 §3.1 (destination unreachable)",
    ),
    CatalogueEntry(
        id="DNS-NOT-WORKING",
        severity=Severity.ERROR,
        layer=Layer.RUN,
        title="DNS does not work on this machine",
        symptom="Every name lookup of this run failed ({count} name(s): {names}), well-known names included.",
        cause="This machine cannot resolve names at all: no nameserver configured or reachable (empty or "
              "wrong /etc/resolv.conf, a VPN or captive portal that took DNS away, a firewall dropping port "
              "53), so every check of a server given by name fails for the same reason.",
        fix="Fix name resolution first: `resolvectl status` or `cat /etc/resolv.conf` to see the "
            "nameservers, `dig example.org` to test one; or give the servers as IP addresses to test them "
            "without DNS.",
        reference="RFC 1034 §5 (resolvers), RFC 7064 §3.2 / RFC 7065 §3 (stun:/turn: URIs are resolved "
                  "first)",
    ),
    CatalogueEntry(
        id="REDIRECT-REFUSED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="Redirect to an address clients must not use",
        symptom="Over {transport} {server} answered 300 Try Alternate with ALTERNATE-SERVER {detail}; "
                "rtcdiag sent nothing there.",
        cause="The server sends clients to a link-local, multicast, broadcast, unspecified or reserved "
              "address, or into loopback or a private network although it was reached elsewhere: a "
              "misconfigured `alternate-server` (an internal address of the server's own network), or a "
              "hostile server or forged reply steering clients at an internal service such as the cloud "
              "metadata address 169.254.169.254. Clients cannot reach a STUN/TURN server there.",
        fix="Set coturn `alternate-server` to an address clients can reach (public, or in the same network "
            "as the address they use for this server), or remove it.",
        reference="RFC 8489 §10, §14.8 (300), §14.15; RFC 6890 and the IANA special-purpose address "
                  "registries",
    ),
    CatalogueEntry(
        id="REDIRECT-LOOP",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="Redirect loop: the alternate servers send clients round in a circle",
        symptom="Over {transport} {server} is part of a 300 Try Alternate loop: {detail}. rtcdiag did not go "
                "back to a server the request had already reached, and no server of the loop answered it.",
        cause="The servers' `alternate-server` settings point at each other (A to B and B back to A) or a "
              "server at itself: every client that follows the redirect ends where it started, so browsers "
              "(which stop at a server they were already sent to) get no candidate from these servers.",
        fix="Point coturn `alternate-server` at a server that answers the request itself (one without "
            "`alternate-server`), or remove it; a server must never name itself. Then re-run this check.",
        reference="RFC 8489 §10 (a client ignores a redirect to a server it already sent the request to), "
                  "§14.15 (ALTERNATE-SERVER)",
    ),
    CatalogueEntry(
        id="INTERNAL-ERROR",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="rtcdiag failed inside the {check_name} check",
        symptom="The {check_name} check about {about} stopped with an internal error: {detail}. The other "
                "checks ran and are reported.",
        cause="A bug in rtcdiag (for example an input its code did not expect from this server); it is not "
              "a verdict on your server or network.",
        fix="Re-run with RTCDIAG_DEBUG=1 to see the traceback and report it to the rtcdiag project with the "
            "JSON report (`--json`), which holds the server's exact answers.",
        reference="rtcdiag exit code 4",
    ),
    CatalogueEntry(
        id="REPLY-FLOOD",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="The server floods replies nobody asked for",
        symptom="{server} sent far more over {transport} than was asked for: {detail}. Loss and round-trip "
                "times measured during the flood are not judged.",
        cause="The server (or something in front of it) answers one request many times, with replies for "
              "other transactions, or with packets nobody asked for. A buggy or hostile server, a reflection "
              "attack in progress, or a misrouted stream. It fills the client's buffers, so late or missing "
              "answers are no evidence of network loss.",
        fix="Check the server's log and version; capture the traffic (`tcpdump -n udp port PORT`) to see "
            "what it sends. Re-run the check once the server is fixed.",
        reference="RFC 8489 §6.3 (a client discards replies that match no transaction), RFC 8656 §11-§12",
    ),
    CatalogueEntry(
        id="TLS-CERT-IGNORED",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Certificate problem ignored (--insecure)",
        symptom="Certificate verification was off for this run (--insecure), but the certificate of {server} "
                "would be rejected by a verifying client: {detail}.",
        cause="--insecure let the check go on past the certificate. Browsers and TURN clients verify it: "
              "they drop this turns:/stuns: server without telling the user (expired, self-signed or "
              "private CA, missing intermediates, or a name that is not the one in the URI).",
        fix="Fix the certificate (renew it, serve the full chain, put the URI's host name in its "
            "subjectAltName), or run without --insecure and pass your private CA with --ca FILE.",
        reference="RFC 5280 §6 (path validation), RFC 6125 §6 (service identity), RFC 8656 §3.1",
    ),
    CatalogueEntry(
        id="TLS-HANDSHAKE-STALL",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="TLS handshake never completed",
        symptom="{server} accepted the TCP connection but did not complete the TLS handshake: {detail}.",
        cause="Something accepts TCP on this port but does not answer the TLS ClientHello: a plain-TCP "
              "STUN/TURN listener (it waits for a STUN message, not TLS), a service that waits for the "
              "client to speak its own protocol, an overloaded or stuck TLS terminator, or a middlebox that "
              "holds TLS connections. Browsers give up on this turns: server.",
        fix="Check that this port is the TLS listener (coturn: tls-listening-port, not listening-port) and "
            "that the server is not overloaded; compare with `openssl s_client -connect HOST:PORT`.",
        reference="RFC 8446 §4.1 (handshake), RFC 8656 §3.1 (TURN over TLS)",
    ),
    CatalogueEntry(
        id="SERVER-SLOW-REPLY",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="Reply arrived too slowly",
        symptom="{server} was still sending its reply over {transport} when the time ran out: {detail}.",
        cause="The reply started but came in a few bytes at a time, far slower than any network carries "
              "a few hundred bytes: an overloaded server, a throttling or broken middlebox, or a tarpit "
              "(slowloris) on this port. Clients time out the same way.",
        fix="Check the server's load and anything between client and server (proxies, load balancers, "
            "traffic shapers); capture the traffic to see the bytes trickle in.",
        reference="RFC 8489 §6.2.2 (stream transaction timeout Ti)",
    ),
    CatalogueEntry(
        id="LOCAL-RESOURCES",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="This machine ran out of file descriptors or socket memory",
        symptom="rtcdiag could not open or use a socket here: {detail}. What needed it was not checked: "
                "inconclusive, not a verdict on the server or the network.",
        cause="The rtcdiag process reached its limit of open files (`ulimit -n`, RLIMIT_NOFILE) or the "
              "system ran out of file descriptors or socket buffer memory while many probes ran at once.",
        fix="Run fewer probes at once (`--concurrency N`, or `concurrency = N` in the check config), or "
            "raise the limit (`ulimit -n 4096`) and run again.",
        reference="POSIX getrlimit() RLIMIT_NOFILE; Linux socket(2) EMFILE, ENFILE, ENOBUFS",
    ),
)
