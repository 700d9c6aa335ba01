"""SSE and NDJSON framing: events come out whole and identical however the bytes are split."""

from __future__ import annotations

import random

from gateway_node.ai.sse import Event, EventSplitter, LineSplitter


def split_feed(data: bytes, cuts: list[int]) -> tuple[list[Event], bytes]:
    splitter = EventSplitter()
    events: list[Event] = []
    last = 0
    for cut in [*cuts, len(data)]:
        events += splitter.feed(data[last:cut])
        last = cut
    events += splitter.close()
    return events, splitter.rest()


def every_split(data: bytes):
    """Whole, byte by byte, every cut in two, every cut in three."""
    yield []
    yield list(range(1, len(data)))
    for i in range(1, len(data)):
        yield [i]
        for j in range(i + 1, len(data)):
            yield [i, j]


def test_it_keeps_each_events_original_bytes():
    data = b": hello\n\nevent: delta\ndata: a\ndata:b\nid: 7\n\ndata: [DONE]\n\n"
    events, rest = split_feed(data, [])
    assert [e.raw for e in events] == [b": hello\n\n", b"event: delta\ndata: a\ndata:b\nid: 7\n\n", b"data: [DONE]\n\n"]
    assert [(e.data, e.event, e.comment_only) for e in events] == [
        (None, None, True),
        ("a\nb", "delta", False),
        ("[DONE]", None, False),
    ]
    assert rest == b""


def test_every_split_gives_the_same_events():
    data = "data: Grüße 😀\r\n\r\n: ping\r\rdata: x\n\ndata: y\r\n\r\n".encode()
    expected, rest = split_feed(data, [])
    assert [e.data for e in expected] == ["Grüße 😀", None, "x", "y"]
    assert b"".join(e.raw for e in expected) == data
    assert rest == b""
    for cuts in every_split(data):
        events, rest = split_feed(data, cuts)
        assert events == expected, cuts
        assert rest == b""


def test_a_trailing_cr_waits_for_the_next_byte():
    splitter = EventSplitter()
    assert splitter.feed(b"data: a\r\n\r") == []  # "\r" may be the start of "\r\n"
    events = splitter.feed(b"\ndata: b\n\n")
    assert [e.raw for e in events] == [b"data: a\r\n\r\n", b"data: b\n\n"]
    splitter = EventSplitter()
    assert splitter.feed(b"data: a\r\r") == []
    assert [e.raw for e in splitter.close()] == [b"data: a\r\r"]  # the stream ended: "\r" was the line end


def test_an_incomplete_event_is_left_over_at_the_end():
    splitter = EventSplitter()
    assert [e.data for e in splitter.feed(b"data: one\n\ndata: tw")] == ["one"]
    assert splitter.close() == []
    assert splitter.rest() == b"data: tw"


def test_random_splits_of_a_long_stream():
    data = b"".join(f"event: e{i}\ndata: {'é' * (i % 7)}{i}\n\n".encode() for i in range(300))
    expected, _ = split_feed(data, [])
    assert len(expected) == 300
    rng = random.Random(11)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 200)))
        assert split_feed(data, cuts)[0] == expected


def test_ndjson_lines_whole_whatever_the_split():
    data = '{"a": "ü"}\n\n{"b": 2}\r\n{"c": 3}'.encode()
    for cuts in every_split(data):
        splitter = LineSplitter()
        lines: list[bytes] = []
        last = 0
        for cut in [*cuts, len(data)]:
            lines += splitter.feed(data[last:cut])
            last = cut
        assert lines == ['{"a": "ü"}'.encode(), b'{"b": 2}'], cuts
        assert splitter.rest() == b'{"c": 3}'
        assert splitter.rest() == b""
