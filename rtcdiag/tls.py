"""TLS client contexts for ``turns:``/``stuns:`` and naming why a handshake failed.

Verification is on by default (RFC 8489 §6.2.3 / RFC 7350: check the certificate against the host name).
``--ca FILE`` adds its CAs to the system trust store. With ``--insecure`` nothing is verified on the
connections themselves (rtcdiag.probes.tls_info inspects the certificate aside, for warnings).
ALPN "stun.turn" is offered (RFC 7443 §4); servers that do not know it simply ignore it.
"""

from __future__ import annotations

import os
import ssl
import sys
import threading
from collections.abc import Callable
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


def ca_file_problem(path: str) -> str | None:
    """Why ``path`` cannot serve as ``--ca`` / ``ca =`` (None: a readable PEM file of CA certificates). A
    bare client context: the file is validated without also loading the system store (~20 ms)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        return f"not a PEM file of CA certificates ({exc})"
    return None


def make_client_context(ca_file: str | None = None, insecure: bool = False,
                        alpn: tuple[str, ...] = (ALPN_STUN_TURN,)) -> ssl.SSLContext:
    """A client context: system trust store (plus ``ca_file``), host name checked, unless ``insecure``.

    The context is shared: one per (``ca_file`` as it is on disk, ``insecure``, ``alpn``) for the life of
    the process, because loading the system trust store costs ~20 ms of CPU each time (a ``check`` over
    many servers made one per TLS connection). An :class:`ssl.SSLContext` is safe to use for many
    connections at once; callers must not modify the one they get.
    """
    return shared_context(("client", ca_file, insecure, tuple(alpn)), ca_file,
                          lambda: _new_client_context(ca_file, insecure, alpn))


_CONTEXTS: dict[tuple[object, ...], ssl.SSLContext] = {}
_LOCK = threading.Lock()


def shared_context(key: tuple[object, ...], ca_file: str | None,
                   build: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """The context ``build()`` made for ``key`` and the current content of ``ca_file``, made once."""
    full = (*key, _file_stamp(ca_file))
    with _LOCK:
        context = _CONTEXTS.get(full)
        if context is None:
            context = _CONTEXTS[full] = build()
    return context


def _file_stamp(path: str | None) -> tuple[int, int, int] | None:
    """Identity of the file's current content (a CA file replaced on disk gets a new context)."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None  # let ssl raise its own error when loading it
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _new_client_context(ca_file: str | None, insecure: bool, alpn: tuple[str, ...]) -> ssl.SSLContext:
    if insecure:
        # What ssl.create_default_context() gives, minus loading a trust store nothing will consult.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        keylog = os.environ.get("SSLKEYLOGFILE")
        if keylog and not sys.flags.ignore_environment:
            context.keylog_filename = keylog
        if ca_file is not None:
            context.load_verify_locations(cafile=ca_file)  # still rejects a file that is not PEM
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context()  # the system trust store ...
        if ca_file is not None:
            context.load_verify_locations(cafile=ca_file)  # ... and the user's CAs on top (--ca adds)
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


# asyncio gives every TLS connection a 256 KiB read buffer (``SSLProtocol.max_size``), filled with zeros at
# once. A ``check`` holds a hundred or more TLS connections at a time, each carrying a few hundred bytes: the
# buffers were 30 MB of a 80 MB peak RSS for 20 servers. A TLS record is at most 16 KiB + 2 KiB.
TLS_READ_BUFFER = 32 * 1024


def limit_tls_read_buffer(size: int = TLS_READ_BUFFER) -> None:
    """Make asyncio's TLS read buffer ``size`` bytes for connections opened from now on, in this process.

    Only the chunk size of reads changes (larger data is read in more steps); the command line calls this
    once before it probes.
    """
    from asyncio import sslproto

    if sslproto.SSLProtocol.max_size > size:
        sslproto.SSLProtocol.max_size = size


def classify_ssl_error(err: ssl.SSLError) -> tuple[TlsFailure, str]:
    """(reason, detail text) for an SSL error raised while connecting."""
    if isinstance(err, ssl.SSLCertVerificationError):
        reason = _VERIFY_CODES.get(err.verify_code, TlsFailure.UNTRUSTED)
        return reason, f"certificate verify failed: {err.verify_message} (code {err.verify_code})"
    text = err.reason or str(err)
    return TlsFailure.HANDSHAKE, f"TLS handshake failed: {text}"

