"""The probes' outcome and error-kind enums: every transport error has a kind, JSON shows the same words."""

from __future__ import annotations

import json

import pytest

from rtcdiag import net as transport
from rtcdiag.jsonable import to_jsonable
from rtcdiag.probes.exchange import error_kind
from rtcdiag.probes.reach import PortResult, PortState, StunAnswer
from rtcdiag.probes.record import ErrorKind, Exchange, Outcome
from rtcdiag.resolve import ResolveError
from rtcdiag.tls import TlsFailure


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


@pytest.mark.parametrize("cls", [transport.TransportError, *_subclasses(transport.TransportError)],
                         ids=lambda c: c.__name__)
def test_every_transport_error_kind_is_an_error_kind(cls: type[transport.TransportError]) -> None:
    if cls is transport.TlsError:
        return  # covered with its reasons below
    assert ErrorKind.of(cls.kind).value == cls.kind


@pytest.mark.parametrize("reason", list(TlsFailure))
def test_tls_reasons_keep_their_tls_prefixed_words(reason: TlsFailure) -> None:
    err = transport.TlsError("handshake failed", reason)
    assert error_kind(err) == f"tls:{reason.value}"
    assert isinstance(error_kind(err), ErrorKind)


def test_error_kind_of_resolve_error_and_unknown_kind() -> None:
    assert error_kind(ResolveError("unknown host x", "x")) is ErrorKind.DNS
    assert ErrorKind.of("something-new") is ErrorKind.TRANSPORT


def test_enums_compare_and_serialise_as_their_words() -> None:
    ex = Exchange(step="binding", request="Binding request", transport="udp", server="192.0.2.1:3478",
                  outcome=Outcome.TRANSPORT_ERROR, error_kind=ErrorKind.TLS_EXPIRED)
    assert ex.outcome == "transport-error" and ex.error_kind == "tls:expired-certificate"
    assert f"{ex.outcome} {ex.error_kind}" == "transport-error tls:expired-certificate"
    data = json.loads(json.dumps(to_jsonable(ex)))
    assert data["outcome"] == "transport-error" and data["error_kind"] == "tls:expired-certificate"
    assert [o.value for o in Outcome] == ["success", "error-response", "timeout", "rejected",
                                          "transport-error", "sent", "not-sent"]


def test_port_states_keep_their_words() -> None:
    port = PortResult(transport="udp", port=3478, address="192.0.2.1")
    assert port.state is PortState.TIMEOUT and port.stun is StunAnswer.NOT_TRIED
    assert to_jsonable(port)["state"] == "timeout" and to_jsonable(port)["stun"] == "not-tried"
    assert [s.value for s in PortState] == ["open", "closed", "timeout", "tls-failed", "error"]
