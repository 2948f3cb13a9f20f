"""What the TURN check (rtcdiag.probes.turn) is asked to do, and the credentials it uses: long-term, or REST
(``--secret``: minted per run, or a ready-made ``expiry:user`` checked as given)."""

from __future__ import annotations

from dataclasses import dataclass

from rtcdiag.probes.turn_result import RelayFamily, RestCredentialInfo
from rtcdiag.probes.turn_session import Credentials
from rtcdiag.protocol import rest_login, rest_username_expiry
from rtcdiag.redact import register_secret
from rtcdiag.targets import DEFAULT_TLS_PORT, TRANSPORTS, Target


@dataclass
class TurnCheckOptions:
    username: str | None = None
    password: str | None = None
    secret: str | None = None  # REST API shared secret (coturn static-auth-secret)
    ttl_s: int = 86400
    realm: str | None = None  # hash the key with this realm instead of the server's
    ca_file: str | None = None
    insecure: bool = False
    peer_test: bool = True
    packets: int = 5
    timeout_s: float = 5.0  # per transaction (RFC 8489 schedule scaled to fit)
    transports: tuple[str, ...] = TRANSPORTS
    tls_port: int = DEFAULT_TLS_PORT
    follow_redirects: bool = True  # 300 ALTERNATE-SERVER, within rtcdiag.addresses.redirect_refusal
    now: float | None = None  # the local clock (tests)
    # Relay families to allocate (--family): IPv4 alone is what a browser asks for (no attribute sent).
    families: tuple[RelayFamily, ...] = (RelayFamily.IPV4,)
    tcp_relay: bool = False  # --tcp-relay: also check an RFC 6062 TCP relay (TURN over TCP/TLS only)
    acl: bool = False  # --acl: permissions for sensitive peers (rtcdiag.probes.turn_acl); no data to them
    acl_peers: tuple[str, ...] = ()  # --acl-peers: the operator's own addresses/ranges, added to the list


def credentials_for(target: Target, options: TurnCheckOptions,
                    now: float) -> tuple[Credentials | None, str, RestCredentialInfo | None]:
    """(credentials, kind, REST info): REST from ``--secret``, else long-term user/password, else none."""
    username = target.username or options.username
    password = target.credential or options.password
    if options.secret is not None:
        name, password, generated = rest_login(options.secret, username, options.ttl_s, now=now)
        expiry = rest_username_expiry(name)
        rest = RestCredentialInfo(name, expiry or 0, int(now), generated) if expiry is not None else None
        return Credentials(name, password, options.realm), "rest", rest
    if username is None or password is None:
        return None, "none", None
    register_secret(password)
    expiry = rest_username_expiry(username)
    rest = RestCredentialInfo(username, expiry, int(now), False) if expiry is not None else None
    return Credentials(username, password, options.realm), ("rest" if rest else "long-term"), rest
