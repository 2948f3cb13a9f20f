"""Evidence a server can inflate is kept bounded: attribute views, unknown types, NAT test exchanges."""

from __future__ import annotations

from rtcdiag.probes import binding
from rtcdiag.probes.exchange import _fill
from rtcdiag.probes.nat import MAX_KEPT_EXCHANGES, NatTestRecord
from rtcdiag.probes.record import MAX_SHOWN_ATTRIBUTES, Exchange
from rtcdiag.protocol import (
    Address,
    AttrType,
    Message,
    MessageClass,
    Method,
    PasswordAlgorithmEntry,
    PasswordAlgorithms,
    UnknownAttributes,
)
from rtcdiag.protocol.describe import describe, value_text
from rtcdiag.protocol.transaction import Rejected, TransactionResult


def crowded_reply(unknown: int) -> Message:
    reply = Message(Method.BINDING, MessageClass.SUCCESS)
    reply.add(AttrType.XOR_MAPPED_ADDRESS, Address.of("192.0.2.1", 4000))
    for i in range(unknown):
        reply.add_raw(0x8100 + i % 0x100, b"")
    return reply


def test_describe_limit() -> None:
    reply = crowded_reply(100)
    assert len(describe(reply)) == 101
    views = describe(reply, limit=3)
    assert views[0].name == "XOR-MAPPED-ADDRESS" and len(views) == 3


def test_list_valued_attributes_name_the_first_sixteen() -> None:
    text = value_text(AttrType.UNKNOWN_ATTRIBUTES, UnknownAttributes(tuple(range(0x8000, 0x8000 + 40))))
    assert text.endswith(", ... (40 in all)") and text.count(",") == 16
    algorithms = PasswordAlgorithms(tuple(PasswordAlgorithmEntry(1, b"") for _ in range(20)))
    assert value_text(AttrType.PASSWORD_ALGORITHMS, algorithms).endswith("... (20 in all)")
    assert value_text(AttrType.UNKNOWN_ATTRIBUTES, UnknownAttributes((0x0019,))) == "REQUESTED-TRANSPORT"


def test_exchange_keeps_the_first_attributes_and_counts_all() -> None:
    reply = crowded_reply(5000)
    data = reply.encode()
    result = TransactionResult(dest=("192.0.2.1", 3478), transport="udp", local=("0.0.0.0", 1),
                               response=data, source=("192.0.2.1", 3478), send_times=[0.0], answered_at=0.01,
                               rejected=[Rejected("x", ("192.0.2.1", 3478), 0.0)] * 5, rejected_count=70000)
    msg, record = _fill(Exchange(step="s", request="Binding request", transport="udp", server="x"), result,
                        {data: reply})
    assert msg is reply
    assert len(record.response_attributes) == MAX_SHOWN_ATTRIBUTES
    assert record.response_attribute_count == 5001
    assert len(record.rejected) == 5 and record.rejected_count == 70000


def test_binding_unknown_attributes_are_capped() -> None:
    result = binding.BindingResult(target="stun:x", host="x", port=3478, transport="udp")
    binding._fill_from_reply(result, crowded_reply(300))
    assert result.unknown_attribute_count == 300
    assert len(result.unknown_attributes) == binding.MAX_UNKNOWN_SHOWN


def test_nat_record_keeps_the_first_and_the_latest_exchange() -> None:
    record = NatTestRecord("filtering II", "filtering", "192.0.2.1:3478")
    for n in range(25):
        record.keep(Exchange(step=f"try {n}", request="Binding request", transport="udp", server="x"))
    assert record.exchange_count == 25
    assert len(record.exchanges) == MAX_KEPT_EXCHANGES
    assert [e.step for e in record.exchanges] == [f"try {n}" for n in range(9)] + ["try 24"]
