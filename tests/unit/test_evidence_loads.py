"""``webrtc_internals.loads``: json.loads' fast path (one call of the C scanner when the text is one JSON
value with nothing around it, issue 19) must give json.loads' value, or raise its error, for any text: the
event values and stats series of a dump are untrusted."""

from __future__ import annotations

import json

import pytest

from rtcdiag.evidence.webrtc_internals import loads

TEXTS = ['{"type":"offer","sdp":"v=0\\r\\n"}', "[1,2.5,-3e2,true,null]", '"connected"', "0", "-1.5", "1e999",
         "NaN", "-Infinity", " [1]", "[1] ", "\n{}\t", "[1] x", "[1][2]", "", " ", "[1,", '{"a":', '"abc',
         "\ufeff[1]", "[1,]", "{'a': 1}", "[" * 100_000 + "]" * 100_000, '"\\ud800"', '"a\\u0000b"', "tru",
         '{"a":1,"a":2}', "01", "[1 2]", '"\x01"', "{}", "[]", '""', "1.0", "-0"]


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_loads_is_json_loads(text: str) -> None:
    try:
        expected: object = json.loads(text)
    except (ValueError, RecursionError) as exc:
        with pytest.raises(type(exc)) as raised:
            loads(text)
        assert str(raised.value) == str(exc)
        return
    got = loads(text)
    assert repr(got) == repr(expected) and type(got) is type(expected)
