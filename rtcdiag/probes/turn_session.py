"""One TURN control connection with long-term credentials: authenticated requests, every step recorded.

- RFC 8489 §9.2.4: the first request goes without credentials; the 401 carries REALM and NONCE (and
  PASSWORD-ALGORITHMS when the server supports SHA-256). Later requests carry USERNAME (or USERHASH when the
  nonce cookie's "username anonymity" bit is set, §9.2), REALM, NONCE, the echoed PASSWORD-ALGORITHMS with the
  chosen PASSWORD-ALGORITHM, and MESSAGE-INTEGRITY(-SHA256) keyed with the long-term key (§9.2.2).
- RFC 8489 §9.2.5: a 438 Stale Nonce carries a fresh NONCE; the request is retried once with it.
- RFC 8489 §14.9/§14.10: a REALM or NONCE that cannot be echoed (control characters, not UTF-8, 763 bytes or
  more) is never sent back: ``challenge_problem`` says why, and no authenticated request goes out.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass

from rtcdiag.net import Client
from rtcdiag.probes.exchange import exchange, hostport
from rtcdiag.probes.record import Exchange, Outcome
from rtcdiag.protocol import (
    AttrType,
    CredentialError,
    Message,
    PasswordAlgorithm,
    PasswordAlgorithms,
    StunParseError,
    challenge_problem,
    long_term_key,
    userhash,
)
from rtcdiag.protocol.attributes import unpack_value
from rtcdiag.protocol.describe import summary
from rtcdiag.protocol.transaction import RetransmitPolicy

NONCE_COOKIE = "obMatJos2"  # RFC 8489 §9.2: nonce prefix announcing the security feature bits
_FEATURE_PASSWORD_ALGORITHMS = 1 << 23  # bit 0 of the 24-bit field (RFC 8489 §18.1)
_FEATURE_USERNAME_ANONYMITY = 1 << 22  # bit 1


@dataclass
class Credentials:
    """What the client authenticates with; ``password`` is already registered for redaction."""

    username: str
    password: str
    realm_override: str | None = None  # --realm: hash with this realm instead of the server's


def nonce_features(nonce: str) -> int:
    """The 24 security feature bits from an RFC 8489 nonce cookie, or 0 for a plain nonce (§9.2)."""
    if not nonce.startswith(NONCE_COOKIE) or len(nonce) < len(NONCE_COOKIE) + 4:
        return 0
    try:
        raw = base64.b64decode(nonce[len(NONCE_COOKIE):len(NONCE_COOKIE) + 4], validate=True)
    except ValueError:
        return 0
    return int.from_bytes(raw, "big") if len(raw) == 3 else 0


class TurnSession:
    """A control connection to a TURN server plus the authentication state learned from its challenge."""

    def __init__(self, client: Client, server: tuple[str, int], transport: str, steps: list[Exchange],
                 started: float, policy: RetransmitPolicy) -> None:
        self.client = client
        self.policy = policy
        self.server = server
        self.transport = transport
        self.steps = steps  # where every exchange is recorded (the TransportResult's list)
        self.started = started  # loop time the probe started (for Exchange.started_ms)
        self.credentials: Credentials | None = None
        self.realm: str | None = None
        self.nonce: str | None = None
        self.password_algorithms_raw: bytes | None = None
        self.algorithm: int = PasswordAlgorithm.MD5
        self.use_userhash = False
        self.userhash_value: bytes | None = None
        self.userhash_error: str | None = None  # why USERHASH was asked for but could not be computed
        self.key: bytes | None = None
        self.stale_nonce_retries = 0
        self.challenge_problem: str | None = None  # why the REALM/NONCE learned cannot be used
        self.rtts_ms: list[float] = []
        # An Allocate was sent and its answer never read because the probe was cancelled (scrape timeout,
        # scraper gone, SIGTERM): the server may hold an allocation nobody knows of, so it is released.
        self.allocate_unanswered = False
        # (server IP, user name) while this session holds an allocation (or a reservation after a 486) in this
        # run's ledger (rtcdiag.probes.turn_quota); released in cleanup.
        self.quota_key: tuple[str, str] | None = None
        # That Allocate's transaction, left running (retransmissions included) when the probe was cancelled:
        # the release waits for its answer first (rtcdiag.probes.turn._cleanup says why).
        self.cut_off_allocate: asyncio.Task[tuple[Message | None, Exchange]] | None = None

    # --- challenge -> key -------------------------------------------------------------------------------

    def learn_challenge(self, reply: Message) -> None:
        """Take REALM, NONCE and PASSWORD-ALGORITHMS from a 401/438 reply (RFC 8489 §9.2.4, §9.2.5)."""
        problems = [problem for name, attr_type in (("REALM", AttrType.REALM), ("NONCE", AttrType.NONCE))
                    if (raw := reply.get_raw(attr_type)) is not None
                    and (problem := challenge_problem(name, raw)) is not None]
        if problems:
            self.challenge_problem = "; ".join(problems)
            self.key = None  # nothing derived from it is ever sent
            return
        realm = _text(reply, AttrType.REALM)
        nonce = _text(reply, AttrType.NONCE)
        if realm is not None:
            self.realm = realm
        if nonce is not None:
            self.nonce = nonce
        raw_algorithms = reply.get_raw(AttrType.PASSWORD_ALGORITHMS)
        if raw_algorithms is not None:
            self.password_algorithms_raw = raw_algorithms
        self._derive_key()

    def offered_algorithms(self) -> list[str]:
        """PASSWORD-ALGORITHMS as offered, in the server's order: "md5", "sha256" or "0x...."."""
        if self.password_algorithms_raw is None:
            return []
        try:
            value = unpack_value(AttrType.PASSWORD_ALGORITHMS, self.password_algorithms_raw, b"")
        except StunParseError:
            return ["malformed"]
        if not isinstance(value, PasswordAlgorithms):
            return []
        names = {int(PasswordAlgorithm.MD5): "md5", int(PasswordAlgorithm.SHA256): "sha256"}
        return [names.get(e.algorithm, f"0x{e.algorithm:04x}") for e in value.entries]

    def set_credentials(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._derive_key()

    def _derive_key(self) -> None:
        if self.credentials is None or self.realm is None or self.challenge_problem is not None:
            return
        offered = self.offered_algorithms()
        # RFC 8489 §9.2.4: the first algorithm of the server's list that we support; MD5 without a list.
        supported = [name for name in offered if name in ("md5", "sha256")]
        self.algorithm = PasswordAlgorithm.SHA256 if supported[:1] == ["sha256"] else PasswordAlgorithm.MD5
        features = nonce_features(self.nonce or "")
        self.use_userhash = bool(features & _FEATURE_USERNAME_ANONYMITY)
        self.userhash_value = None
        if self.use_userhash:
            try:
                self.userhash_value = userhash(self.credentials.username, self.realm)
            except CredentialError as exc:
                # RFC 8489 §14.4 prepares user name and realm with OpaqueString: a REALM with characters it
                # forbids (controls, format characters) cannot be hashed. Send USERNAME; say why.
                self.use_userhash = False
                self.userhash_error = f"the server asked for USERHASH, which cannot be computed: {exc}"
        realm = self.credentials.realm_override or self.realm
        self.key = long_term_key(self.credentials.username, realm, self.credentials.password, self.algorithm)

    @property
    def algorithm_name(self) -> str:
        return "sha256" if self.algorithm == PasswordAlgorithm.SHA256 else "md5"

    # --- requests -----------------------------------------------------------------------------------------

    def _authenticate(self, msg: Message) -> None:
        assert self.credentials is not None and self.realm is not None
        if self.use_userhash and self.userhash_value is not None:
            msg.add(AttrType.USERHASH, self.userhash_value)
        else:
            msg.add(AttrType.USERNAME, self.credentials.username)
        msg.add(AttrType.REALM, self.realm)
        msg.add(AttrType.NONCE, self.nonce or "")
        if self.password_algorithms_raw is not None:
            msg.add_raw(AttrType.PASSWORD_ALGORITHMS, self.password_algorithms_raw)
            msg.add_raw(AttrType.PASSWORD_ALGORITHM, int(self.algorithm).to_bytes(2, "big") + b"\x00\x00")

    async def request(self, build: Callable[[], Message], step: str, *, authenticated: bool = True,
                      retry_stale_nonce: bool = True, record_in: list[Exchange] | None = None,
                      policy: RetransmitPolicy | None = None) -> tuple[Message | None, Exchange]:
        """Send ``build()``; on 438 learn the new nonce, send a fresh ``build()`` once (RFC 8489 §9.2.5).
        ``policy``: this request's timers, when not the session's."""
        steps = self.steps if record_in is None else record_in
        reply, record = await self._send_once(build(), step, authenticated, steps, policy)
        if retry_stale_nonce and authenticated and reply is not None and reply.error_code == 438:
            self.stale_nonce_retries += 1
            self.learn_challenge(reply)
            if self.challenge_problem is not None:
                return reply, record  # the new nonce cannot be echoed: the 438 stands
            reply, record = await self._send_once(build(), step + " (retry with new nonce)", authenticated,
                                                  steps, policy)
        return reply, record

    async def _send_once(self, msg: Message, step: str, authenticated: bool, steps: list[Exchange],
                         policy: RetransmitPolicy | None = None) -> tuple[Message | None, Exchange]:
        key = None
        if authenticated and self.challenge_problem is not None:
            # Nothing the server's unusable REALM/NONCE would be echoed in goes out (RFC 8489 §14.9/§14.10).
            record = Exchange(step=step, request=summary(msg), transport=self.client.transport,
                              server=hostport(self.server), outcome=Outcome.NOT_SENT,
                              error=f"not sent: {self.challenge_problem}")
            steps.append(record)
            return None, record
        if authenticated and self.key is not None:
            self._authenticate(msg)
            key = self.key
        reply, record = await exchange(self.client, msg, dest=self.server, step=step, key=key,
                                       sha256=key is not None and self.algorithm == PasswordAlgorithm.SHA256,
                                       policy=policy or self.policy, t0=self.started)
        steps.append(record)
        if record.rtt_ms is not None:
            self.rtts_ms.append(record.rtt_ms)
        return reply, record

    def encode_signed(self, msg: Message) -> tuple[bytes, bytes | None]:
        """``msg`` with this session's credentials and MESSAGE-INTEGRITY, encoded, and the key (None when
        there are no credentials yet): for a request sent outside :meth:`request`, e.g. the RFC 6062
        ConnectionBind on a data connection, which carries the same credentials (RFC 6062 §4.4)."""
        key = None
        if self.key is not None:
            self._authenticate(msg)
            key = self.key
        sha256 = key is not None and self.algorithm == PasswordAlgorithm.SHA256
        return msg.encode(integrity_key=key, integrity_sha256=sha256, fingerprint=True), key

    def receive_window_s(self) -> float:
        """How long to wait for relayed packets: 4 x the slowest control RTT + 20 ms, 50 ms .. 2 s."""
        slowest = max(self.rtts_ms, default=100.0) / 1000.0
        return min(2.0, max(0.05, 4 * slowest + 0.02))


def _text(msg: Message, attr_type: int) -> str | None:
    return msg.find(attr_type, str)
