"""Messages on the bus. Subjects ``dcwatch.<site>.activities`` and ``dcwatch.<site>.marks``.

An activity message is ``Activity.to_dict()`` as JSON with headers ``Nats-Msg-Id`` (the activity
uid: JetStream drops a re-publication inside the stream's duplicate window), ``Dcw-Sensor`` and
``Dcw-Seq`` (the sensor's emission counter: the tie-break of equal timestamps at the center).

A mark says "every activity this sensor will still send has ``ts >= watermark``" (a watermark,
as in stream processing), or ``eof`` when its inputs are finished; it also carries the sensor's
health counters and its wall clock when sent (clock skew). A sensor publishes a mark only after
every activity queued before it is stored, so a mark never overtakes what it covers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from dcwatch.errors import ConfigError
from dcwatch.model.activity import Activity, iso, parse_ts

MSG_ID = "Nats-Msg-Id"
SENSOR = "Dcw-Sensor"
SEQ = "Dcw-Seq"
SENT = "Dcw-Sent"  # wall clock when published (set again when re-sent from the spool)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_name(kind: str, value: str) -> str:
    """A site or sensor name usable as a subject token and in a stream name."""
    if not _TOKEN.match(value):
        raise ConfigError(f"{kind} name {value!r}: expected 1-64 of A-Z a-z 0-9 _ -")
    return value


def stream_name(site: str) -> str:
    """The JetStream stream of a site."""
    return f"DCWATCH_{check_name('site', site)}"


def subjects(site: str) -> str:
    """Subject filter of every message of a site."""
    return f"dcwatch.{check_name('site', site)}.>"


def activity_subject(site: str) -> str:
    return f"dcwatch.{site}.activities"


def mark_subject(site: str) -> str:
    return f"dcwatch.{site}.marks"


@dataclass(slots=True)
class Envelope:
    """One message to publish: subject, headers, body (what the spool stores, too)."""

    subject: str
    headers: dict[str, str]
    body: bytes

    @property
    def is_mark(self) -> bool:
        return self.subject.endswith(".marks")

    def to_line(self) -> bytes:
        return orjson.dumps([self.subject, self.headers, self.body.decode()])

    @classmethod
    def from_line(cls, line: bytes) -> Envelope:
        subject, headers, body = orjson.loads(line)
        return cls(subject, headers, body.encode())


def activity_envelope(site: str, sensor: str, seq: int, a: Activity) -> Envelope:
    """Encode one activity."""
    return Envelope(activity_subject(site), {MSG_ID: a.uid, SENSOR: sensor, SEQ: str(seq)},
                    orjson.dumps(a.to_dict()))


@dataclass(slots=True)
class Mark:
    """A sensor's watermark and health counters."""

    sensor: str
    seq: int
    watermark: datetime | None  # None: nothing known yet (the center waits for it)
    eof: bool = False
    stats: dict[str, int] = field(default_factory=dict)  # capture_drops, spool_dropped, ...
    sent: datetime | None = None

    def envelope(self, site: str) -> Envelope:
        body = {"sensor": self.sensor, "seq": self.seq, "eof": self.eof, "stats": self.stats,
                "watermark": iso(self.watermark) if self.watermark else None}
        return Envelope(mark_subject(site),
                        {MSG_ID: f"mark:{self.sensor}:{self.seq}", SENSOR: self.sensor,
                         SEQ: str(self.seq)}, orjson.dumps(body))

    @classmethod
    def from_message(cls, headers: dict[str, str] | None, body: bytes) -> Mark:
        d: dict[str, Any] = orjson.loads(body)
        sent = (headers or {}).get(SENT)
        return cls(d["sensor"], int(d["seq"]),
                   parse_ts(d["watermark"]) if d.get("watermark") else None,
                   bool(d.get("eof")), dict(d.get("stats") or {}),
                   parse_ts(sent) if sent else None)


def decode_activity(headers: dict[str, str] | None, body: bytes) -> tuple[str, int, Activity]:
    """(sensor, seq, activity) of an activity message."""
    h = headers or {}
    return h.get(SENSOR, ""), int(h.get(SEQ, 0)), Activity.from_dict(orjson.loads(body))


def now_iso() -> str:
    return iso(datetime.now(UTC))
