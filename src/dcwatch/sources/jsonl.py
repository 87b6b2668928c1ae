"""JSON and JSON-lines event exports, dialect detected per record.

* evtx_dump / evtx JSON: ``{"Event": {"System": ..., "EventData": ...}}``
* NXLog (OTRF datasets): flat ``EventID``, ``Channel``, ``Hostname``, fields at top level
* Winlogbeat 6.x: ``event_id``, ``log_name``, ``computer_name``, ``event_data``
* Winlogbeat 7+/Elastic ECS: ``winlog.event_id``, ``winlog.channel``, ``winlog.event_data``
A file may be JSON lines, one JSON array, or one object; Samba audit lines are recognised too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

import orjson

from dcwatch.errors import InputError
from dcwatch.model.activity import Activity, Origin, parse_ts
from dcwatch.protocols import winevent
from dcwatch.sources.base import SourceStats
from dcwatch.sources.evtx import event_from_xmljson

_WANTED = winevent.WANTED_IDS
_NXLOG_SYSTEM = frozenset({
    "EventID", "Channel", "Hostname", "SourceName", "EventTime", "EventReceivedTime",
    "RecordNumber", "@timestamp", "@version", "host", "port", "tags", "Message", "Keywords",
    "Severity", "SeverityValue", "EventType", "Category", "Opcode", "OpcodeValue", "Task",
    "Version", "ThreadID", "ExecutionProcessID", "ProviderGuid", "SourceModuleName",
    "SourceModuleType", "Level", "ActivityID", "RelatedActivityID", "AccountName", "AccountType",
    "Domain", "UserID",
})


def _eid(v: Any) -> int | None:
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return None


def record_from_json(obj: dict[str, Any], origin: Origin,
                     stats: SourceStats) -> winevent.EventRecord | None:
    """EventRecord from one JSON object of any supported dialect; None if not an event."""
    if "Event" in obj and isinstance(obj["Event"], dict):
        ev = obj["Event"]
        eid = ev.get("System", {}).get("EventID")
        eid = _eid(eid["#text"] if isinstance(eid, dict) else eid)
        if eid not in _WANTED:
            return _unmapped(stats)
        stats.format = stats.format or "json-evtx"
        return event_from_xmljson(ev, Origin(origin.source, origin.record, "json-evtx"))
    wl = obj.get("winlog")
    if isinstance(wl, dict) and "event_id" in wl:
        eid = _eid(wl.get("event_id"))
        if eid not in _WANTED:
            return _unmapped(stats)
        stats.format = stats.format or "json-ecs"
        return _beat(obj, wl, eid, origin, "json-ecs")
    if "event_id" in obj and ("event_data" in obj or "log_name" in obj):
        eid = _eid(obj.get("event_id"))
        if eid not in _WANTED:
            return _unmapped(stats)
        stats.format = stats.format or "json-winlogbeat"
        return _beat(obj, obj, eid, origin, "json-winlogbeat")
    if "EventID" in obj:
        eid = _eid(obj.get("EventID"))
        if eid not in _WANTED:
            return _unmapped(stats)
        stats.format = stats.format or "json-nxlog"
        return _nxlog(obj, eid, origin)
    stats.skip(f"line {origin.record}", "not an event record (no Event, EventID or winlog)")
    return None


def _unmapped(stats: SourceStats) -> winevent.EventRecord | None:
    """Count a record dcwatch does not use; None (the caller returns it)."""
    stats.unmapped += 1
    return None


def _beat(obj: dict[str, Any], wl: dict[str, Any], eid: int, origin: Origin,
          fmt: str) -> winevent.EventRecord:
    ts = obj.get("@timestamp")
    if not isinstance(ts, str):
        raise InputError("@timestamp missing")
    data = dict(wl.get("event_data") or {})
    ud = wl.get("user_data")
    if isinstance(ud, dict):
        data.update({k: v for k, v in ud.items() if not isinstance(v, dict)})
    host = wl.get("computer_name") or (obj.get("host") or {}).get("name", "")
    rid = wl.get("record_id", wl.get("record_number"))
    user = wl.get("user") or {}
    return winevent.EventRecord(
        event_id=eid,
        channel=wl.get("channel") or wl.get("log_name") or "",
        provider=wl.get("provider_name") or wl.get("source_name") or "",
        computer=host or "",
        ts=parse_ts(ts),
        record_id=int(rid) if rid is not None and str(rid).isdigit() else None,
        data=data,
        origin=Origin(origin.source, origin.record, fmt),
        user_sid=user.get("identifier") if isinstance(user, dict) else None,
    )


def _nxlog(obj: dict[str, Any], eid: int, origin: Origin) -> winevent.EventRecord:
    ts = _nxlog_time(obj)
    data = {k: v for k, v in obj.items() if k not in _NXLOG_SYSTEM}
    rid = obj.get("RecordNumber")
    channel = obj.get("Channel") or ""
    if channel.lower() == "security":
        channel = "Security"
    return winevent.EventRecord(
        event_id=eid,
        channel=channel,
        provider=obj.get("SourceName") or "",
        computer=obj.get("Hostname") or "",
        ts=ts,
        record_id=int(rid) if isinstance(rid, int) or (isinstance(rid, str) and rid.isdigit())
        else None,
        data=data,
        origin=Origin(origin.source, origin.record, "json-nxlog"),
        user_sid=obj.get("UserID") if isinstance(obj.get("UserID"), str) else None,
    )


def _nxlog_time(obj: dict[str, Any]):
    """Event time in UTC: NXLog's ``EventTime`` is collector-local; ``@timestamp`` is UTC but
    later (ingestion). Their difference, rounded to 15 minutes, is the zone offset."""
    et = obj.get("EventTime")
    at = obj.get("@timestamp")
    if isinstance(et, str) and isinstance(at, str):
        local = parse_ts(et)  # read as if UTC
        utc = parse_ts(at)
        recv = obj.get("EventReceivedTime")
        ref = parse_ts(recv) if isinstance(recv, str) else local
        q = 900
        offset = round((utc - ref).total_seconds() / q) * q
        return local + timedelta(seconds=offset)
    for k in ("@timestamp", "TimeCreated", "EventTime"):
        v = obj.get(k)
        if isinstance(v, str):
            return parse_ts(v)
    raise InputError("no timestamp (EventTime/@timestamp)")


def iter_json_objects(lines: Iterable[bytes], name: str,
                      stats: SourceStats) -> Iterator[tuple[int, dict[str, Any]]]:
    """JSON lines (or one array/object document) to (line number, object).

    The first non-empty line decides: a line that is a complete JSON object starts JSON-lines
    mode (every later line stands alone, so one bad line costs one record); otherwise the file
    is one JSON document (an array of events, or a pretty-printed object)."""
    it = iter(lines)
    first_n, first = 0, b""
    for n, raw in enumerate(it, 1):
        if raw.strip():
            first_n, first = n, raw
            break
    else:
        return
    line = first.strip()
    whole_doc = line[:1] == b"["
    if not whole_doc and line[:1] == b"{":
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError:
            whole_doc = True
    if whole_doc:
        yield from _document(first, it, first_n, stats)
        return
    yield from _one_line(first_n, line, stats)
    for n, raw in enumerate(it, first_n + 1):
        line = raw.strip()
        if line:
            yield from _one_line(n, line, stats)


def _one_line(n: int, line: bytes, stats: SourceStats) -> Iterator[tuple[int, dict[str, Any]]]:
    stats.records += 1
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        stats.skip(f"line {n}", f"invalid JSON: {e}")
        return
    if isinstance(obj, dict):
        yield n, obj
    else:
        stats.skip(f"line {n}", f"expected a JSON object, found {type(obj).__name__}")


def _document(first: bytes, rest: Iterator[bytes], start: int,
              stats: SourceStats) -> Iterator[tuple[int, dict[str, Any]]]:
    data = first + b"\n" + b"\n".join(rest)
    try:
        whole = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        stats.records += 1
        stats.skip(f"line {start}", f"invalid JSON document: {e}")
        return
    items = whole if isinstance(whole, list) else [whole]
    for i, obj in enumerate(items):
        stats.records += 1
        if isinstance(obj, dict):
            yield start + i, obj
        else:
            stats.skip(f"item {i}", "expected a JSON object")


def read_json(lines: Iterable[bytes], name: str, stats: SourceStats) -> Iterator[Activity]:
    """Activities of a JSON/JSONL event export."""
    samba = None
    samba_state: dict[str, Any] = {}
    for n, obj in iter_json_objects(lines, name, stats):
        origin = Origin(name, n, "json")
        try:
            if "type" in obj and "timestamp" in obj and isinstance(obj.get(obj["type"]), dict):
                if samba is None:
                    from dcwatch.sources import samba as samba_mod

                    samba = samba_mod
                stats.format = stats.format or "samba"
                acts = samba.to_activities(obj, Origin(name, n, "samba"), samba_state)
                if not acts:
                    stats.unmapped += 1
                for a in acts:
                    stats.activities += 1
                    yield a
                continue
            rec = record_from_json(obj, origin, stats)
            if rec is None:
                continue
            act = winevent.to_activity(rec)
        except InputError as e:
            stats.skip(f"line {n}", str(e))
            continue
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            stats.skip(f"line {n}", f"unexpected record shape: {type(e).__name__}: {e}"[:200])
            continue
        if act is None:
            stats.unmapped += 1
            continue
        stats.activities += 1
        yield act
