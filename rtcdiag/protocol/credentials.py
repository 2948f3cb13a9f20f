"""Credentials: string preparation, long-term keys, USERHASH and TURN REST-API credentials.

- RFC 8489 §9.2.2: long-term key = H(username ":" realm ":" password) with H = MD5 (16 bytes) or SHA-256
  (32 bytes); the password is prepared (OpaqueString, RFC 8265 — RFC 5389 and the RFC 5769 vectors used
  SASLprep, RFC 4013, which gives the same bytes for every ASCII password).
- RFC 8489 §14.4: USERHASH = SHA-256(OpaqueString(username) ":" OpaqueString(realm)).
- RFC 8489 §14.9/§14.10: REALM and NONCE are quoted-string text of fewer than 128 characters (at most 763
  bytes); :func:`challenge_problem` says why a server's value cannot be echoed.
- TURN REST API (draft-uberti-behave-turn-rest-00 §2.2, coturn ``use-auth-secret``): username
  "expiry:user", password = base64(HMAC-SHA1(secret, username)).

Every derived secret is registered with :func:`rtcdiag.redact.register_secret`.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

from rtcdiag.protocol.constants import PasswordAlgorithm
from rtcdiag.protocol.errors import CredentialError
from rtcdiag.redact import register_secret

MIN_REST_EXPIRY = 1_000_000_000  # a REST user name's number must look like a Unix time to be its expiry
# hashlib, hmac, stringprep and unicodedata are imported where used: a STUN Binding without credentials (the
# quickest question, issue 20) never needs them.


def _is_non_ascii_space(ch: str) -> bool:
    import unicodedata

    return ch != " " and unicodedata.category(ch) == "Zs"


def opaque_string(text: str) -> str:
    """Prepare ``text`` with the PRECIS OpaqueString profile (RFC 8265 §4.2).

    Non-ASCII spaces -> U+0020, then NFC; rejects the empty string and characters the FreeformClass
    disallows (controls, default-ignorable code points, surrogates, non-characters, unassigned).
    The disallowed set uses the stdlib ``stringprep`` tables, a close approximation of RFC 8264 §9.
    """
    import stringprep
    import unicodedata

    mapped = "".join(" " if _is_non_ascii_space(ch) else ch for ch in text)
    prepared = unicodedata.normalize("NFC", mapped)
    if not prepared:
        raise CredentialError("credential is empty after OpaqueString preparation")
    for ch in prepared:
        if (
            stringprep.in_table_c21_c22(ch)  # controls
            or stringprep.in_table_b1(ch)  # default ignorable ("commonly mapped to nothing")
            or stringprep.in_table_c5(ch)  # surrogates
            or stringprep.in_table_c4(ch)  # non-characters
            or unicodedata.category(ch) == "Cn"  # unassigned
        ):
            raise CredentialError(f"credential contains a character OpaqueString forbids (U+{ord(ch):04X})")
    return prepared


def saslprep(text: str) -> str:
    """Prepare ``text`` with SASLprep (RFC 4013, stringprep RFC 3454), as RFC 5389 §15.4 asked.

    Maps B.1 to nothing and C.1.2 spaces to U+0020 (§2.1, §2.2), NFKC (§2.2), prohibits C.1.2-C.9 (§2.3)
    and checks bidi rules (RFC 3454 §6). Example: "The\\u00adM\\u00aatr\\u2168" -> "TheMatrIX".
    """
    import stringprep
    import unicodedata

    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch for ch in text if not stringprep.in_table_b1(ch)
    )
    prepared = unicodedata.normalize("NFKC", mapped)
    prohibited = (
        stringprep.in_table_c12,
        stringprep.in_table_c21_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
    )
    for ch in prepared:
        if any(table(ch) for table in prohibited):
            raise CredentialError(f"credential contains a character SASLprep prohibits (U+{ord(ch):04X})")
    rand_al = [stringprep.in_table_d1(ch) for ch in prepared]
    # RFC 3454 §6: no LCat with RandALCat; RandALCat must start and end the string
    has_lcat = any(stringprep.in_table_d2(ch) for ch in prepared)
    if any(rand_al) and (has_lcat or not (rand_al[0] and rand_al[-1])):
        raise CredentialError("credential mixes right-to-left and left-to-right text (RFC 3454 §6)")
    return prepared


_HASHES: dict[int, str] = {PasswordAlgorithm.MD5: "md5", PasswordAlgorithm.SHA256: "sha256"}


def long_term_key(
    username: str,
    realm: str,
    password: str,
    algorithm: int = PasswordAlgorithm.MD5,
    *,
    prep: Callable[[str], str] = saslprep,
) -> bytes:
    """The long-term credential HMAC key (RFC 8489 §9.2.2): MD5 -> 16 bytes, SHA-256 -> 32 bytes.

    ``prep`` prepares the password (default SASLprep as RFC 5389/5769; pass :func:`opaque_string` for
    strict RFC 8489). Raises :class:`CredentialError` for an unusable password or unknown algorithm.
    """
    import hashlib

    name = _HASHES.get(algorithm)
    if name is None:
        raise CredentialError(f"unsupported password algorithm {algorithm}")
    register_secret(password)
    material = f"{username}:{realm}:{prep(password)}".encode()
    key = hashlib.new(name, material).digest()
    register_secret(key)
    return key


def short_term_key(password: str, *, prep: Callable[[str], str] = saslprep) -> bytes:
    """Short-term credential key (RFC 8489 §9.1.1): the prepared password itself (ICE uses this)."""
    register_secret(password)
    return prep(password).encode()


def userhash(username: str, realm: str) -> bytes:
    """USERHASH value (RFC 8489 §14.4): SHA-256(OpaqueString(username) ":" OpaqueString(realm))."""
    import hashlib

    return hashlib.sha256(f"{opaque_string(username)}:{opaque_string(realm)}".encode()).digest()


MAX_CHALLENGE_BYTES = 763  # RFC 8489 §14.9 REALM, §14.10 NONCE: "< 128 characters (as long as 763 bytes)"


def challenge_problem(name: str, raw: bytes) -> str | None:
    """Why the REALM or NONCE value ``raw`` (as received) cannot be used, or None if it can.

    RFC 8489 §14.9/§14.10: UTF-8, fewer than 763 bytes, quoted-string content (RFC 3261 §25.1 qdtext: no
    control characters; a REALM is also OpaqueString text, RFC 8265, which forbids them too). A value with
    controls cannot be echoed or hashed as the server meant it; one longer than allowed could make the
    request we must send exceed what the transport carries.
    """
    import unicodedata

    if len(raw) >= MAX_CHALLENGE_BYTES:
        return f"{name} is {len(raw)} bytes (RFC 8489 allows fewer than {MAX_CHALLENGE_BYTES})"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{name} is not UTF-8 ({exc.reason} at byte {exc.start})"
    bad = next((ch for ch in text if unicodedata.category(ch) == "Cc"), None)
    if bad is not None:
        return f"{name} contains the control character U+{ord(bad):04X} (not allowed in a quoted-string)"
    return None


DEFAULT_REST_USER = "rtcdiag"  # the name in minted credentials when none is configured


def rest_credentials(secret: str, user: str, ttl_s: int, now: float | None = None) -> tuple[str, str]:
    """TURN REST-API credentials: ``("expiry:user", base64(HMAC-SHA1(secret, username)))``.

    ``expiry`` = ``now`` (default: the clock) + ``ttl_s`` in Unix seconds; an empty ``user`` gives just the
    expiry. Both the secret and the derived password are registered for redaction.
    """
    register_secret(secret)
    expiry = int(time.time() if now is None else now) + int(ttl_s)
    username = f"{expiry}:{user}" if user else str(expiry)
    return username, rest_password(secret, username)


def rest_password(secret: str, username: str) -> str:
    """base64(HMAC-SHA1(secret, username)) (draft-uberti-behave-turn-rest-00 §2.2), registered as secret."""
    import hmac

    password = base64.b64encode(hmac.digest(secret.encode(), username.encode(), "sha1")).decode("ascii")
    register_secret(password)
    return password


def rest_username_expiry(username: str) -> int | None:
    """The expiry of a REST user name ``expiry:user`` (or a bare expiry), None for an ordinary name (one
    whose number does not look like a Unix time)."""
    expiry = parse_rest_expiry(username)
    return expiry if expiry is not None and expiry >= MIN_REST_EXPIRY else None


def rest_login(secret: str, user: str | None, ttl_s: int, now: float | None = None,
               ) -> tuple[str, str, bool]:
    """The one "ready-made or mint" decision for a REST secret: ``(username, password, minted)``.

    A ready-made ``expiry:user`` (an expiry that looks like a Unix time) is kept exactly as given, with its
    password derived from the secret; any other name (or none: just the expiry) is minted for ``ttl_s``."""
    register_secret(secret)
    if user is not None and rest_username_expiry(user) is not None:
        return user, rest_password(secret, user), False
    username, password = rest_credentials(secret, user or "", ttl_s, now=now)
    return username, password, True


def parse_rest_expiry(username: str) -> int | None:
    """The expiry timestamp of a REST-API username ("1700000000:alice" or "1700000000"), else None.

    coturn also accepts "user:expiry"; a trailing all-digit field is taken when the leading one is not.
    """
    fields = username.split(":")
    for candidate in (fields[0], fields[-1]):
        if candidate.isascii() and candidate.isdigit() and 0 < len(candidate) <= 12:
            return int(candidate)
    return None
