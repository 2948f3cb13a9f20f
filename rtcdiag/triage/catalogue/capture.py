"""Catalogue entries: ``rtcdiag analyze CAPTURE`` (pcap/pcapng) and ``rtcdiag analyze COTURN-LOG``.

Every symptom names its evidence: the flow, packet numbers and times from the capture (as Wireshark numbers
them), or the log lines of the coturn session.
"""

from rtcdiag.triage.entry import CatalogueEntry, Layer, Severity

_SEEN = "In {file}, {flow}: "
_TURN_CHECK = "Run `rtcdiag turn-check {server_sh}` with the same credentials to see the server's answer."

ENTRIES: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        id="CAPTURE-TURN-401-LOOP",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="TURN server {server} keeps answering 401 to authenticated requests",
        symptom=_SEEN + "the client's authenticated {method} was answered 401 again ({count} time(s), "
                "packets {packets}, first at {when}): the credentials were refused, not merely challenged.",
        cause="The password (or the TURN REST credential) is wrong for user {user} in this realm, the "
              "realm the client hashed with is not the server's, or a REST credential expired or was made "
              "with another static-auth-secret.",
        fix="Check the `user=` line and `realm` of turnserver.conf, or mint the REST credential with the "
            "server's current static-auth-secret and a TTL longer than the call. " + _TURN_CHECK,
        reference="RFC 8656 §7.2, RFC 8489 §9.2.4 (401 after MESSAGE-INTEGRITY)",
    ),
    CatalogueEntry(
        id="CAPTURE-TURN-438-LOOP",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="TURN server {server} keeps answering 438 Stale Nonce",
        symptom=_SEEN + "{count} requests were answered 438 Stale Nonce (packets {packets}, first at "
                "{when}).",
        cause="The client does not retry with the NONCE of the 438 response, or the server's nonces expire "
              "faster than the client can use them (`stale-nonce` set very short, or clocks of a server "
              "cluster behind one address disagree).",
        fix="Retry with the new NONCE (RFC 8489 §9.2.5); raise coturn's `stale-nonce` lifetime; make every "
            "server behind one address share its configuration.",
        reference="RFC 8489 §9.2.5 (438 Stale Nonce)",
    ),
    CatalogueEntry(
        id="CAPTURE-TURN-403-PEER",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="TURN server {server} refuses the peer {peer} (403 on {method})",
        symptom=_SEEN + "{method} for peer {peer} was answered 403 \"{reason}\" ({count} time(s), packets "
                "{packets}, first at {when}).",
        cause="The server's peer access list forbids this address: a `denied-peer-ip` range covers it (or "
              "the peer is a loopback/private address and the server blocks those), so no relayed data can "
              "reach that peer.",
        fix="Allow the peer's range with `allowed-peer-ip` (only addresses that should be reachable "
            "through the relay) or have the peer use an address the policy allows.",
        reference="RFC 8656 §9.1, §11 (403 Forbidden)",
    ),
    CatalogueEntry(
        id="CAPTURE-TURN-486",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="TURN server {server} refused: allocation quota reached (486)",
        symptom=_SEEN + "Allocate was answered 486 \"{reason}\" ({count} time(s), packets {packets}, "
                "first at {when}).",
        cause="User {user} already holds as many allocations as the server's `user-quota` allows.",
        fix="Raise `user-quota`/`total-quota`, give each client its own REST username, and release "
            "allocations (Refresh LIFETIME 0) when a call ends.",
        reference="RFC 8656 §7.2 (486 Allocation Quota Reached)",
    ),
    CatalogueEntry(
        id="CAPTURE-TURN-508",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="TURN server {server} is out of capacity (508)",
        symptom=_SEEN + "Allocate was answered 508 \"{reason}\" ({count} time(s), packets {packets}, "
                "first at {when}).",
        cause="The server has no relay port or capacity left (`total-quota`, `bps-capacity`, a min-port.."
              "max-port range smaller than the load).",
        fix="Add TURN capacity or widen the relay port range.",
        reference="RFC 8656 §7.2 (508 Insufficient Capacity)",
    ),
    CatalogueEntry(
        id="CAPTURE-TURN-NO-DATA-BACK",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="Relay {relayed} of {server} never delivered data back",
        symptom=_SEEN + "the allocation succeeded (packet {allocated}) and the client sent {sent} Send "
                "indication(s)/ChannelData (first at packet {first_sent}), but no Data indication or "
                "ChannelData ever came back from the server.",
        cause="Traffic from the peers does not reach the relay port: relay ports (coturn `min-port`.."
              "`max-port`, UDP 49152-65535 by default) are blocked by a firewall or security group, or "
              "`external-ip` advertises an address that does not reach this server, or the peers never "
              "sent (their side of the call failed).",
        fix="Open the relay port range (UDP) to the internet on the TURN server, check `external-ip` "
            "against the server's public address, then run `rtcdiag turn-check {server_sh}` (it relays to "
            "itself through two allocations).",
        reference="RFC 8656 §10, §12",
    ),
    CatalogueEntry(
        id="CAPTURE-TURN-UNANSWERED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="STUN/TURN requests to {server} were never answered",
        symptom=_SEEN + "{count} request(s) ({detail}) got no response at all (packets {packets}, first at "
                "{when}), retransmissions included.",
        cause="The server is not reachable on this port and transport from where the capture was taken: "
              "a firewall drops the packets, the server is down, or it listens elsewhere.",
        fix="Run `rtcdiag turn-check {server_sh}` from the same host; open the port (UDP and TCP 3478, TLS "
            "5349 or 443) on the server's firewall.",
        reference="RFC 8489 §6.2.1 (retransmissions, Rc = 7)",
    ),
    CatalogueEntry(
        id="CAPTURE-TURN-REFRESH-MISSING",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="Allocation {relayed} expired: no Refresh before its lifetime ran out",
        symptom=_SEEN + "the allocation made at packet {allocated} ({lifetime} s lifetime) was last "
                "refreshed at {last_refresh} and expired at {expired}; the capture goes on {after} s "
                "after that without a Refresh.",
        cause="The client stopped refreshing its allocation (RFC 8656 §8: refresh before LIFETIME expires; "
              "a call through this relay drops at about 600 s, coturn's default lifetime), e.g. a TURN "
              "client library without refresh, or a tab throttled in the background.",
        fix="Refresh the allocation about a minute before it expires (browsers do; custom TURN clients "
            "must), or raise coturn's `max-allocate-lifetime`/`default-allocate-lifetime` as a stopgap.",
        reference="RFC 8656 §8 (Refreshing an Allocation)",
    ),
    CatalogueEntry(
        id="CAPTURE-TURN-OVER-TCP",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="TURN over {transport} in use to {server}",
        symptom=_SEEN + "the client reached its TURN server over {transport} ({detail}).",
        cause="UDP to the TURN server is not used (blocked, or the client prefers TCP/TLS): relayed media "
              "then suffers head-of-line blocking and more latency under loss.",
        fix="If UDP should work from this network, check that UDP 3478 and the relay ports are open; TCP "
            "and TLS on 443 are the fallback for networks that block UDP.",
        reference="RFC 8656 §3.1 (transports), RFC 6062",
    ),
    CatalogueEntry(
        id="CAPTURE-ICE-NO-RESPONSE",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="ICE checks from {sender} to {receiver} were never answered",
        symptom=_SEEN + "{count} connectivity check packet(s) (Binding with PRIORITY, retransmissions "
                "included) got no response (packets {packets}, first at {when}); none was answered on this "
                "pair.",
        cause="The path between the two candidates is blocked (firewall, NAT without hairpinning or with "
              "address-dependent filtering), or the other side never got this candidate or runs no ICE.",
        fix="Compare with a pair that worked; give both sides a TURN server so that a relay pair is "
            "possible; check the signalling delivered the candidates.",
        reference="RFC 8445 §7.2.5 (check failure), §2.3",
    ),
    CatalogueEntry(
        id="CAPTURE-ICE-ONE-WAY",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="ICE on {sender} <-> {receiver} works one way only",
        symptom=_SEEN + "{receiver}'s checks arrive and are answered ({peer_checks} seen), but the {count} "
                "check packet(s) of {sender} got no response (packets {packets}, first at {when}).",
        cause="Traffic flows one way: a firewall or NAT lets {receiver}'s packets in but drops {sender}'s "
              "(or their responses), or the other side drops checks whose credentials it does not know "
              "yet.",
        fix="Look for asymmetric filtering between the two (a stateful firewall that only opens for one "
            "side); a TURN relay on both sides avoids the broken path.",
        reference="RFC 8445 §7.3.1.4 (triggered checks), RFC 4787 (filtering)",
    ),
    CatalogueEntry(
        id="CAPTURE-ICE-CONSENT-LOST",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="Consent lost mid-call on {sender} <-> {receiver}",
        symptom=_SEEN + "checks from {sender} were answered until {last_answered}, then {count} check "
                "packet(s) got no response (packets {packets}, first at {when}); the capture goes on "
                "{after} s after the last answer.",
        cause="The path broke during the call: a NAT binding expired or changed (the device moved to "
              "another network), a firewall state timed out, or the other side went away (closed without "
              "a word, its TURN allocation deleted). After 30 s without a consent response the connection "
              "is dropped (RFC 7675 §5.1); browsers give a path up sooner (Chromium after 15-20 s).",
        fix="Keep NAT bindings alive (consent checks every ~5 s do, unless something drops them); look for "
            "a network change at that time; let the app restart ICE (restartIce()) when the state goes "
            "to disconnected.",
        reference="RFC 7675 §5.1 (consent freshness), RFC 8445 §9 (ICE restart)",
    ),
    CatalogueEntry(
        id="CAPTURE-ICE-PEER-HUNG-UP",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="{receiver} hung up: its TURN allocation was deleted ({flow})",
        symptom=_SEEN + "the TURN client {turn_client} of {receiver} deleted its allocation (Refresh "
                "LIFETIME 0, packet {packet} at {when}) as its answers to the checks of {sender} stopped; "
                "{sender} went on checking, {count} check packet(s) unanswered, for the {after} s the "
                "capture goes on.",
        cause="The other side closed its connection (its app called close(), or its page went away): a "
              "browser deletes its TURN allocation when it closes, and sends a DTLS close_notify that DTLS "
              "1.3 encrypts. A hang-up, not a path that broke; this side did not close its own connection.",
        fix="Nothing to fix in the network. To end this side cleanly, close its connection when the other "
            "side hangs up (a signalling message, or the DTLS transport's state \"closed\").",
        reference="RFC 8656 §7.2 (Refresh with LIFETIME 0), RFC 7675 §5.1, RFC 8446 §6.1 (close_notify)",
    ),
    CatalogueEntry(
        id="CAPTURE-ICE-UNANSWERED-AT-END",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Checks from {sender} go unanswered at the end of the capture ({flow})",
        symptom=_SEEN + "checks from {sender} were answered until {last_answered}, then {count} check "
                "packet(s) got no response (packets {packets}, first at {when}); the capture stops {after} s "
                "after the last answer, too soon to call the call lost.",
        cause="The path was broken when the capture stopped: the other side went away (closed without a "
              "word, its allocation deleted, its network gone) or a NAT or firewall began dropping the "
              "packets. Whether the call recovered, or an app hang-up closed only one side, is not in the "
              "capture.",
        fix="Capture until the call ends (or 30 s past the last answer: RFC 7675 then ends the session); "
            "compare with the other side's own evidence (a webrtc-internals dump shows \"disconnected\").",
        reference="RFC 7675 §5.1 (consent freshness)",
    ),
    CatalogueEntry(
        id="CAPTURE-DTLS-NO-SERVERHELLO",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="DTLS ClientHello from {sender} never answered",
        symptom=_SEEN + "{count} DTLS ClientHello(s) (packets {packets}, first at {when}) got no "
                "ServerHello.",
        cause="The other side is not the DTLS server (both sides think they are clients, or neither "
              "started), its fingerprint check failed silently, or the path drops larger datagrams "
              "(a ClientHello with certificates can exceed the path MTU).",
        fix="Check the SDP `a=setup` roles (one active, one passive) and `a=fingerprint`; look for "
            "fragmented or dropped large UDP packets on the path.",
        reference="RFC 9147 §4.2, RFC 8842 (a=setup)",
    ),
    CatalogueEntry(
        id="CAPTURE-DTLS-ROLE-CONFLICT",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="Both sides sent a DTLS ClientHello on {flow}",
        symptom=_SEEN + "ClientHellos from both sides (packets {packets}, first at {when}) and no "
                "ServerHello.",
        cause="Both endpoints took the DTLS client role, so neither answers: each believes the other is "
              "passive (both SDPs say `a=setup:active`, or an answer's `active` was rewritten to `passive` "
              "on its way to the offerer). A client that gets a ClientHello may abort with an alert.",
        fix="The answerer must pick `a=setup:active` or `passive` opposite to the offerer (RFC 8842 §5.2); "
            "fix the signalling code that rewrites `a=setup`.",
        reference="RFC 8842 §5, RFC 5763 §5",
    ),
    CatalogueEntry(
        id="CAPTURE-DTLS-NOT-STARTED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="ICE connected on {flow} but DTLS never started",
        symptom=_SEEN + "ICE checks were answered both ways from {when} for {seconds} s ({answered} "
                "answers), yet not one DTLS record crossed, nor any RTP: neither end sent a ClientHello.",
        cause="Both ends took the DTLS server role and wait for the other's ClientHello: `a=setup` was "
              "rewritten so that the offerer saw `active` from its peer and the answerer `active` too (each "
              "then is passive), or an endpoint answered `passive` to a `passive` offer. Less often a "
              "middlebox drops DTLS while it lets STUN through (a capture beyond it shows the ClientHellos).",
        fix="Send the SDP unchanged: the offer says `a=setup:actpass`, the answer `active` or `passive`, "
            "and each side must see the other's real choice (RFC 8842 §5.2); fix the signalling code that "
            "rewrites `a=setup`.",
        reference="RFC 8842 §5, RFC 5763 §5; RFC 9147 §5.8.2 (ClientHello retransmission)",
    ),
    CatalogueEntry(
        id="CAPTURE-DTLS-UNDECIDED",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="DTLS on {count} call(s) of {file}: not decided",
        symptom="{calls}.",
        cause="The DTLS handshake ran and then nothing went over it, but the call (or the capture) stopped "
              "at once: a browser that refused the peer's certificate looks the same as one that hung up, "
              "since DTLS 1.3 encrypts the alert and the close_notify alike.",
        fix="Analyze the browser's own evidence of the call (webrtc-internals or rtcstats dump: the DTLS "
            "state), or capture a call that stays up longer.",
        reference="RFC 9147 §4 (unified header), RFC 8446 §6 (alerts)",
    ),
    CatalogueEntry(
        id="CAPTURE-TCP-REFUSED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="TCP connections to {servers} were refused",
        symptom="In {file}: {count} TCP connection attempt(s) answered by RST, never by SYN+ACK ({detail}); "
                "no STUN, TURN, DTLS or RTP anywhere in the capture.",
        cause="Nothing listens on that address and port (the server is down, or listens on another port): "
              "the browser's TURN over TCP or `turns:` connection, or its ICE-TCP candidate, could not even "
              "open. A firewall that rejects (rather than drops) connections answers the same way.",
        fix="Check that the server runs and that the URL's port is its `listening-port` or "
            "`tls-listening-port`; `rtcdiag ports {first_sh}` probes that port from here.",
        reference="RFC 9293 §3.5.2 (reset for a connection that does not exist); RFC 6062, RFC 8656 §3.1",
    ),
    CatalogueEntry(
        id="CAPTURE-DTLS-ALERT",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="DTLS alert on {flow}: {alert}",
        symptom=_SEEN + "{count} DTLS alert(s) (packets {packets}, first at {when}: {alert}).",
        cause="One side aborted the DTLS handshake or session: a certificate whose fingerprint does not "
              "match the SDP, no common cipher/version (handshake_failure), or the session was closed.",
        fix="Compare `a=fingerprint` in the SDP with the certificate each side uses; check both sides "
            "support DTLS 1.2 with ECDHE ciphers.",
        reference="RFC 8446 §6 (alerts), RFC 5763 §5 (fingerprint)",
    ),
    CatalogueEntry(
        id="CAPTURE-MEDIA-ONE-WAY",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Media flows one way only on {flow}",
        symptom=_SEEN + "{sent} RTP packet(s) from {sender} (first at packet {packets}), none back from "
                "{receiver}.",
        cause="The other side does not send (muted, recvonly, its camera or microphone failed) or its "
              "packets are dropped on the way back (one-way NAT or firewall rule).",
        fix="Check the other side's outbound-rtp stats and the m-line direction; then look for a "
            "firewall that only lets this direction through.",
        reference="RFC 3550, RFC 8829 (direction attributes)",
    ),
    CatalogueEntry(
        id="CAPTURE-TLS-CERTIFICATE-REFUSED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="The client refused the certificate of {what} {server} ({alert})",
        symptom=_SEEN + "the client read the server's certificate and answered with a {alert} alert ({count} "
                "connection(s), first at packet {packet}, {when}; {version}); no TURN request followed.",
        cause="The certificate of {server} is not one the client accepts: self-signed or signed by a CA it "
              "does not trust (browsers have no exception for `turns:`), expired, for another name than the "
              "one in the URL, or missing its intermediate certificates. The server itself answered.",
        fix="Give the server a certificate from a public CA for the name in the `turns:` URL, with its full "
            "chain (coturn `cert=` the fullchain file, `pkey=`), and run `rtcdiag turn-check` on that URL: "
            "it verifies the certificate as a browser does.",
        reference="RFC 8446 §6.2 (alerts), RFC 7350 / RFC 8656 §3.1 (turns:), RFC 5246 §7.2",
    ),
    CatalogueEntry(
        id="CAPTURE-TLS-CLIENT-ENDED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="The client ended the TLS handshake with {what} {server}",
        symptom=_SEEN + "after the server's ServerHello and (encrypted) certificate, the client sent {said}; "
                "the connection was closed by {closer} ({count} connection(s), first at {when}; {version}), "
                "and no TURN request ever went through it.",
        cause="The client gave up on the server's handshake: most often it refused the certificate "
              "(self-signed, untrusted CA, expired, wrong name, incomplete chain). TLS 1.3 encrypts the "
              "certificate and the client's alert, so the capture cannot say which.",
        fix="Run `rtcdiag turn-check` on the `turns:` URL (it verifies the certificate as a browser does); "
            "give the server a certificate from a public CA for that name, with its full chain.",
        reference="RFC 8446 §4.4.2, §6 (TLS 1.3 encrypts the certificate and alerts), RFC 8656 §3.1",
    ),
    CatalogueEntry(
        id="CAPTURE-TLS-HANDSHAKE-FAILED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="TLS handshake with {what} {server} failed",
        symptom=_SEEN + "{who} {how} ({count} connection(s), first at {when}; {version}); no TURN request "
                "went through.",
        cause="Client and server could not agree on TLS: no common protocol version or cipher suite (an old "
              "client, or a server with `no-tlsv1_2` / a narrow `cipher-list`), a client certificate the "
              "server wanted, or a server refusing this client's ClientHello (SNI, ALPN).",
        fix="Compare the TLS versions and ciphers of client and server (`openssl s_client -connect "
            "{server_sh}`), then `rtcdiag turn-check` on the `turns:` URL.",
        reference="RFC 8446 §6.2, RFC 8656 §3.1",
    ),
    CatalogueEntry(
        id="CAPTURE-TLS-NO-SERVERHELLO",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{what} {server} never answered the TLS ClientHello",
        symptom=_SEEN + "the client's ClientHello (packet {packet}, {when}, offering {offered}) got no TLS "
                "answer: {end} ({count} connection(s)).",
        cause="The server does not accept what the client offers and says nothing (coturn 4.6 stays silent "
              "to a ClientHello offering only TLS 1.1 or older when `no-tlsv1_1` is set), or something "
              "accepts TCP on that port without speaking TLS there (plain TCP TURN or another service, a "
              "proxy with no certificate), or the server is overloaded.",
        fix="Let client and server share a TLS version (TLS 1.2 or 1.3); check which port serves TLS (coturn "
            "`tls-listening-port`, 5349 by default) and that `cert=` and `pkey=` are set; then `rtcdiag "
            "turn-check` on the `turns:` URL.",
        reference="RFC 8446 §4.1.3, RFC 8656 §3.1",
    ),
    CatalogueEntry(
        id="CAPTURE-TLS-ONLY",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="Only TLS in {file}: {count} connection(s), encrypted",
        symptom="The capture holds {count} TLS connection(s) to {servers} ({turn} to a TURN port), whose "
                "handshakes completed; no STUN, TURN, DTLS or RTP in clear.",
        cause="TURN over TLS (`turns:`) encrypts everything the client and the server say, so the capture "
              "cannot show whether allocations and relaying worked.",
        fix="Capture on the TURN server's relay side as well (its relay ports carry the call in clear), or "
            "analyze the browser's webrtc-internals dump of the same call.",
        reference="RFC 8656 §3.1",
    ),
    CatalogueEntry(
        id="CAPTURE-NO-WEBRTC",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="No STUN, TURN, DTLS or RTP in {file}",
        symptom="{packets} packet(s) were read, none of them STUN, TURN, DTLS or RTP.",
        cause="The capture was taken on another interface or host, with a filter that excluded the call, "
              "or before or after the call.",
        fix="Capture on the interface the call uses while it runs: `tcpdump -i any -w call.pcap udp or tcp "
            "port 3478 or tcp port 443`.",
        reference="",
    ),
    # ---- coturn logs ------------------------------------------------------------------------------
    CatalogueEntry(
        id="COTURN-LOG-401",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="coturn refused the credentials of user {user} ({count} time(s))",
        symptom="In {file}: {count} authenticated request(s) of user {user} were answered 401 (first: "
                "{when} from {client}).",
        cause="Wrong password for this user and realm, or an expired/foreign TURN REST credential.",
        fix="Check the user's password (or the REST secret and TTL) against turnserver.conf.",
        reference="RFC 8656 §7.2",
    ),
    CatalogueEntry(
        id="COTURN-LOG-403",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="coturn refused peer {peer} (403)",
        symptom="In {file}: {count} CreatePermission/ChannelBind request(s) for peer {peer} were refused "
                "(first: {when}, session of {user}).",
        cause="A `denied-peer-ip` range (or the loopback/private address policy) covers this peer.",
        fix="Allow the peer's range with `allowed-peer-ip` if it should be reachable through the relay.",
        reference="RFC 8656 §9.1",
    ),
    CatalogueEntry(
        id="COTURN-LOG-QUOTA",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="coturn refused allocations: {what}",
        symptom="In {file}: {count} allocation(s) refused ({what}; first: {when}, user {user}).",
        cause="A user or total allocation quota, or the server's capacity, was reached.",
        fix="Raise `user-quota`/`total-quota`, widen the relay port range, or add servers.",
        reference="RFC 8656 §7.2 (486, 508)",
    ),
    CatalogueEntry(
        id="COTURN-LOG-TLS-FAILED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="TLS handshakes with coturn failed before any request ({count} connection(s))",
        symptom="In {file}: {count} TLS connection(s) ended in a failed handshake (\"TLS/TCP socket buffer "
                "operation error\") before the client sent a single request (first: {when} from {client}); "
                "{allocated} session(s) of this log allocated.",
        cause="The clients could not (or would not) complete TLS with coturn: a browser refuses a "
              "self-signed, untrusted, expired or wrong-name certificate on `turns:` (it gives the page only "
              "error 701), or client and server share no TLS version or cipher. coturn's log does not say "
              "which side gave up; a capture of the same connections shows the client's alert.",
        fix="Run `rtcdiag turn-check` on the `turns:` URL (it verifies the certificate as a browser does); "
            "give coturn a certificate from a public CA for that name with its full chain (`cert=`, "
            "`pkey=`).",
        reference="RFC 8656 §3.1 (turns:), RFC 8446 §6",
    ),
    CatalogueEntry(
        id="COTURN-LOG-CLOSED-BEFORE-REQUEST",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="Clients completed TLS with coturn, then closed without a request ({count})",
        symptom="In {file}: {count} connection(s) completed their TLS handshake and were closed by the "
                "client before any Allocate (first: {when} from {client}); no session of this log allocated.",
        cause="The client connected and left: a health check or a port scanner, a browser that gathered "
              "its candidates elsewhere first and dropped this server, or a page closed early. The log "
              "alone cannot tell whether a call was meant to go through this server.",
        fix="Look at the same time in the browser's evidence (webrtc-internals dump) or a capture; run "
            "`rtcdiag turn-check` on the `turns:` URL.",
        reference="RFC 8656 §3.1",
    ),
    CatalogueEntry(
        id="CAPTURE-TURN-437",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="TURN server {server} answered 437 Allocation Mismatch",
        symptom=_SEEN + "{method} was answered 437 \"{reason}\" ({count} time(s), packets {packets}, "
                "first at {when}).",
        cause="{explanation}",
        fix="Send one Allocate per 5-tuple and retransmit it with the same transaction ID (RFC 8489 §6.2.1); "
            "after a 437 on Refresh, CreatePermission or ChannelBind, allocate again (from a new local port) "
            "instead of retrying; keep the allocation alive with Refresh before its LIFETIME runs out.",
        reference="RFC 8656 §7.2, §7.3, §9 (437 Allocation Mismatch)",
    ),
    CatalogueEntry(
        id="CAPTURE-TURN-SERVER-STOPPED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="TURN server {server} stopped answering mid-call",
        symptom=_SEEN + "the server relayed for {client} (allocation {relayed}) until {last} (packet "
                "{last_packet}); after it, the client sent {sent} packet(s) without a single reply, its "
                "requests went unanswered (packets {packets}) and the capture goes on {after} s.",
        cause="The TURN server process stopped or restarted (a crash, an OOM kill, a redeploy), its host or "
              "the path to it went down, or a firewall began dropping this 5-tuple. The peer is not the "
              "cause: a live TURN server answers its client's requests whatever the peer does.",
        fix="Look at the TURN server's log and uptime at that time (coturn's `log-file`, the service "
            "manager's restarts); run more than one TURN server and let the app restart ICE "
            "(restartIce()) when the connection goes to disconnected.",
        reference="RFC 8656 §7-12 (the server answers every request of an allocation), RFC 7675 §5.1",
    ),
    CatalogueEntry(
        id="CAPTURE-DTLS-NOTHING-AFTER-HANDSHAKE",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="DTLS handshake on {flow} was never followed by media or data",
        symptom=_SEEN + "the {version} handshake ran (ClientHello packet {client_hello}, ServerHello packet "
                "{server_hello} at {when}), {followed}, and {media}, while ICE checks kept being answered "
                "for {after} s.",
        cause="One side dropped the DTLS session during or after the handshake ({alert_note}): most often "
              "the certificate did not match the a=fingerprint of the remote SDP (the SDP was changed in "
              "transit or munged, or belongs to another session), so the browser refused to use it.",
        fix="Pass the SDP through signalling unchanged (compare the a=fingerprint lines on both sides); "
            "a browser dump of the same call (`rtcdiag analyze` on webrtc-internals) shows the DTLS state "
            "\"failed\".",
        reference="RFC 8842 §5 (a=fingerprint), RFC 5763 §5, RFC 8261 (SCTP over DTLS), RFC 5764 (SRTP)",
    ),
)
