"""Messages on the bus. Subjects ``dcwatch.<site>.activities`` and ``dcwatch.<site>.marks``.

An activity message (format 2, what sensors send) is a *batch*: a JSON array of activities
(msgspec encodes and decodes the ``Activity`` dataclass directly, about twice as fast as
``to_dict``/``from_dict`` with orjson) with headers ``Dcw-Batch`` (how many), ``Dcw-Sensor``,
``Dcw-Seq`` (the sensor's emission counter of the first one: the i-th activity has ``seq + i``,
the tie-break of equal timestamps at the center) and ``Nats-Msg-Id`` (a hash of the activity
uids: JetStream drops a re-publication of the same batch, e.g. from the spool, inside the
stream's duplicate window; the center drops single activities it already processed by uid, see
``center.reorder``). One message per activity (format 1: ``Activity.to_dict()`` as JSON, the
uid as ``Nats-Msg-Id``, no ``Dcw-Batch``) is still accepted from older sensors.

A mark says "every activity this sensor will still send has ``ts >= watermark``" (a watermark,
as in stream processing), or ``eof`` when its inputs are finished; it also carries the sensor's
health counters and its wall clock when sent (clock skew). A sensor publishes a mark only after
every activity queued before it is stored, so a mark never overtakes what it covers.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

from dcwatch.errors import ConfigError
from dcwatch.model.activity import Account, Activity, ActivityKind, Origin, iso, parse_ts

MSG_ID = "Nats-Msg-Id"
SENSOR = "Dcw-Sensor"
SEQ = "Dcw-Seq"
SENT = "Dcw-Sent"  # wall clock when published (set again when re-sent from the spool)
BATCH = "Dcw-Batch"  # number of activities in a batch message (format 2)
MAX_BATCH_BYTES = 768 << 10  # under NATS's default max_payload (1 MiB)
_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(list[Activity])
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

    @property
    def activities(self) -> int:
        """How many activities the message carries."""
        return 0 if self.is_mark else int(self.headers.get(BATCH, 1))

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


def batch_envelopes(site: str, sensor: str, first_seq: int,
                    acts: list[Activity]) -> list[Envelope]:
    """Encode consecutive activities (sequence numbers ``first_seq``, ``first_seq + 1``, ...)
    as batch messages, split where one would exceed ``MAX_BATCH_BYTES``."""
    if not acts:
        return []
    body = _ENCODER.encode(acts)
    if len(body) > MAX_BATCH_BYTES and len(acts) > 1:
        half = len(acts) // 2
        return batch_envelopes(site, sensor, first_seq, acts[:half]) + \
            batch_envelopes(site, sensor, first_seq + half, acts[half:])
    h = hashlib.blake2b(digest_size=16)
    for a in acts:
        h.update(a.uid.encode())
    return [Envelope(activity_subject(site),
                     {MSG_ID: f"b:{h.hexdigest()}", SENSOR: sensor, SEQ: str(first_seq),
                      BATCH: str(len(acts))}, body)]


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
    """(sensor, seq, activity) of a format-1 activity message."""
    h = headers or {}
    return h.get(SENSOR, ""), int(h.get(SEQ, 0)), Activity.from_dict(orjson.loads(body))


def decode_activities(headers: dict[str, str] | None,
                      body: bytes) -> tuple[str, int, list[Activity]]:
    """(sensor, seq of the first, activities) of an activity message of either format."""
    h = headers or {}
    if BATCH not in h:
        sensor, seq, a = decode_activity(h, body)
        return sensor, seq, [a]
    try:
        acts = _DECODER.decode(body)
    except msgspec.ValidationError:  # a value of another type than annotated: decode as is
        acts = [_lenient(d) for d in msgspec.json.decode(body)]
    return h.get(SENSOR, ""), int(h.get(SEQ, 0)), acts


def _lenient(d: dict[str, Any]) -> Activity:
    """One activity of a batch, taking its values as they are (no type checks)."""
    o, actor, target = d.get("origin") or ("",), d.get("actor"), d.get("target")
    return Activity(
        ts=parse_ts(d["ts"]), kind=ActivityKind(d["kind"]), origin=Origin(*o),
        host=d.get("host"), src_ip=d.get("src_ip"), src_port=d.get("src_port"),
        src_host=d.get("src_host"), dst_ip=d.get("dst_ip"), dst_port=d.get("dst_port"),
        dst_host=d.get("dst_host"), actor=Account(*actor) if actor else None,
        target=Account(*target) if target else None, outcome=d.get("outcome"),
        status=d.get("status"), event_id=d.get("event_id"), protocol=d.get("protocol"),
        fields=d.get("fields") or {}, uid=d.get("uid", ""))


def now_iso() -> str:
    return iso(datetime.now(UTC))
