"""EVTX files through the ``evtx`` package (Rust parser, multi-threaded chunk decoding).

Only records whose EventID dcwatch maps are JSON-decoded: a cheap regex on the raw JSON text
selects them first, which keeps end-to-end speed close to the raw parse.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from typing import IO, Any

import evtx
import orjson

from dcwatch.errors import InputError
from dcwatch.model.activity import Activity, Origin, parse_ts
from dcwatch.protocols import winevent
from dcwatch.sources.base import SourceStats

_EID = re.compile(r'"EventID":(?:\{.{0,160}?"#text":)?\s*"?(\d+)')
_WANTED = winevent.WANTED_IDS
_WANTED_TEXT = frozenset(str(i) for i in _WANTED)


def read_evtx(src: str | IO[bytes], name: str, stats: SourceStats,
              threads: int = 0) -> Iterator[Activity]:
    """Activities of one EVTX file (path or binary file object)."""
    stats.format = "evtx"
    try:
        parser = evtx.PyEvtxParser(src, number_of_threads=threads)
    except (OSError, RuntimeError, ValueError) as e:
        stats.fatal = f"not a readable EVTX file: {_short(e)}"
        return
    # One loop for pre-filter, decode and mapping: it runs once per record, so every generator
    # layer and attribute look-up counts.
    it: Iterator[dict[str, Any]] = iter(parser.records_json())  # type: ignore[arg-type]
    find = str.find
    wanted = _WANTED_TEXT
    loads = orjson.loads
    to_activity = winevent.to_activity
    from_json = event_from_xmljson
    new_origin = partial(tuple.__new__, Origin)
    records = unmapped = activities = 0  # counted here, added to stats at the end
    try:
        while True:
            try:
                rec = next(it)
            except StopIteration:
                return
            except (RuntimeError, OSError, ValueError) as e:  # a corrupt chunk/record: skip it
                records += 1
                stats.skip("record", _short(e))
                if stats.skipped > 100_000:
                    stats.fatal = "too many corrupt records; stopped"
                    return
                continue
            records += 1
            data = rec["data"]
            # Pre-filter on the raw text: "EventID":4624, in the System part. Other forms (the
            # object {"#attributes":{"Qualifiers":...},"#text":7045}, a quoted number) take the
            # regex.
            i = find(data, '"EventID":', 40, 700)
            if i < 0:
                unmapped += 1
                continue
            i += 10
            c = find(data, ",", i, i + 7)
            if c < 0 or data[i:c] not in wanted:
                m = _EID.search(data, 0, 700) if data[i:i + 1] in ('{', '"') else None
                if m is None or int(m.group(1)) not in _WANTED:
                    unmapped += 1
                    continue
            rid = rec.get("event_record_id")
            origin = new_origin((name, rid, "evtx"))
            try:
                act = to_activity(from_json(loads(data)["Event"], origin))
            except InputError as e:
                stats.skip(f"record {rid}", str(e))
                continue
            except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as e:
                stats.skip(f"record {rid}", f"unexpected record shape: {_short(e)}")
                continue
            if act is None:
                unmapped += 1
                continue
            activities += 1
            yield act
    finally:
        stats.records += records
        stats.unmapped += unmapped
        stats.activities += activities


def _short(e: BaseException) -> str:
    t = str(e).strip().splitlines()
    return (t[0] if t else type(e).__name__)[:200]


def flatten_data(ev: dict[str, Any]) -> dict[str, Any]:
    """EventData/UserData of the XML-to-JSON shape as one flat dict (positional under "Data").

    Works in place on ``ev``'s EventData object (callers pass a freshly decoded record they do
    not keep): no copy per record."""
    ed = ev.get("EventData")
    out: dict[str, Any]
    if type(ed) is dict:
        out = ed
        if "#attributes" in out:
            del out["#attributes"]
        for k, v in out.items():
            if type(v) is dict:  # {"#attributes": ..., "#text": value}
                out[k] = v.get("#text")  # same key: the dict's size does not change
        data = out.get("Data")
        if data is not None:
            if type(data) is list:
                out["Data"] = [x.get("#text") if type(x) is dict else x for x in data]
            else:
                out["Data"] = [data]
    else:
        out = {}
    ud = ev.get("UserData")
    if type(ud) is dict:
        for inner in ud.values():
            if type(inner) is dict:
                for k, v in inner.items():
                    if k != "#attributes":
                        out[k] = v.get("#text") if type(v) is dict else v
    return out


def event_from_xmljson(ev: dict[str, Any], origin: Origin) -> winevent.EventRecord:
    """EventRecord from the ``Event`` object of evtx/evtx_dump JSON (consumed: its EventData
    object becomes the record's ``data``)."""
    sysd = ev["System"]
    get = sysd.get
    eid = sysd["EventID"]
    if type(eid) is not int:
        eid = int(eid["#text"] if isinstance(eid, dict) else eid)
    t = _attr(get("TimeCreated"), "SystemTime")
    if not t:
        raise InputError("System/TimeCreated missing")
    rid = get("EventRecordID")
    if rid is None:
        rid = origin.record
    elif type(rid) is not int:
        rid = int(rid)
    return _EventRecord(  # positional: event_id channel provider computer ts record_id data
        eid,
        get("Channel") or "",
        _attr(get("Provider"), "Name") or "",
        get("Computer") or "",
        parse_ts(t),
        rid,
        flatten_data(ev),
        origin,
        _attr(get("Security"), "UserID"),
    )


def _attr(obj: Any, name: str) -> Any:
    """``obj["#attributes"][name]`` of the XML-to-JSON shape; None where a level is missing or
    is not an object."""
    if type(obj) is dict:
        attrs = obj.get("#attributes")
        if type(attrs) is dict:
            return attrs.get(name)
    return None


_EventRecord = winevent.EventRecord
