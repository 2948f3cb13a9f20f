"""TLS client contexts for ``turns:``/``stuns:`` and naming why a handshake failed.

Verification is on by default (RFC 8489 §6.2.3 / RFC 7350: check the certificate against the host name).
ALPN "stun.turn" is offered (RFC 7443 §4); servers that do not know it simply ignore it.
"""

from __future__ import annotations

import ssl
from enum import StrEnum

ALPN_STUN_TURN = "stun.turn"  # RFC 7443 §4


class TlsFailure(StrEnum):
    """Why a TLS connection failed, in words a finding can key on."""

    UNTRUSTED = "untrusted-certificate"  # self-signed, unknown issuer, broken chain
    EXPIRED = "expired-certificate"
    NOT_YET_VALID = "certificate-not-yet-valid"
    HOSTNAME_MISMATCH = "hostname-mismatch"
    REVOKED = "revoked-certificate"
    HANDSHAKE = "handshake-failure"  # protocol/version/cipher problems, peer not speaking TLS


# OpenSSL X509_V_ERR_* codes (include/openssl/x509_vfy.h).
_VERIFY_CODES: dict[int, TlsFailure] = {
    2: TlsFailure.UNTRUSTED,  # unable to get issuer certificate
    7: TlsFailure.UNTRUSTED,  # certificate signature failure
    9: TlsFailure.NOT_YET_VALID,
    10: TlsFailure.EXPIRED,
    18: TlsFailure.UNTRUSTED,  # depth zero self-signed
    19: TlsFailure.UNTRUSTED,  # self-signed certificate in chain
    20: TlsFailure.UNTRUSTED,  # unable to get local issuer certificate
    21: TlsFailure.UNTRUSTED,  # unable to verify the first certificate
    23: TlsFailure.REVOKED,
    24: TlsFailure.UNTRUSTED,  # invalid CA certificate
    26: TlsFailure.UNTRUSTED,  # unsupported certificate purpose
    27: TlsFailure.UNTRUSTED,  # certificate not trusted
    62: TlsFailure.HOSTNAME_MISMATCH,
    64: TlsFailure.HOSTNAME_MISMATCH,  # IP address mismatch
}


def make_client_context(ca_file: str | None = None, insecure: bool = False,
                        alpn: tuple[str, ...] = (ALPN_STUN_TURN,)) -> ssl.SSLContext:
    """A client context: system trust store (plus ``ca_file``), host name checked, unless ``insecure``."""
    context = ssl.create_default_context(cafile=ca_file)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


def classify_ssl_error(err: ssl.SSLError) -> tuple[TlsFailure, str]:
    """(reason, detail text) for an SSL error raised while connecting."""
    if isinstance(err, ssl.SSLCertVerificationError):
        reason = _VERIFY_CODES.get(err.verify_code, TlsFailure.UNTRUSTED)
        return reason, f"certificate verify failed: {err.verify_message} (code {err.verify_code})"
    text = err.reason or str(err)
    return TlsFailure.HANDSHAKE, f"TLS handshake failed: {text}"
