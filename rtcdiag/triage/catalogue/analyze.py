"""Catalogue entries: ``rtcdiag analyze`` — a failed call triaged from the browser's own evidence
(chrome://webrtc-internals dumps). Every symptom quotes the evidence: the event, its time, the stats id."""

from rtcdiag.triage.catalogue import analyze_session
from rtcdiag.triage.entry import CatalogueEntry, Layer, Severity

_TURN_FIX_CHECK = "Run `rtcdiag turn-check {url_sh}` with the same credentials to see the server's answer."

# The ICE servers and ICE here; DTLS, signalling, getUserMedia and the rest in analyze_session (same area).
ENTRIES: tuple[CatalogueEntry, ...] = (
    # ---- ICE servers (onicecandidateerror, RFC 8656 error codes; 701 is the W3C "could not reach") -----
    CatalogueEntry(
        id="ANALYZE-TURN-401",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        # a refusal of the other side's Allocate is why no remote candidate ever arrived (shown by the dump)
        explains=frozenset({"ANALYZE-NO-REMOTE-CANDIDATES"}),
        title="TURN server {url} rejected the credentials (401)",
        symptom="The browser's Allocate to {url} was answered 401 \"{text}\" ({count} time(s), first at "
                "{when} in {pcs}); it gathered no relay candidate from this server.",
        cause="The username or credential in iceServers is wrong for this realm, or it is a time-limited "
              "TURN REST credential (\"expiry:user\" + HMAC) that has expired, was made with another "
              "static-auth-secret, or was made on a server whose clock is off.",
        fix="Give the page credentials the server accepts: for TURN REST, mint them with the server's "
            "current `static-auth-secret` and a TTL longer than the call (check both clocks with NTP); "
            "for lt-cred-mech, check the `user=` line and the realm. " + _TURN_FIX_CHECK,
        reference="RFC 8656 §7.2, §9.2 (401); draft-uberti-behave-turn-rest-00",
    ),
    CatalogueEntry(
        id="ANALYZE-TURN-403",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        # a refusal of the other side's Allocate is why no remote candidate ever arrived (shown by the dump)
        explains=frozenset({"ANALYZE-NO-REMOTE-CANDIDATES"}),
        title="TURN server {url} answered 403 Forbidden",
        symptom="The browser's request to {url} was answered 403 \"{text}\" ({count} time(s), first at "
                "{when} in {pcs}).",
        cause="The server refuses this user or this peer address: a `denied-peer-ip` range covers the "
              "other side's address, or the account is not allowed to allocate.",
        fix="Check `denied-peer-ip`/`allowed-peer-ip` and the user's rights in turnserver.conf. "
            + _TURN_FIX_CHECK,
        reference="RFC 8656 §9.1 (403 Forbidden)",
    ),
    CatalogueEntry(
        id="ANALYZE-TURN-437",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        # a refusal of the other side's Allocate is why no remote candidate ever arrived (shown by the dump)
        explains=frozenset({"ANALYZE-NO-REMOTE-CANDIDATES"}),
        title="TURN server {url} answered 437 Allocation Mismatch",
        symptom="The browser's request to {url} was answered 437 \"{text}\" ({count} time(s), first at "
                "{when} in {pcs}).",
        cause="The server still holds an allocation for this client address and port (a restarted client "
              "reusing a port, or a NAT that maps two clients to one address), or lost it after a restart.",
        fix="Usually transient (the browser retries from another port); if it persists, look for a NAT or "
            "load balancer that rewrites source ports towards the TURN server. " + _TURN_FIX_CHECK,
        reference="RFC 8656 §7.2 (437)",
    ),
    CatalogueEntry(
        id="ANALYZE-TURN-486",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        # a refusal of the other side's Allocate is why no remote candidate ever arrived (shown by the dump)
        explains=frozenset({"ANALYZE-NO-REMOTE-CANDIDATES"}),
        title="TURN server {url} refused: allocation quota reached (486)",
        symptom="The browser's Allocate to {url} was answered 486 \"{text}\" ({count} time(s), first at "
                "{when} in {pcs}).",
        cause="This user already holds as many allocations as `user-quota` allows (every peer connection and "
              "every transport needs one; tabs that never close their connections keep theirs).",
        fix="Raise `user-quota` (or `total-quota`), give each client its own TURN REST username, and close "
            "peer connections the app no longer uses.",
        reference="RFC 8656 §7.2 (486 Allocation Quota Reached)",
    ),
    CatalogueEntry(
        id="ANALYZE-TURN-508",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        # a refusal of the other side's Allocate is why no remote candidate ever arrived (shown by the dump)
        explains=frozenset({"ANALYZE-NO-REMOTE-CANDIDATES"}),
        title="TURN server {url} is out of capacity (508)",
        symptom="The browser's Allocate to {url} was answered 508 \"{text}\" ({count} time(s), first at "
                "{when} in {pcs}).",
        cause="The server has no relay ports or bandwidth left (`total-quota`, `bps-capacity`, or a "
              "min-port..max-port range smaller than the load).",
        fix="Add TURN capacity (more servers, a wider relay port range) or raise the server's limits.",
        reference="RFC 8656 §7.2 (508 Insufficient Capacity)",
    ),
    CatalogueEntry(
        id="ANALYZE-TURN-ERROR",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        # a refusal of the other side's Allocate is why no remote candidate ever arrived (shown by the dump)
        explains=frozenset({"ANALYZE-NO-REMOTE-CANDIDATES"}),
        title="TURN server {url} answered error {code}",
        symptom="The browser's request to {url} failed with {code} \"{text}\" ({count} time(s), first at "
                "{when} in {pcs}).",
        cause="The server refused the allocation for the reason its error code says.",
        fix=_TURN_FIX_CHECK,
        reference="RFC 8656 §18 (error codes)",
    ),
    CatalogueEntry(
        id="ANALYZE-TURN-UNREACHABLE",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        # Chromium also sends a STUN Binding to every TURN URL: one dead server gives both 701s
        explains=frozenset({"ANALYZE-STUN-UNREACHABLE"}),
        title="TURN server {url} could not be reached (701)",
        symptom="The browser reported error 701 \"{text}\" for {url} ({count} time(s), first at {when} in "
                "{pcs}) and gathered no relay candidate from it.",
        cause="Nothing answered at that address and port over that transport: the server is down, a "
              "firewall drops the traffic, the port or `?transport=` is wrong, or the name does not resolve.",
        fix="Run `rtcdiag ports {url_sh}` and `rtcdiag turn-check {url_sh}` from the same network as the "
            "browser; offer `turns:` on TCP 443 for networks that block UDP.",
        reference="W3C webrtc-pc RTCPeerConnectionIceErrorEvent (701); RFC 8656 §7",
    ),
    CatalogueEntry(
        # A turns: 701 is not "nothing answered": Chromium says the same "Failed to establish connection" when
        # nothing listens and when the server answered but its certificate was refused (both seen on real
        # calls, tests/fixtures/analyze/turns-*). The dump cannot tell them apart: say both, and what decides.
        id="ANALYZE-TURNS-CONNECT-FAILED",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        title="No TLS connection to TURN server {url} (701): unreachable, or its certificate was refused",
        symptom="The browser reported error 701 \"{text}\" for {url} ({count} time(s), first at {when} in "
                "{pcs}) and gathered no relay candidate from it.",
        cause="Over `turns:` (TLS over TCP) the browser reports the same 701 for two different causes, and "
              "the dump cannot tell which: nothing accepted the TCP connection (the server is down, a "
              "firewall drops it, the port is wrong), or the server answered and the browser refused the "
              "TLS handshake — a self-signed or otherwise untrusted certificate, a certificate for another "
              "name than {host}, an expired one, or no TLS version or cipher in common.",
        fix="Run `rtcdiag turn-check {url_sh}` from the browser's network: it checks the certificate as a "
            "browser does (do not pass --insecure) and tells a closed port from a refused certificate. A "
            "capture of the call shows a TLS alert from the browser when it was the certificate. If it was: "
            "give the server a certificate from a public CA for the name in the URL (a URL with an IP "
            "address needs one for that address); if the port was closed: start the server or open the "
            "firewall for TCP to that port.",
        reference="W3C webrtc-pc RTCPeerConnectionIceErrorEvent (701); RFC 7065 §3 (turns:); "
                  "RFC 8446 §6.2 (TLS alerts)",
    ),
    CatalogueEntry(
        id="ANALYZE-STUN-UNREACHABLE",
        severity=Severity.WARNING,
        layer=Layer.ENDPOINT,
        title="STUN server {url} could not be reached (701)",
        symptom="The browser reported error 701 \"{text}\" for {url} ({count} time(s), first at {when} in "
                "{pcs}) and gathered no server-reflexive candidate from it.",
        cause="The STUN server is down, its port is wrong, or UDP to it is blocked on this network.",
        fix="Run `rtcdiag stun {url_sh}`; without a reachable STUN (or TURN) server, peers behind NAT can "
            "only reach each other on the same network.",
        reference="W3C webrtc-pc RTCPeerConnectionIceErrorEvent (701); RFC 8489 §6",
    ),
    CatalogueEntry(
        id="ANALYZE-TURN-NO-RELAY",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        # a refusal of the other side's Allocate is why no remote candidate ever arrived (shown by the dump)
        explains=frozenset({"ANALYZE-NO-REMOTE-CANDIDATES"}),
        title="No relay candidate from {url}, and no error either",
        symptom="{pcs} had {url} configured but gathered no relay candidate from it and reported no "
                "icecandidateerror ({gathering}).",
        cause="The browser got no answer at all it could report: over UDP a silent or unreachable server "
              "(nothing listening, a firewall dropping the packets) ends gathering without an error event.",
        fix="Check the server with `rtcdiag turn-check {url_sh}` from the browser's network; look for a "
            "firewall on the path and for the right port and `?transport=`.",
        reference="RFC 8445 §5.1.1.2; RFC 8656 §7",
    ),
    CatalogueEntry(
        id="ANALYZE-TURN-NO-RELAY-UNEXPLAINED",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        # a refusal of the other side's Allocate is why no remote candidate ever arrived (shown by the dump)
        explains=frozenset({"ANALYZE-NO-REMOTE-CANDIDATES"}),
        title="No relay candidate from {url}, and {source} does not say why",
        symptom="{pcs} had {url} configured and gathered no relay candidate from it; {source} keeps no "
                "icecandidateerror, so a refused Allocate (401 wrong credentials, 403, 486) and a server "
                "that never answered look the same in it.",
        cause="Either the TURN server refused the credentials or the allocation, or it could not be reached; "
              "only the browser's ICE log tells which.",
        fix="Give the ICE log too: in about:webrtc, \"Save Page\" (its Connection Log section) or the log "
            "text, read together with the report (`rtcdiag analyze report.json aboutWebrtc.html`); or test "
            "the server with `rtcdiag turn-check {url_sh}` and the same credentials.",
        reference="W3C webrtc-pc RTCPeerConnectionIceErrorEvent; RFC 8656 §7.2",
    ),
    CatalogueEntry(
        id="ANALYZE-ICE-RESTARTS",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="{pc} restarted ICE {restarts} time(s)",
        symptom="The browser counted {restarts} ICE restart(s) and {rollbacks} rollback(s) on {pc}; it ended "
                "ICE \"{ice}\".",
        cause="The application (or the browser after a network change) asked for new ICE credentials "
              "(restartIce(), createOffer({{iceRestart: true}})); rollbacks come from glare handled by "
              "rolling back an offer (perfect negotiation).",
        fix="Nothing, when the call recovered; when restarts repeat, look for what keeps breaking the path "
            "(network changes, a TURN allocation that expired).",
        reference="RFC 8445 §9; W3C webrtc-pc §4.4.1.6 (restartIce)",
    ),
    CatalogueEntry(
        id="ANALYZE-STUN-NO-SRFLX",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="No server-reflexive candidate from {url}, and no error either",
        symptom="{pcs} had {url} configured and finished gathering with host candidates but no "
                "server-reflexive (srflx) candidate, and no icecandidateerror was reported.",
        cause="The STUN server did not answer and the browser did not say so, or this machine has a public "
              "address (the browser drops a srflx candidate equal to a host candidate: then all is well).",
        fix="Run `rtcdiag stun {url_sh}` from the browser's network; if the machine is behind NAT, look for "
            "a firewall dropping UDP to the STUN port.",
        reference="RFC 8445 §5.1.1.2, §5.1.3 (redundant candidates are eliminated)",
    ),
    # ---- ICE ------------------------------------------------------------------------------------------
    CatalogueEntry(
        id="ANALYZE-SLOW-GATHERING",
        severity=Severity.WARNING,
        layer=Layer.CONSEQUENCE,
        title="ICE gathering took {seconds} s",
        symptom="In {pc} ICE gathering ran for {seconds} s{outcome} (ICE servers: {servers}).",
        cause="A STUN/TURN server that does not answer keeps gathering open until the browser gives up on "
              "it; without trickle ICE the offer waits for it, so every call set-up waits as long.",
        fix="Remove or fix the ICE server that does not answer (see its finding), and use trickle ICE: send "
            "candidates as they come instead of waiting for gathering to complete.",
        reference="RFC 8838 (Trickle ICE) §1",
    ),
    CatalogueEntry(
        id="ANALYZE-RELAY-ONLY-NO-CANDIDATE",
        severity=Severity.ERROR,
        layer=Layer.CONSEQUENCE,
        title="Relay-only connection without a relay candidate",
        symptom="{pc} has iceTransportPolicy \"relay\" but gathered no relay candidate ({gathering}): it "
                "had nothing to connect with.",
        cause="With a relay-only policy every path goes through TURN, so the call cannot start when the "
              "TURN allocation fails (see the TURN finding for the reason).",
        fix="Fix the TURN server or the credentials first; keep iceTransportPolicy \"all\" unless hiding "
            "the client's address is a requirement.",
        reference="W3C webrtc-pc RTCIceTransportPolicy; RFC 8445 §5.1.1.2",
    ),
    CatalogueEntry(
        id="ANALYZE-NO-REMOTE-CANDIDATES",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        any_transport=True,
        title="No remote candidates ever arrived",
        symptom="{pc} set the remote description at {when} but no addIceCandidate call followed and the "
                "remote SDP carried no a=candidate lines; the last ICE state was \"{ice_state}\"{remote}.",
        cause="The other side had no candidate to send (its own gathering failed: a TURN server refused "
              "it, in a relay-only call) or trickle ICE signalling is broken: the other side's "
              "onicecandidate events are not sent, are sent to the wrong peer or session, or are dropped by "
              "the signalling server.",
        fix="Send every onicecandidate (including end-of-candidates) over signalling and call "
            "addIceCandidate on the other side after setRemoteDescription; log both ends to compare.",
        reference="RFC 8838 (Trickle ICE) §8, §11",
    ),
    CatalogueEntry(
        id="ANALYZE-ADD-CANDIDATE-FAILED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="addIceCandidate failed",
        symptom="In {pc} {count} addIceCandidate call(s) failed, first at {when}: \"{error}\".",
        cause="A candidate arrived before setRemoteDescription (\"no remote description\"), after an ICE "
              "restart with the old ufrag, or for an m-line/mid the description does not have.",
        fix="Queue remote candidates until setRemoteDescription has resolved, drop candidates whose ufrag "
            "does not match the current remote description, and send the sdpMid with each candidate.",
        reference="W3C webrtc-pc addIceCandidate; RFC 8838 §11",
    ),
    CatalogueEntry(
        id="ANALYZE-ICE-NO-RESPONSES",
        severity=Severity.ERROR,
        layer=Layer.CONSEQUENCE,
        title="ICE failed: connectivity checks were never answered",
        symptom="In {pc} ICE went \"failed\" at {when}: {pairs} candidate pair(s) sent {sent} check(s) and "
                "received "
                "no response{one_way}.",
        cause="Packets between the two sides' candidates are dropped: a firewall or symmetric NAT on one "
              "side, or no relay candidate that both can reach.",
        fix="Add a TURN server (with turns: on TCP 443 for restrictive networks) so a relayed pair exists; "
            "run `rtcdiag check` from each side's network.",
        reference="RFC 8445 §7.2.5 (connectivity checks), §8",
    ),
    CatalogueEntry(
        id="ANALYZE-RELAY-REFUSED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="TURN server {url} refused to relay to the peer",
        symptom="In {pc} every candidate was a relay candidate from {url} and ICE failed {ms} ms after the "
                "checks started (at {when}): too fast for unanswered checks, the server refused them.",
        cause="The TURN server refuses the permission for the other side's address (CreatePermission "
              "answered 403 Forbidden): a `denied-peer-ip` range covers it, `allowed-peer-ip` does not, or "
              "the peer is on loopback or a private network the server does not relay to "
              "(`allow-loopback-peers`, `no-multicast-peers`).",
        fix="Check `denied-peer-ip`/`allowed-peer-ip` in turnserver.conf against the peer's relay address "
            "(the server's own relay range must be allowed); run `rtcdiag turn-check {url_sh}` for the "
            "data-path test.",
        reference="RFC 8656 §9.1 (CreatePermission, 403 Forbidden), §21.3 (peer address restrictions)",
    ),
    CatalogueEntry(
        id="ANALYZE-ICE-FAILED",
        severity=Severity.ERROR,
        layer=Layer.CONSEQUENCE,
        title="ICE failed",
        symptom="In {pc} ICE went \"failed\" at {when} after checking {pairs} candidate pair(s).",
        cause="No candidate pair worked: the candidates of the two sides cannot reach each other.",
        fix="Add a TURN server both sides can reach; run `rtcdiag check` with the same ICE servers.",
        reference="RFC 8445 §8",
    ),
    CatalogueEntry(
        id="ANALYZE-CONNECTION-LOST",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="The connection was lost mid-call",
        symptom="{pc} was connected, went \"disconnected\" at {lost} and \"failed\" at {failed}{consent}; no "
                "ICE restart was attempted.",
        cause="Consent checks (RFC 7675) stopped being answered: the network changed (Wi-Fi to cellular, "
              "VPN), a NAT binding timed out, or the relay or the other peer went away.",
        fix="Handle \"disconnected\"/\"failed\" with an ICE restart (restartIce() and a new offer); keep a "
            "TURN server configured so a new path can be found.",
        reference="RFC 7675 §5.1; RFC 8445 §9 (ICE restart)",
    ),
    CatalogueEntry(
        # Seen on real calls (tests/fixtures/analyze/callee-close, callee-page-closed): the caller's
        # dtlsState goes "closed" within a second of the callee's pc.close() (or its page going away), ICE
        # "disconnected" ~5 s later and "failed" ~10 s after that. A call killed in the network (coturn
        # killed: turn-killed) keeps dtlsState "connected" to the end: that one is ANALYZE-CONNECTION-LOST.
        id="ANALYZE-REMOTE-CLOSED",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="The other side closed the connection",
        symptom="{pc}'s DTLS transport {stats_id} went \"closed\" ({closed}) while this side had not "
                "closed it: the other side sent a TLS close_notify{after}.",
        cause="The other side ended the call: its app called close() on its peer connection, or its page "
              "was closed or reloaded. A connection lost in the network never sees a close_notify (its DTLS "
              "state stays \"connected\"); so this is a hang-up, not a failure.",
        fix="Nothing to fix in the network. If the call should not have ended, the other side's own evidence "
            "tells why it closed; to end this side cleanly, close its peer connection when the other side "
            "hangs up (a signalling message, or the DTLS transport's statechange to \"closed\").",
        reference="W3C webrtc-pc RTCDtlsTransportState \"closed\"; RFC 8446 §6.1 (close_notify); "
                  "RFC 7675 §5.1",
    ),
    CatalogueEntry(
        id="ANALYZE-MDNS-ONLY",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Only mDNS host candidates: this call works on the same network only",
        symptom="{pc} had no ICE servers and gathered only {count} host candidate(s) hidden behind mDNS "
                "names ({example}); no server-reflexive or relay candidate exists.",
        cause="Without STUN/TURN the browser offers only its own host addresses, hidden as .local names "
              "(no media permission was granted), which resolve only on the local network.",
        fix="Configure STUN and TURN servers in iceServers so that peers on other networks can connect.",
        reference="draft-ietf-mmusic-mdns-ice-candidates §3; RFC 8445 §5.1.1",
    ),
    CatalogueEntry(
        id="ANALYZE-RELAY-PRIVATE",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="Relay candidate from {url} has a {scope} address {address}",
        symptom="The relayed address {address} that {url} handed out (seen at {when}) is not reachable from "
                "the internet.",
        cause="coturn runs behind NAT (Docker, a cloud VM) and does not know its public address.",
        fix="Set `external-ip=PUBLIC_IP/PRIVATE_IP` in turnserver.conf and forward the relay port range.",
        reference="RFC 8656 §6.2; coturn README `external-ip`",
    ),
    CatalogueEntry(
        id="ANALYZE-RELAY-TCP",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Media is relayed over {protocol}",
        symptom="In {pc} the selected candidate pair ({pair}) uses a relay candidate reached over {protocol} "
                "({url}); RTT {rtt}.",
        cause="UDP to the TURN server is blocked (or the only TURN URL offered is TCP/TLS), so media goes "
              "over TCP: head-of-line blocking adds latency and loss hurts more.",
        fix="Allow UDP to the TURN server (3478 and the relay range) where you can; keep turns:443 as the "
            "fallback for networks that really block UDP.",
        reference="RFC 8656 §3.1 (transports); RFC 6062",
    ),
    *analyze_session.ENTRIES,
)
