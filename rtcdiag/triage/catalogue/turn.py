"""Catalogue entries: TURN (RFC 8656 allocations, RFC 8489 long-term credentials, REST API credentials).

Placeholders filled per finding: ``{transport}``, ``{server}``, ``{code}``, ``{reason}``, ``{detail}``.
"""

from rtcdiag.triage.entry import CatalogueEntry, Layer, Severity

_E = Severity.ERROR
_W = Severity.WARNING
_I = Severity.INFO

ENTRIES: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        "TURN-OPEN-RELAY", _E, "Open relay: the server allocates without credentials",
        "An Allocate request without credentials over {transport} succeeded (relay {detail}).",
        "The server runs without authentication (coturn: `no-auth`, or neither `lt-cred-mech` nor "
        "`use-auth-secret`). Anyone on the internet can relay traffic through it: abuse, cost, and a way "
        "into your internal network.",
        "Enable authentication: coturn `lt-cred-mech` with `user=` entries, or `use-auth-secret` + "
        "`static-auth-secret=` for REST credentials; remove `no-auth`.",
        "RFC 8656 §7.2 (server SHOULD require long-term credentials); RFC 8489 §9.2",
        layer=Layer.SERVICE,
        server_wide=True,
    ),
    CatalogueEntry(
        "TURN-CHALLENGE-INVALID", _E, "Unauthenticated Allocate was not answered with a valid 401 challenge",
        "Over {transport} the first Allocate got {detail} instead of 401 with REALM and NONCE.",
        "A TURN server using long-term credentials must challenge with 401 carrying REALM and NONCE; "
        "without them no client can compute the message integrity. The server (or a proxy in front of it) "
        "is broken or is not a TURN server.",
        "Check that the port really belongs to the TURN server and that the server is configured with a "
        "`realm=`.",
        "RFC 8489 §9.2.4",
        layer=Layer.SERVICE,
        server_wide=True,
    ),
    CatalogueEntry(
        "TURN-NO-CREDENTIALS", _I, "Server asks for credentials but none were given",
        "Over {transport} the server challenged with 401 (realm {detail}) and no user name/password or REST "
        "secret was provided, so the allocation and data path could not be checked.",
        "rtcdiag needs credentials to go past the challenge.",
        "Pass `-u USER` with the password in $RTCDIAG_TURN_PASSWORD (or --password-env/--password-file), or "
        "a REST secret in $RTCDIAG_TURN_SECRET (or --secret-env/--secret-file).",
        "RFC 8489 §9.2",
        layer=Layer.SERVICE,
        server_wide=True,
    ),
    CatalogueEntry(
        "TURN-AUTH-401", _E, "Credentials rejected (401 after authenticating)",
        "Over {transport} the authenticated Allocate was answered 401 Unauthorized {detail}.",
        "A 401 after credentials means the server could not verify MESSAGE-INTEGRITY: wrong user name, "
        "wrong password, or the password was hashed for a different realm than the server's. For "
        "REST credentials: a different `static-auth-secret`, or a username timestamp the server considers "
        "expired.",
        "Check user and password (where they come from: below) against the server's users (coturn: "
        "`turnadmin -l`, the `user=` lines), that the realm you expect matches the server's `realm=`, and "
        "for REST that the secret matches `static-auth-secret`.",
        "RFC 8489 §9.2.5, §14.8",
        layer=Layer.SERVICE,
        explains=frozenset({"ANALYZE-TURN-401"}),
        server_wide=True,
    ),
    CatalogueEntry(
        "TURN-AUTH-441", _E, "Wrong credentials (441)",
        "Over {transport} the authenticated Allocate was answered 441 Wrong Credentials {detail}.",
        "The credentials in this request differ from those used for the allocation or are not accepted "
        "for this user.",
        "Use the same user name and password for the whole session; check them (where they come from: "
        "below) against the server's user "
        "database.",
        "RFC 8656 §19 (441)",
        layer=Layer.SERVICE,
        server_wide=True,
    ),
    CatalogueEntry(
        "TURN-REST-EXPIRED", _E, "REST credentials have expired",
        "The REST user name {detail} carries an expiry timestamp in the past.",
        "TURN REST credentials are `expiry:user` with the password HMAC-SHA1(secret, username); the "
        "server rejects them after the expiry. The application server handed out stale credentials (cached "
        "too long) or its clock is behind.",
        "Generate credentials per session with a TTL of at least the call length (e.g. 24 h), do not cache "
        "them past their expiry, and keep the issuing server's clock in sync (NTP).",
        "draft-uberti-behave-turn-rest-00 §2.2",
        layer=Layer.SERVICE,
        server_wide=True,
    ),
    CatalogueEntry(
        "TURN-CLOCK-SKEW", _W, "REST credential expiry is far from the local clock",
        "The REST user name {detail} expires far in the future relative to this machine's clock.",
        "Either the credential issuer's clock (or this machine's) is wrong, the issuer writes the expiry in "
        "milliseconds instead of seconds, or the TTL is so long the credential is effectively permanent.",
        "Write the expiry as Unix seconds, use a TTL of hours not months, and sync clocks with NTP.",
        "draft-uberti-behave-turn-rest-00 §2.2",
        layer=Layer.SERVICE,
        server_wide=True,
    ),
    CatalogueEntry(
        "TURN-BAD-REQUEST-400", _E, "Server rejected the request as malformed (400)",
        "Over {transport} the {detail} was answered 400 Bad Request.",
        "The server considered the request malformed: often a TURN proxy or load balancer that rewrites "
        "packets, a non-TURN service on the port, or a server that requires attributes it does not announce.",
        "Make sure the port belongs to the TURN server itself; check the server log for the reason.",
        "RFC 8489 §14.8 (400)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-FORBIDDEN-403", _E, "Forbidden (403): the server refused the request",
        "Over {transport} the {detail} was answered 403 Forbidden.",
        "On Allocate: the user is not allowed to allocate (e.g. blacklisted, or relay addresses denied). "
        "On CreatePermission/ChannelBind: the peer address is excluded by the server's peer ACL (coturn "
        "`denied-peer-ip`, or loopback/private peers without `allow-loopback-peers`).",
        "Review coturn `denied-peer-ip`/`allowed-peer-ip`; for a test peer on this host over loopback enable "
        "`allow-loopback-peers` (test setups only).",
        "RFC 8656 §19 (403), §9",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-UNKNOWN-ATTR-420", _E, "Server does not understand a comprehension-required attribute (420)",
        "Over {transport} the {detail}.",
        "The server does not implement an attribute this request carried (listed in UNKNOWN-ATTRIBUTES): an "
        "old or partial TURN implementation.",
        "Upgrade the TURN server, or use a client configuration that does not need the listed attributes.",
        "RFC 8489 §14.8 (420), §14.13",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-MISMATCH-437", _E, "Allocation mismatch (437)",
        "Over {transport} the {detail} was answered 437 Allocation Mismatch.",
        "An Allocate was sent on a 5-tuple that already has an allocation (a previous run did not release "
        "it, or a NAT reused the port), or a Refresh/permission request was sent without an allocation.",
        "Wait for the old allocation to expire (LIFETIME) or release it with Refresh LIFETIME=0; clients "
        "should use a fresh local port per allocation.",
        "RFC 8656 §7.2, §19 (437)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-STALE-NONCE-438", _E, "Stale nonce (438) even after a retry with the new nonce",
        "Over {transport} the {detail} was answered 438 Stale Nonce twice in a row.",
        "The server issues nonces that are already stale when used: a very short `stale-nonce` lifetime, "
        "several servers behind one address that do not share nonces, or a broken server clock.",
        "Give every server behind a load balancer its own address or sticky sessions; raise coturn "
        "`stale-nonce` (e.g. 600 s); sync server clocks.",
        "RFC 8489 §9.2.5, §14.8 (438)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-FAMILY-440", _E, "Address family not supported (440)",
        "Over {transport} the {detail} was answered 440 Address Family not Supported.",
        "The server cannot relay the requested address family (e.g. no IPv6 relay address configured).",
        "Configure relay addresses for the family (coturn `relay-ip=` for IPv4 and IPv6) or request the "
        "family the server has.",
        "RFC 8656 §19 (440)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-FAMILY-443", _E, "Peer address family mismatch (443)",
        "Over {transport} the {detail} was answered 443 Peer Address Family Mismatch.",
        "The peer address's family differs from the relayed address's family: an IPv4 allocation cannot "
        "send to an IPv6 peer.",
        "Allocate a relay of the peer's family (REQUESTED-ADDRESS-FAMILY), or use a peer of the relay's "
        "family.",
        "RFC 8656 §19 (443)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-TRANSPORT-442", _E, "Unsupported transport protocol (442)",
        "Over {transport} the {detail} was answered 442 Unsupported Transport Protocol.",
        "The server does not relay the requested REQUESTED-TRANSPORT (UDP relaying disabled, e.g. coturn "
        "`no-udp-relay`).",
        "Enable UDP relaying on the server; WebRTC needs UDP relays.",
        "RFC 8656 §19 (442)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-CONNECTION-446", _E, "Connection already exists (446)",
        "Over {transport} the {detail} was answered 446 Connection Already Exists.",
        "A TCP relay connection (RFC 6062) to this peer already exists on the allocation.",
        "Reuse the existing connection, or close it before connecting again.",
        "RFC 6062 §6.3 (446)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-CONNECTION-447", _E, "Connection timeout or failure (447)",
        "Over {transport} the {detail} was answered 447 Connection Timeout or Failure.",
        "The server could not open the TCP relay connection (RFC 6062) to the peer.",
        "Check that the peer accepts TCP connections from the relay address and that no firewall drops them.",
        "RFC 6062 §6.3 (447)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-QUOTA-486", _E, "Allocation quota reached (486)",
        "Over {transport} the {detail} was answered 486 Allocation Quota Reached.",
        "The user already holds as many allocations as the server allows (coturn `user-quota`/"
        "`total-quota`): other clients' calls, allocations leaked by clients that never released them, or "
        "a quota too small for the number of concurrent calls (each call may use several allocations). "
        "rtcdiag's own allocations are not the cause: after a 486 it waits until it holds no other "
        "allocation under the user and the server had time to free the released ones, and retries once.",
        "Raise coturn `user-quota`, make clients release allocations (Refresh LIFETIME=0), shorten "
        "`max-allocate-lifetime`, and use per-session REST user names.",
        "RFC 8656 §19 (486)",
        layer=Layer.SERVICE,
        explains=frozenset({"ANALYZE-TURN-486"}),
        server_wide=True,
    ),
    CatalogueEntry(
        "TURN-CAPACITY-508", _E, "Insufficient capacity (508)",
        "Over {transport} the {detail} was answered 508 Insufficient Capacity.",
        "The server has run out of relay ports or resources (coturn `min-port`..`max-port` range exhausted, "
        "`total-quota`, bandwidth cap).",
        "Widen the relay port range, add servers, or lower allocation lifetimes; check for leaked "
        "allocations.",
        "RFC 8656 §19 (508)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-ERROR-OTHER", _E, "Unexpected TURN error response",
        "Over {transport} the {detail}.",
        "The server answered with an error code rtcdiag does not have a specific explanation for.",
        "Look the code up in the IANA STUN error code registry and the server log.",
        "RFC 8489 §18.3 (IANA registry)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-STUN-ONLY", _E, "STUN only: TURN is not enabled on this server",
        "Over {transport} {server} answered a Binding request ({detail}) but never the Allocate request: it "
        "serves STUN, not TURN.",
        "TURN is switched off on this server (coturn `stun-only`), or the URL names a plain STUN server as "
        "`turn:`. Browsers get no relay candidate from it, so calls that need a relay fail, while STUN to "
        "the same address works.",
        "Enable TURN on the server (coturn: remove `stun-only`, configure `lt-cred-mech` users or "
        "`use-auth-secret`) and re-run; or, if it is meant as a STUN server, list it as `stun:` instead of "
        "`turn:` and add a real TURN server.",
        "RFC 8656 §7.2 (Allocate), RFC 8489 §3 (Binding); coturn `stun-only`",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-ALLOCATE-TIMEOUT", _E, "Allocate went unanswered after the challenge",
        "Over {transport} the server answered the unauthenticated Allocate but not the {detail}.",
        "The authenticated request was dropped: a proxy or firewall that limits packet size, a server that "
        "silently drops requests with bad integrity, or a server that crashed/overloaded.",
        "Check the server log while running the check; look for MTU/fragmentation limits on the path.",
        "RFC 8489 §6.2",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-ALTERNATE-SERVER", _W, "Redirected to an alternate server (300)",
        "Over {transport} the server answered 300 Try Alternate with ALTERNATE-SERVER {detail}.",
        "The server load-balances by redirecting clients. Browsers follow the redirect, but every redirect "
        "costs a round trip and breaks clients that do not implement it.",
        "Point clients at the alternate directly if the redirect is permanent; otherwise nothing to do.",
        "RFC 8489 §10, §14.15",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-REDIRECT-REALM", _W, "Credentials withheld from the alternate server",
        "Over {transport} the server redirected to {detail}.",
        "RFC 8489 §10 has the client reuse its credentials at the alternate server. rtcdiag does so only "
        "when the alternate's 401 names the realm of the server you pointed it at: another realm is another "
        "deployment (or a hostile redirect), and answering it would key your password into a realm you "
        "never chose for it. The check stops there, so its verdict is inconclusive.",
        "If the alternate is yours, check it directly (`rtcdiag turn-check ALTERNATE`, your consent) and "
        "give every server of one deployment the same `realm`. When the redirecting server does not reveal "
        "its realm, `--realm` names it.",
        "RFC 8489 §10, §9.2 (long-term credentials are per realm)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-RELAY-PRIVATE", _E, "Relayed address is not reachable from where the server was: `external-ip` "
        "missing",
        "Over {transport} the server, reached at {server}, relays from {detail}: clients that reach the "
        "server there cannot reach that relay address.",
        "The server allocates relay addresses on an internal interface and tells peers to send there: "
        "the classic Docker / AWS / NAT-ed VM setup where coturn does not know its public address. Remote "
        "peers cannot reach the relay, so calls through TURN fail.",
        "Set coturn `external-ip=PUBLIC_IP/PRIVATE_IP` (or `relay-ip` on a public interface) and forward "
        "the relay port range (`min-port`..`max-port`) to the server.",
        "RFC 8656 §6 (relayed transport address); coturn README `external-ip`",
        layer=Layer.SERVICE,
        server_wide=True,
    ),
    CatalogueEntry(
        "TURN-RELAY-LOCAL", _I, "Relayed address is internal, as expected for an internal server",
        "Over {transport} the relay address {detail} is internal; the server itself was reached at the "
        "internal address {server}.",
        "A server on a LAN, in a lab or on loopback relays from internal addresses: only peers on that "
        "network can reach the relay.",
        "Nothing to do for a lab or LAN server; for production use a public address and `external-ip`.",
        "RFC 8656 §6",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-NO-DATA", _E, "Allocation works but no data flows through the relay",
        "Over {transport} {detail}.",
        "The allocation and permissions succeed but relayed packets never arrive: relay ports "
        "(`min-port`..`max-port`) are firewalled, `external-ip` points at the wrong address, or the server "
        "refuses to relay to the peer.",
        "Open UDP `min-port`..`max-port` (default 49152-65535) in every firewall and security group; check "
        "`external-ip`; check `denied-peer-ip`.",
        "RFC 8656 §11, §12",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-DATA-LOSS", _W, "Packet loss through the relay",
        "Over {transport} {detail}.",
        "Some relayed packets were lost: a congested server, rate limits (coturn `max-bps`), or loss on a "
        "UDP leg (client to server over UDP; relay to peer is always UDP). A TCP/TLS leg itself loses "
        "nothing.",
        "Run the check again to rule out a transient; check coturn `max-bps`/`bps-capacity` and server load.",
        "RFC 8656 §11",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-REFRESH-FAILED", _W, "Refresh or release of the allocation failed",
        "Over {transport} the {detail}.",
        "The server did not accept the Refresh: clients cannot keep allocations alive, or releasing with "
        "LIFETIME=0 fails and allocations linger until they expire (eating the quota).",
        "Check the server log for the Refresh; make sure nonces do not go stale in mid-session.",
        "RFC 8656 §8",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-NO-TCP-FALLBACK", _W, "No TCP/TLS fallback: every TURN URL of the configuration is UDP",
        "The configuration gives only UDP TURN URLs ({urls}); none over TCP or TLS.",
        "A browser uses `turn:` without `?transport=` over UDP only. Clients behind firewalls or proxies "
        "that block UDP (corporate networks, some hotels and mobile carriers) then have no way to the "
        "relay, and their calls fail.",
        "Clients behind UDP-blocking firewalls will fail: add a `turns:` URL on port 443 (TURN over TLS, "
        "coturn `tls-listening-port=443` or `alt-tls-listening-port`; with the host name on the server's "
        "certificate, never an IP address: browsers check the name) and/or a `turn:` URL with "
        "`?transport=tcp` to the iceServers list (below).",
        "RFC 7065 §3; RFC 8656 §3.1 (TCP/TLS transport to the server)",
        layer=Layer.SERVICE,
    ),
    # --- relay families (RFC 8656 §7, which absorbed RFC 6156) ---------------------------------------------
    CatalogueEntry(
        "TURN-NO-IPV4-RELAY", _E, "No IPv4 relay: the family every browser asks for (440)",
        "Over {transport} the {detail} was answered 440 Address Family not Supported: the server has no "
        "IPv4 relay address.",
        "An Allocate without REQUESTED-ADDRESS-FAMILY asks for an IPv4 relay (RFC 8656 §7.1), and that is "
        "the only Allocate a browser sends. The server relays only IPv6 (coturn: every `relay-ip=` is an "
        "IPv6 address, or it listens on IPv6 only), so every browser allocation fails.",
        "Give the server an IPv4 relay address (coturn `relay-ip=` with an IPv4 address, `listening-ip=` "
        "too); `--family 6` checks the IPv6 relay on its own.",
        "RFC 8656 §7.1, §7.2 (440)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-DUAL-ALLOCATION-IGNORED", _I, "Server ignored ADDITIONAL-ADDRESS-FAMILY (no dual allocation)",
        "Over {transport} a dual Allocate (ADDITIONAL-ADDRESS-FAMILY IPv6) got no IPv6 relay and no "
        "ADDRESS-ERROR-CODE; the IPv6 relay was checked in a separate allocation: {detail}.",
        "The server does not implement RFC 8656 dual allocations with the registered attribute 0x8000 and "
        "skips it as an unknown optional attribute (coturn knows only the draft's code point 0x8032).",
        "Nothing to do for WebRTC: browsers allocate one family at a time. Clients that need both families "
        "from one server allocate them separately (REQUESTED-ADDRESS-FAMILY).",
        "RFC 8656 §7.1, §7.2, §18.9",
        layer=Layer.SERVICE,
    ),
    # --- TCP relays (RFC 6062, --tcp-relay) ---------------------------------------------------------------
    CatalogueEntry(
        "TURN-TCP-RELAY-UNSUPPORTED", _W, "Server does not offer TCP relays (RFC 6062)",
        "Over {transport} the {detail}: the server does not allocate TCP relays.",
        "The server does not implement RFC 6062 or has it switched off (coturn `no-tcp-relay`). WebRTC does "
        "not need it (browsers relay over UDP allocations); clients that relay TCP streams to TCP peers do.",
        "If your clients need TCP relays, remove coturn `no-tcp-relay` (RFC 6062 is on by default); "
        "otherwise drop `--tcp-relay`.",
        "RFC 6062 §4.1, §6.3 (442)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-TCP-RELAY-FAILED", _E, "TCP relay (RFC 6062) allocated but no intact bytes through it",
        "Over {transport} the TCP relay to peer {peer}: {detail}.",
        "The TCP allocation succeeded, but the Connect, the ConnectionBind on the data connection or the "
        "bytes written on it failed: the server does not open or splice the peer connection, drops the data "
        "connection, or something between client and server rewrites the TCP stream.",
        "Check the server log for Connect/ConnectionBind and the peer connection (coturn: verbose); check "
        "`max-bps` and that no proxy inspects the TCP stream.",
        "RFC 6062 §4.3, §4.4, §5.3",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-SERVER-STOPPED", _E, "Server stopped answering mid-session",
        "Over {transport} the server allocated a relay and then stopped answering: {detail}.",
        "The server answered the same client on the same connection moments before, so neither a firewall "
        "nor the relay configuration explains the silence: the server process crashed or was killed, was "
        "restarted (losing its allocations), or is overloaded. Every call through it drops at that moment.",
        "Check the server's log and process supervisor around the time of the check (crash, OOM kill, "
        "restart, `max-bps`/CPU limits); run the check again to see whether it happens at the same step.",
        "RFC 8656 §7-§12 (allocation lifetime); RFC 8489 §6.2 (transaction timeouts)",
        layer=Layer.SERVICE,
        # a server that went silent after allocating explains what failed on that transport around then
        explains=frozenset({"TURN-CHANNELDATA-NOT-RELAYED", "TURN-DATA-LOSS", "TURN-NO-DATA",
                            "TURN-REFRESH-FAILED"}),
        roots_first=2,
    ),
    CatalogueEntry(
        "TURN-RESPONSE-NO-INTEGRITY", _E,
        "Server answers authenticated requests without valid MESSAGE-INTEGRITY",
        "Over {transport} the {detail}.",
        "A TURN server must sign its responses to authenticated requests with MESSAGE-INTEGRITY (or "
        "-SHA256) keyed with the same credentials; clients must discard responses without a valid one, as "
        "if they had never arrived (browsers do). The server is non-compliant (or something on the path "
        "rewrites or forges its replies), and clients will time out on the requests it answers this way.",
        "Use a TURN server that signs every authenticated response (coturn does); if one does, look for a "
        "proxy or load balancer between the client and the server that rewrites STUN messages.",
        "RFC 8489 §9.2.5 (receiving a response), §14.5; RFC 8656 §4",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-CHANNELDATA-NOT-RELAYED", _E, "Server does not relay ChannelData",
        "Over {transport} {detail}.",
        "The same allocation relayed Send/Data indications to the same peer, so relay ports, firewalls "
        "and `external-ip` are not the problem: the server accepts ChannelBind but does not forward "
        "ChannelData messages (a partial TURN implementation). Browsers switch to ChannelData as soon as a "
        "channel is bound, so media stops flowing through this server.",
        "Use a TURN server that implements channels (RFC 8656 §12), e.g. coturn; report the bug to the "
        "server's maintainers.",
        "RFC 8656 §12 (channels), §12.6 (relaying ChannelData)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-REFRESH-LIFETIME-ZERO", _E, "Refresh deleted the allocation (LIFETIME=0 in the success)",
        "Over {transport} the {detail}.",
        "A Refresh success carries the allocation's remaining lifetime; 0 means the server deleted the "
        "allocation although the client asked to keep it. Every call through this server loses its relay at "
        "the first refresh (a few minutes in).",
        "Fix or upgrade the TURN server's Refresh handling (it must grant the requested lifetime or a lower, "
        "non-zero one capped by its maximum).",
        "RFC 8656 §7.3 (LIFETIME), §8 (Refresh)",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-CHALLENGE-UNUSABLE", _E, "The server's REALM or NONCE cannot be used",
        "Over {transport} the server's challenge cannot be answered: {detail}. No authenticated request was "
        "sent, so the allocation and data path could not be checked.",
        "RFC 8489 makes REALM and NONCE quoted-string text of fewer than 128 characters (at most 763 bytes) "
        "that the client sends back verbatim. This server (or a proxy in front of it) sent a value with "
        "control characters, invalid UTF-8 or an excessive length: no compliant client can authenticate "
        "with it, and echoing it could break the request.",
        "Fix the server's `realm=` (plain text, no control characters, under 128 characters) and check that "
        "nothing between client and server rewrites STUN messages; then re-run the check.",
        "RFC 8489 §14.9, §14.10, §9.2.4",
        layer=Layer.SERVICE,
    ),
    CatalogueEntry(
        "TURN-REQUEST-OVERSIZED", _E, "The server's reply would need an oversized request",
        "Over {transport} the server's challenge asked for more than one request can carry: {detail}.",
        "A client must echo the REALM, NONCE and PASSWORD-ALGORITHMS of the challenge in every "
        "authenticated request. What this server sent would make that request larger than a STUN message "
        "(65,535 bytes of attributes) or a UDP datagram may be, so no client can authenticate.",
        "Check the server's realm, nonce and password-algorithm settings and anything between client and "
        "server that rewrites STUN messages; a healthy server's challenge is a few hundred bytes.",
        "RFC 8489 §5, §9.2.4, §14.9-§14.11",
        layer=Layer.SERVICE,
    ),
)
