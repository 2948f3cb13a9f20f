"""Catalogue entries: TURN security and operations audit (``rtcdiag lint``, ``turn-check --acl``).

Placeholders: ``{file}`` the config file, ``{line}`` line number(s), ``{detail}`` one line of specifics,
``{version}`` the coturn version and where it came from, ``{ranges}`` address ranges, ``{option}`` a config
option, ``{id}``/``{allows}``/``{fixed}``/``{source}`` an advisory, ``{peer}``/``{method}`` an ACL probe,
``{server}``/``{transport}`` a TURN server, ``{url}``/``{urls}``/``{count}``/``{kind}`` ICE server URLs.
"""

from rtcdiag.triage.entry import CatalogueEntry, Layer, Severity

_E = Severity.ERROR
_W = Severity.WARNING
_I = Severity.INFO

_RFC_SEC = "RFC 8656 §21.2.3 (the relay must not be an open proxy into the server's own networks)"

ENTRIES: tuple[CatalogueEntry, ...] = (
    # --- turnserver.conf: errors --------------------------------------------------------------------------
    CatalogueEntry(
        "LINT-NO-AUTH", _E, "No authentication: anyone can allocate a relay",
        "{file}: {detail}.",
        "Without `lt-cred-mech`, `use-auth-secret` or `oauth` (or with `no-auth`) coturn allocates relays "
        "for anyone who asks: an open relay that hides attackers' traffic and reaches whatever the server "
        "reaches.",
        "Remove `no-auth` and enable `use-auth-secret` with a long random `static-auth-secret` (TURN REST "
        "credentials) or `lt-cred-mech` with `user=` entries.",
        "RFC 8656 §7.2, §21.1 (long-term credentials)",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-LOOPBACK-PEERS", _E, "allow-loopback-peers: the relay reaches services on the server itself",
        "{file} line {line}: `allow-loopback-peers` is set.",
        "Any client with credentials can relay to 127.0.0.1 and ::1: the CLI (telnet 5766), Redis, "
        "databases, metrics and admin endpoints bound to loopback become reachable from the internet.",
        "Remove `allow-loopback-peers` (it is for local tests only) and add `denied-peer-ip=127.0.0.0-"
        "127.255.255.255` and `denied-peer-ip=::1`.",
        _RFC_SEC,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-SERVER-RELAY", _E, "server-relay: a relay with no per-peer permissions",
        "{file} line {line}: `server-relay` is set.",
        "`server-relay` makes coturn a relay for its own server-side applications with no authentication "
        "or permission checks on the peer side; exposed to clients it is an open proxy.",
        "Remove `server-relay` unless this instance serves only trusted applications on a private network.",
        _RFC_SEC,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-CLI-EXPOSED", _E, "Admin CLI reachable beyond loopback",
        "{file}: the telnet admin CLI listens on {detail}.",
        "The coturn CLI is an unencrypted telnet console that can list sessions and change settings; "
        "listening on a non-loopback address exposes it to the network.",
        "Set `no-cli`, or keep `cli-ip=127.0.0.1` (the default) and firewall port 5766.",
        "coturn README.turnserver (--cli-ip, --no-cli); RFC 8656 §21",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-CLI-WEAK-PASSWORD", _E, "Admin CLI enabled with a weak or default password",
        "{file}: the CLI is enabled and {detail}.",
        "An empty, example or short `cli-password` lets anyone who reaches the CLI port (through the relay "
        "too, if loopback peers are allowed) administer the server.",
        "Set `no-cli`, or a long random `cli-password` (coturn also accepts its hash from `turnadmin -P`).",
        "coturn ChangeLog 4.5.1.0 (loopback relay to the unauthenticated CLI); RFC 8656 §21",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-WEAK-SECRET", _E, "Weak or example static-auth-secret",
        "{file} line {line}: {detail}.",
        "With `use-auth-secret` every credential is an HMAC of this secret: a short or published example "
        "secret lets anyone mint valid TURN credentials for any user and any expiry.",
        "Generate a long random secret (`openssl rand -hex 32`) and set it in `static-auth-secret` and in "
        "the application that issues the credentials.",
        "draft-uberti-behave-turn-rest-00 §2.2; RFC 8656 §21",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-TLS-NO-CERT", _E, "TLS listener without certificate or key",
        "{file}: {detail}.",
        "coturn listens for TLS/DTLS unless `no-tls`/`no-dtls` are set; without `cert` and `pkey` the "
        "handshake fails or uses a certificate no browser trusts, so `turns:` (the path through strict "
        "firewalls) does not work.",
        "Set `cert=` and `pkey=` to the certificate chain and key for the server's name, or set `no-tls` and "
        "`no-dtls` if TLS is not offered.",
        "RFC 7065 §3 (turns:); RFC 8656 §3.1",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-PEER-IP-MALFORMED", _E, "Malformed {option}",
        "{file} line {line}: {detail}.",
        "coturn reads only a single address or `first-last`; before 4.11.0 it logs a malformed value and "
        "ignores it (the range is silently NOT denied), from 4.11.0 it refuses to start.",
        "Write the range as `first-last`, e.g. `denied-peer-ip=10.0.0.0-10.255.255.255`.",
        "coturn add_ip_list_range (src/apps/relay/userdb.c); coturn PR #1872; " + _RFC_SEC,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-PEER-ACL-MISSING", _E, "The relay can reach internal and special-purpose addresses",
        "{file}: no `denied-peer-ip` covers {ranges} (coturn {version}).",
        "coturn relays to any address a client names unless it is denied; without these lines a client with "
        "credentials reaches the server's private networks, the cloud metadata service (169.254.169.254) "
        "and other special-purpose ranges (SSRF through the relay).",
        "Add one `denied-peer-ip=first-last` line per range (below), and `allowed-peer-ip=` only for "
        "internal peers that must be reachable.",
        "IANA special-purpose address registries (RFC 6890); " + _RFC_SEC,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-PEER-IPV4-MAPPED", _E, "IPv4-mapped peers bypass the peer ACL on this coturn version",
        "{file}: coturn {version} and no `denied-peer-ip` covers ::ffff:0:0/96.",
        "Before 4.9.0 coturn compared an IPv4-mapped peer (::ffff:127.0.0.1) with IPv6 ranges only, so every "
        "IPv4 `denied-peer-ip` range and (before 4.13.0) the default loopback guard are bypassed "
        "(CVE-2026-27624, GHSA-w4hf-cr3w-6h79).",
        "Upgrade coturn (4.13.1 or later), and add `denied-peer-ip=::ffff:0.0.0.0-::ffff:255.255.255.255`.",
        "RFC 4291 §2.5.5.2 (IPv4-mapped); CVE-2026-27624",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-ADVISORY", _E, "coturn {version} is affected by {id}",
        "{id}: an attacker can {allows}{detail}.",
        "A published coturn security advisory covers this version; the fix is in {fixed}.",
        "Upgrade coturn to {fixed} or later (current releases carry every fix). Source: {source}.",
        "coturn security advisories (github.com/coturn/coturn/security/advisories); RFC 8656 §21",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-UNKNOWN-OPTION", _E, "Unknown option `{option}`: coturn ignores the line",
        "{file} line {line}: coturn knows no option `{option}`{meant}.",
        "coturn logs `Bad configuration format` for a line whose option it does not know and starts without "
        "it: what the line was meant to set is not in effect (a misspelt `lt-cred-mech` leaves the server "
        "without authentication, a misspelt `no-cli` leaves the admin CLI on).",
        "Write the option as coturn spells it (the nearest known one, when there is one, below), or delete "
        "the line.",
        "coturn src/apps/relay/mainrelay.c (long_options, read_config_file)",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-OPTION-REJECTED", _E, "Option {option} is not valid for coturn {version}",
        "{file} line {line}: {detail}.",
        "coturn removes and renames options between versions: a removed option makes 4.7.0 and later refuse "
        "to start, and earlier versions log `Bad configuration format` and ignore it, so the setting you "
        "meant is not in effect.",
        "Replace or remove the option as described for this coturn version, and check the server log after a "
        "restart.",
        "coturn ChangeLog (4.5.1.0, 4.7.0: PR #1599, PR #1693); RFC 8656 §21",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-BAD-VALUE", _E, "Option value coturn does not read as meant",
        "{file} line {line}: {detail}.",
        "coturn takes everything after the option name (and the spaces or `=` after it) as the value: only a "
        "line starting with `#` is a comment. A boolean option with a value that is not on/off, yes/no, "
        "true/false or 1/0 stops the server at start.",
        "Move the comment to a line of its own and give boolean options no value (or on/off).",
        "coturn parse_arg_string / get_bool_value (src/apps/relay/mainrelay.c); RFC 8656 §21",
        layer=Layer.SERVICE),
    # --- turnserver.conf: warnings --------------------------------------------------------------------------
    CatalogueEntry(
        "LINT-ALLOWED-PEER-OVERLAP", _W, "allowed-peer-ip re-opens a denied range",
        "{file} line {line}: `allowed-peer-ip={detail}` overlaps {ranges}.",
        "In coturn an address both allowed and denied is allowed: this line re-opens part of a sensitive "
        "range to every client with credentials.",
        "Narrow `allowed-peer-ip` to the exact internal peers that must be reachable (e.g. a media server), "
        "never whole private or special-purpose ranges.",
        _RFC_SEC,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-MULTICAST-PEERS", _W, "Multicast peers are not refused",
        "{file}: no `no-multicast-peers` and no `denied-peer-ip` for {ranges}.",
        "Without `no-multicast-peers` a client can make the relay send to multicast groups (224.0.0.0/4, "
        "ff00::/8) on the server's networks.",
        "Add `no-multicast-peers`.",
        "RFC 5771; " + _RFC_SEC,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-TCP-RELAY", _W, "TCP relay (RFC 6062 CONNECT) is enabled",
        "{file}: no `no-tcp-relay`: clients can open TCP connections from the server to peers.",
        "RFC 6062 lets a client make the server open TCP connections to any permitted peer: a generic TCP "
        "proxy into the server's networks. WebRTC media does not use it.",
        "Add `no-tcp-relay` unless an application really needs TCP allocations (browsers never do).",
        "RFC 6062 §4.3; " + _RFC_SEC,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-PRIVATE-NO-EXTERNAL-IP", _W, "Private listening/relay address without external-ip",
        "{file}: {detail} and no `external-ip`.",
        "Behind NAT (a cloud VM has a private address) coturn advertises its private relay address in "
        "XOR-RELAYED-ADDRESS; remote peers cannot send to it, so relayed calls fail.",
        "Set `external-ip=PUBLIC_IP/PRIVATE_IP` (one line per address family).",
        "RFC 8656 §7.3 (XOR-RELAYED-ADDRESS)",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-RELAY-PORTS", _W, "Relay port range problem",
        "{file}: {detail}.",
        "Each allocation needs a relay port from `min-port`..`max-port`: a small range exhausts under load "
        "(Allocate fails with 508), and a range that includes the listening ports conflicts with them.",
        "Use a large range apart from the listening ports, e.g. `min-port=49152` and `max-port=65535`, and "
        "open it in the firewall.",
        "RFC 8656 §7.2 (508 Insufficient Capacity)",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-NO-QUOTA", _W, "No per-user or total quota and no bandwidth cap",
        "{file}: none of `user-quota`, `total-quota`, `max-bps`, `bps-capacity` sets a limit{detail}.",
        "One credential can open unlimited allocations and bandwidth: a leaked credential is a free "
        "high-bandwidth proxy and can exhaust the relay ports.",
        "Set `user-quota=` (allocations per user, e.g. 12), `total-quota=` and `max-bps=`/`bps-capacity=` "
        "sized for your traffic.",
        "RFC 8656 §7.2 (486 Allocation Quota Reached)",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-ZERO-VALUE", _W, "`{option}={value}` means {meaning} to coturn",
        "{file} line {line}: coturn {version} reads `{option}={value}` as {meaning}.",
        "coturn reads 0 differently from option to option: no limit for the quotas and bandwidth caps, never "
        "stale for a nonce, and for the lifetimes what its code makes of a zero. {consequence}",
        "{fix}",
        "coturn src/apps/relay/mainrelay.c and {source}; RFC 8656 §7.2, §9, §12",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-LONG-LIFETIME", _W, "Very long max-allocate-lifetime",
        "{file} line {line}: `max-allocate-lifetime={detail}`.",
        "Allocations may live this long without a Refresh, holding relay ports and permissions long after "
        "the client has gone.",
        "Keep `max-allocate-lifetime` at 3600 s (the default) or less; clients refresh every few minutes.",
        "RFC 8656 §3.2 (default lifetime 10 min), §7.2",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-OLD-TLS", _W, "TLS 1.0/1.1 enabled",
        "{file}: {detail} (coturn {version}).",
        "TLS 1.0 and 1.1 are deprecated (RFC 8996); browsers no longer use them and they weaken the server's "
        "TLS posture.",
        "Before coturn 4.7.0 set `no-tlsv1` and `no-tlsv1_1`; from 4.7.0 remove `tlsv1`/`tlsv1_1`.",
        "RFC 8996",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-RUNS-AS-ROOT", _W, "coturn keeps root privileges",
        "{file}: no `proc-user` (and `proc-group`).",
        "Without them coturn runs with the privileges it was started with; any memory-safety bug in a "
        "network-facing parser then runs as root.",
        "Set `proc-user=turnserver` and `proc-group=turnserver` (or run it under a dedicated systemd user).",
        "RFC 8656 §21 (server security)",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-NO-REALM", _W, "No realm",
        "{file}: no `realm=` is set.",
        "Long-term credentials are hashed with the realm (key = MD5(user:realm:password)); without a realm "
        "coturn uses its host name, which changes with the machine and breaks stored keys.",
        "Set `realm=` to your domain (e.g. `realm=example.org`).",
        "RFC 8489 §9.2.2, §14.9",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-PROMETHEUS-EXPOSED", _W, "Prometheus exporter reachable beyond loopback",
        "{file}: `prometheus` is on and {detail}.",
        "The exporter publishes usage metrics (user names with `prometheus-username-labels`) without "
        "authentication on port 9641.",
        "Set `prometheus-address=127.0.0.1` (coturn 4.6.3+) or firewall port 9641 to the scraper only.",
        "coturn README.turnserver (--prometheus)",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LINT-VERSION-UNKNOWN", _I, "coturn version unknown: version-specific rules limited",
        "{detail}.",
        "Defaults changed between coturn versions (TLS 1.0/1.1, CLI, peer defaults, IPv4-mapped handling); "
        "without a version the lint assumes none of the newer defaults and checks no advisories.",
        "Pass `--version X.Y.Z` (the output of `turnserver --version` on the server).",
        "RFC 8656 §21",
        layer=Layer.SERVICE),
    # --- application side (RTCIceServer list, rtcdiag.toml) -------------------------------------------------
    CatalogueEntry(
        "APP-STATIC-CREDENTIAL", _W, "Long-lived static TURN credential shipped to clients",
        "{url}: user {detail} is a fixed user name with a fixed password.",
        "Everything sent to a browser is public: a static credential can be copied and used by anyone, "
        "forever, until the password is changed on the server.",
        "Issue short-lived TURN REST credentials per session (`use-auth-secret` on coturn, user name "
        "`expiry:user`, password HMAC-SHA1(secret, user name)).",
        "draft-uberti-behave-turn-rest-00 §2; RFC 8656 §21",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "APP-REST-EXPIRY-FAR", _W, "REST credential expires far in the future",
        "{url}: user name {detail}.",
        "A TURN REST credential is valid until its expiry: one that lives for weeks is as good as a static "
        "password for whoever copies it from the page.",
        "Issue credentials with a TTL of hours (e.g. 24 h at most), generated per session.",
        "draft-uberti-behave-turn-rest-00 §2.2",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "APP-STUN-CREDENTIALS", _W, "Credentials on a stun: entry",
        "{url} carries a user name or credential.",
        "STUN Binding requests carry no credentials in WebRTC; browsers ignore them, and shipping the TURN "
        "password with every STUN URL only spreads it.",
        "Put `stun:` URLs in an entry of their own without `username`/`credential`.",
        "RFC 7064 §3.1; W3C WebRTC RTCIceServer",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "APP-TURNS-NOT-443", _W, "turns: on a port other than 443",
        "{url} uses port {port}.",
        "Networks that allow only web traffic pass TLS on 443 and block other ports: `turns:` on 5349 does "
        "not get through them, which is the case `turns:` exists for.",
        "Offer `turns:HOST:443?transport=tcp` (coturn `tls-listening-port=443`, or a TLS proxy on 443).",
        "RFC 7065 §3; RFC 8656 §3.1",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "APP-TOO-MANY-URLS", _W, "More than two {kind} URLs",
        "{count} {kind} URLs: {urls}.",
        "Each URL adds candidate gathering work; some browsers warn and slow gathering down with more than "
        "two STUN/TURN URLs, and extra servers add no connectivity.",
        "Keep at most two {kind} URLs (one per transport you need).",
        "W3C WebRTC (Firefox warns above 2 STUN/TURN servers); RFC 8445 §5.1.1",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "APP-DUPLICATE-URL", _W, "Duplicate ICE server URL",
        "{url} appears {count} times.",
        "The browser gathers candidates from the same server twice: slower gathering, no benefit.",
        "Remove the duplicate entries.",
        "RFC 8445 §5.1.1",
        layer=Layer.SERVICE),
    # --- turn-check --acl ---------------------------------------------------------------------------------
    CatalogueEntry(
        "TURN-ACL-PEER-PERMITTED", _E, "The relay accepts {peer} as a peer",
        "Over {transport}, {method} for the sensitive peer {peer} was accepted by {server} ({detail}).",
        "The server lets any client with credentials point the relay at this address: internal services, "
        "loopback or the cloud metadata service become reachable through the relay. rtcdiag only asked for "
        "the permission and sent no data to the peer.",
        "Add `denied-peer-ip=` for this range (and `::ffff:0.0.0.0-::ffff:255.255.255.255` on coturn older "
        "than 4.13.1), remove `allow-loopback-peers`, then re-run `rtcdiag turn-check --acl`.",
        _RFC_SEC + "; RFC 8656 §9 (CreatePermission), §12 (ChannelBind)",
        layer=Layer.SERVICE),
)
