"""The one exception type the protocol codec raises for bad bytes."""

from __future__ import annotations


class StunParseError(ValueError):
    """Bytes are not a valid STUN message / attribute / ChannelData frame.

    This is the ONLY exception :func:`Message.decode`, :meth:`Message.get` (lazy typed decode),
    :func:`ChannelData.decode` and the verifiers raise for any input bytes.
    """


class CredentialError(ValueError):
    """A username/realm/password cannot be prepared (prohibited character, empty, ...).

    Raised by :mod:`rtcdiag.protocol.credentials`; the message never contains the secret itself.
    """


class MessageTooLargeError(ValueError):
    """A message cannot be encoded: its attributes exceed the 16-bit length field (RFC 8489 §5)."""
