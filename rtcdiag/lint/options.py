"""Every option name coturn's turnserver reads (the ``long_options`` table of src/apps/relay/mainrelay.c),
from 4.4.5.3 to 4.17.1, removed ones included (their own rule, LINT-OPTION-REJECTED, says when they went).

coturn reads an unknown name in turnserver.conf as "Bad configuration format" and ignores the line: the
setting meant is not in effect. :func:`nearest` names the option that was probably meant.
"""

from __future__ import annotations

import difflib

KNOWN_OPTIONS: frozenset[str] = frozenset({
    "CA-file", "Verbose", "acme-redirect", "allocation-default-address-family", "allow-loopback-peers",
    "allowed-peer-ip", "alt-listening-port", "alt-tls-listening-port", "alternate-server", "aux-server",
    "bps-capacity", "cert", "channel-lifetime", "check-origin-consistency", "cipher-list", "cli",
    "cli-ip", "cli-max-output-sessions", "cli-password", "cli-port", "cpus", "daemon", "db",
    "denied-peer-ip", "dh-file", "dh1066", "dh566", "drain-min-allocations", "drop-invalid-packets",
    "drop-invalid-packets-log", "dtls", "ec-curve-name", "external-ip", "fingerprint",
    "include-reason-string", "keep-address-family", "listening-device", "listening-ip", "listening-port",
    "log-binding", "log-file", "log-min-level", "lt-cred-mech", "max-allocate-lifetime",
    "max-allocate-timeout", "max-bps", "max-port", "min-port", "mobility", "mongo-userdb",
    "multiplex-peer", "multiplex-peer-max-peers", "multiplex-peer-port", "mysql-userdb", "ne",
    "new-log-timestamp", "new-log-timestamp-format", "no-auth", "no-auth-pings", "no-cli", "no-dtls",
    "no-dynamic-ip-list", "no-dynamic-realms", "no-multicast-peers", "no-rfc5780",
    "no-software-attribute", "no-sslv2", "no-sslv3", "no-stdout-log", "no-stun",
    "no-stun-backward-compatibility", "no-tcp", "no-tcp-relay", "no-tls", "no-tlsv1", "no-tlsv1_1",
    "no-tlsv1_2", "no-udp", "no-udp-relay", "oauth", "permission-lifetime", "pidfile", "pkey", "pkey-pwd",
    "proc-group", "proc-user", "prod", "prometheus", "prometheus-address", "prometheus-cert",
    "prometheus-key", "prometheus-path", "prometheus-port", "prometheus-tls",
    "prometheus-username-labels", "psql-userdb", "raw-public-keys", "realm", "redis-statsdb",
    "redis-userdb", "relay-device", "relay-ip", "relay-threads", "respond-http-unsupported",
    "response-origin-only-with-rfc5780", "rest-api-separator", "rfc3489-compatibility",
    "rfc5766-channel-numbers", "rfc5780", "secret-key-file", "secret-ts-exp-time", "secure-stun",
    "server-name", "server-relay", "simple-log", "sock-buf-size", "software-attribute", "sql-userdb",
    "stale-nonce", "stateless-nonce", "stateless-nonce-secret", "static-auth-secret",
    "stun-backward-compatibility", "stun-only", "syslog", "syslog-facility", "tcp-alternate-server",
    "tcp-proxy-port", "tls-alternate-server", "tls-listening-port", "tlsv1", "tlsv1_1", "total-quota",
    "udp-alternate-server", "udp-gso", "udp-recvmmsg", "udp-recvmmsg-log", "udp-self-balance",
    "udp-sendmmsg-log", "unauthorized-ratelimit", "unauthorized-ratelimit-rps", "use-auth-secret", "user",
    "user-quota", "userdb", "verbose", "version", "web-admin", "web-admin-ip",
    "web-admin-listen-on-workers", "web-admin-port",
})


def nearest(name: str) -> str | None:
    """The known option ``name`` most probably means (a typo, a missing or extra letter), or None."""
    close = difflib.get_close_matches(name, KNOWN_OPTIONS, n=1, cutoff=0.75)
    return close[0] if close else None
