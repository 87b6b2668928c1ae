"""Worker-process side of parallel EVTX reading: parse and pre-filter, nothing else.

Runs in a separate process (``ProcessPoolExecutor``), importing only ``evtx`` and ``re``: it
returns the raw JSON text of the records whose EventID dcwatch maps, plus counters, so the main
process decodes and maps them while other files are parsed on the other cores.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import evtx

EID = re.compile(r'"EventID":(?:\{.{0,160}?"#text":)?\s*"?(\d+)')


class Prefiltered(NamedTuple):
    """What a worker hands back for one file."""

    records: int
    unmapped: int
    skipped: int
    first_error: str | None
    fatal: str | None
    wanted: list[tuple[int | None, str]]  # (event_record_id, JSON text)


def prefilter(path: str, wanted_ids: frozenset[int], threads: int = 1) -> Prefiltered:
    """Parse one EVTX file and keep the JSON of wanted records (in file order)."""
    records = unmapped = skipped = 0
    first_error = None
    out: list[tuple[int | None, str]] = []
    try:
        parser = evtx.PyEvtxParser(path, number_of_threads=threads)
    except (OSError, RuntimeError, ValueError) as e:
        return Prefiltered(0, 0, 0, None, f"not a readable EVTX file: {_short(e)}", [])
    it = iter(parser.records_json())
    search = EID.search
    while True:
        try:
            rec = next(it)
        except StopIteration:
            break
        except (RuntimeError, OSError, ValueError) as e:
            records += 1
            skipped += 1
            if first_error is None:
                first_error = f"record: {_short(e)}"
            if skipped > 100_000:
                return Prefiltered(records, unmapped, skipped, first_error,
                                   "too many corrupt records; stopped", out)
            continue
        records += 1
        data = rec["data"]
        m = search(data, 0, 600)
        if m is None or int(m.group(1)) not in wanted_ids:
            unmapped += 1
            continue
        out.append((rec.get("event_record_id"), data))
    return Prefiltered(records, unmapped, skipped, first_error, None, out)


def _short(e: BaseException) -> str:
    t = str(e).strip().splitlines()
    return (t[0] if t else type(e).__name__)[:200]
