"""Incremental framing of provider streams: server-sent events and NDJSON lines.

Both splitters take bytes as they arrive, in any split (mid-line, mid-``\\r\\n``, mid UTF-8
character), and hand out only complete units. :class:`EventSplitter` keeps each event's
original bytes (``Event.raw``) so a pass-through relay can forward them unchanged, keep-alive
comments and ``\\r\\n`` framing included; text is decoded only from complete lines, so a
character split across two reads comes out whole.

Rules (the WHATWG event-stream format): lines end with ``\\n``, ``\\r\\n`` or ``\\r``; an event
ends with a blank line; lines starting with ``:`` are comments; ``field: value`` loses one
space after the colon; several ``data`` lines join with ``\\n``. A ``\\r`` at the very end of
the bytes so far is held back until the next byte says whether a ``\\n`` follows, so the
events found never depend on how the stream was split.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Event", "EventSplitter", "LineSplitter"]


@dataclass(slots=True)
class Event:
    """One complete event: its bytes as received (terminating blank line included) and its
    fields. ``comment_only``: no field line at all (keep-alive comments, stray blank lines)."""

    raw: bytes
    data: str | None
    event: str | None
    comment_only: bool


class EventSplitter:
    """Splits an SSE byte stream into :class:`Event` objects as they complete."""

    __slots__ = ("_buf", "_data", "_event", "_fields", "_scan", "_start")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._start = 0  # where the current (incomplete) event begins in _buf
        self._scan = 0  # where the next line begins
        self._data: list[str] = []
        self._event: str | None = None
        self._fields = False

    def feed(self, data: bytes) -> list[Event]:
        """The events completed by ``data`` (possibly none)."""
        if data:
            self._buf += data
        return self._split(final=False)

    def close(self) -> list[Event]:
        """The stream ended: a trailing ``\\r`` now ends its line. Returns events it completes;
        what is left (an event without its blank line) stays in :meth:`rest`."""
        return self._split(final=True)

    def rest(self) -> bytes:
        """The bytes of the incomplete trailing event (at close: per the format, not an event)."""
        return bytes(self._buf[self._start :])

    def _split(self, *, final: bool) -> list[Event]:
        buf = self._buf
        size = len(buf)
        events: list[Event] = []
        scan = self._scan
        while scan < size:
            lf = buf.find(b"\n", scan)
            cr = buf.find(b"\r", scan, lf if lf >= 0 else size)
            if cr >= 0:
                if cr + 1 == size and not final:
                    break  # "\r" last: wait for the next byte (maybe "\n")
                end = cr
                after = cr + 2 if cr + 1 < size and buf[cr + 1] == 0x0A else cr + 1
            elif lf >= 0:
                end = lf
                after = lf + 1
            else:
                break
            if end == scan:  # blank line: the event is complete
                events.append(
                    Event(
                        bytes(buf[self._start : after]),
                        "\n".join(self._data) if self._data else None,
                        self._event,
                        not self._fields,
                    )
                )
                self._start = after
                self._data = []
                self._event = None
                self._fields = False
            else:
                self._line(bytes(buf[scan:end]))
            scan = after
        self._scan = scan
        if self._start:  # drop what was handed out
            del buf[: self._start]
            self._scan -= self._start
            self._start = 0
        return events

    def _line(self, line: bytes) -> None:
        if line[:1] == b":":
            return
        self._fields = True
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        # id, retry and unknown fields: nothing the gateway needs


class LineSplitter:
    """Splits an NDJSON byte stream (Ollama) into complete, non-blank lines (bytes, without
    their ``\\n`` / ``\\r\\n``)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        last = self._buf.rfind(b"\n")
        if last < 0:
            return []
        complete = bytes(self._buf[: last + 1])
        del self._buf[: last + 1]
        return [line for line in (part.strip() for part in complete.split(b"\n")) if line]

    def rest(self) -> bytes:
        """The last line when the stream ended without a newline after it ("" when none)."""
        line = bytes(self._buf).strip()
        self._buf.clear()
        return line
