"""Center throughput, end-to-end latency and detector-state memory (live deployment sizing).

Synthetic activities: the bundled recordings' activities (tests/data/recordings: 97 % from the
benign baseline, 3 % from the attack recordings) used as templates, account and client address
rewritten to one of ``N`` accounts / ``N/2`` workstations, time moved forward, so the detectors
see realistic field shapes at domain scale. ``--mix realistic`` (default) also gives every
synthetic account its own Kerberos tickets (fingerprints re-derived per account), as in a real
domain; ``--mix alert-heavy`` (the mix of earlier measurements) keeps the templates' ticket
fingerprints, so thousands of workstations present the same tickets and pass-the-ticket (2018)
and 2418 fire on about one activity in five. For each size (1k, 10k, 100k accounts by default):

* engine: activities/s of ``Engine.process`` alone (resolver + every default detector), one core;
  the bytes -> Activity decode (``orjson`` + ``Activity.from_dict``) is timed apart;
* state: RSS and Python heap (tracemalloc) held by the engine after the run, checkpoint (pickle)
  size and time;
* center: activities/s through nats-server -> ``Center`` (fetch, reorder, detect, commit,
  checkpoint, ack) into SQLite or ``--pg`` PostgreSQL, 1 center (one core) and 2 centers on two
  sites in parallel (two cores); activities are published as sensors send them (batch messages of
  500); the CPU of the forked checkpoint children is reported apart (``child_cpu_s``);
* latency: a paced sensor (``--rate``/s, timestamps = now) publishing through the bus; p50/p99 of
  (alert committed) - (newest activity of the alert).

    .venv/bin/python bench/center_throughput.py [--sizes 1000,10000,100000] [--n 200000]
        [--rate 2000] [--pg] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import hashlib
import pickle
import pstats
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dcwatch.detectors.base import DetectionConfig  # noqa: E402
from dcwatch.detectors.engine import Engine  # noqa: E402
from dcwatch.entities.resolver import Resolver  # noqa: E402
from dcwatch.model.activity import Account, Activity  # noqa: E402
from dcwatch.pipeline import ActivityStream  # noqa: E402

RECORDINGS = sorted(str(p) for p in (ROOT / "tests" / "data" / "recordings").iterdir()
                    if p.is_dir())


ATTACK_SHARE = 0.03  # of activities taken from the attack recordings (the rest benign)
MIX = "realistic"  # or "alert-heavy" (--mix)
_FP_FIELDS = ("ticket_fingerprint", "used_ticket_fingerprint")


def _own_tickets(fields: dict, acct: int) -> None:
    """Ticket fingerprints of the template re-derived for one synthetic account."""
    for k in _FP_FIELDS:
        if fields.get(k):
            fields[k] = hashlib.blake2b(f"{fields[k]}|{acct}".encode(), digest_size=16).hexdigest()
    if isinstance(fields.get("tickets"), list):
        fields["tickets"] = [
            {**t, "fingerprint": hashlib.blake2b(f"{t['fingerprint']}|{acct}".encode(),
                                                 digest_size=16).hexdigest()}
            if isinstance(t, dict) and t.get("fingerprint") else t for t in fields["tickets"]]


def templates() -> tuple[list[Activity], list[Activity]]:
    """(benign templates, attack templates)."""
    benign = [p for p in RECORDINGS if p.endswith("benign_baseline")]
    return list(ActivityStream(benign)), list(ActivityStream(RECORDINGS))


def synth(n: int, accounts: int, start: datetime | None = None,
          per_second: float = 5000.0) -> list[Activity]:
    """``n`` activities over ``accounts`` accounts, ``per_second`` of event time apart."""
    benign, attacks = templates()
    every = round(1 / ATTACK_SHARE)
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    step = timedelta(seconds=1 / per_second)
    for i in range(n):
        t = attacks[(i // every) % len(attacks)] if i % every == 0 else benign[i % len(benign)]
        acct = (i * 7919) % accounts
        ws = acct // 2
        a = replace(t, ts=start + i * step, uid="", fields=dict(t.fields))
        if t.actor is not None and t.actor.name and not t.actor.name.endswith("$"):
            a.actor = Account(f"user{acct}", t.actor.domain, None)
        if t.target is not None and t.target.name and t.kind.startswith("logon"):
            a.target = Account(f"user{acct}", t.target.domain, None)
        if t.src_ip:
            a.src_ip = f"10.{(ws >> 16) & 255}.{(ws >> 8) & 255}.{ws & 255}"
            a.src_host = f"WS{ws}"
        if MIX == "realistic":
            _own_tickets(a.fields, acct)
        a.fields["record_id"] = i  # unique records (the uid is derived from it)
        a.uid = a.compute_uid()
        out.append(a)
    return out


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def patch_dc_count() -> None:
    """The fix this benchmark suggests (not applied to src/): ``Engine.process`` counts the
    hosts with DC evidence before and after every activity (O(hosts) per activity); a counter
    kept where the resolver marks a DC makes that O(1)."""
    orig_mark = Resolver._mark_dc

    def mark(self, info, reason):  # type: ignore[no-untyped-def]
        was = info.dc_evidence
        orig_mark(self, info, reason)
        if not was and info.dc_evidence:
            self._dc_count = getattr(self, "_dc_count", 0) + 1

    def process(self, a):  # type: ignore[no-untyped-def]
        self.activities += 1
        r = self.resolver
        known = len(r.dc_domains), len(r.configured_dcs), getattr(r, "_dc_count", 0)
        r.observe(a)
        for det in self.by_kind.get(a.kind, ()):
            for draft in det.observe(a):
                self.submit(draft)
        if self._pending and known != (len(r.dc_domains), len(r.configured_dcs),
                                       getattr(r, "_dc_count", 0)):
            self._retry_pending(final=False)

    Resolver._mark_dc = mark  # type: ignore[method-assign]
    Engine.process = process  # type: ignore[method-assign]


def bench_engine(acts: list[Activity], profile: bool) -> dict:
    """In a forked child, so the RSS it gains is the engine's state alone."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=lambda: q.put(_bench_engine(acts, profile)))
    p.start()
    out = q.get()
    p.join()
    return out


def _bench_engine(acts: list[Activity], profile: bool) -> dict:
    gc.collect()
    gc.set_threshold(20_000, 50, 1000)  # as the center runs it (center.runner)
    base_rss = rss_mib()
    e = Engine(Resolver(), DetectionConfig("live"))
    prof = cProfile.Profile() if profile else None
    t0 = time.process_time()
    if prof:
        prof.enable()
    for a in acts:
        e.process(a)
    if prof:
        prof.disable()
    cpu = time.process_time() - t0
    gc.collect()
    held = rss_mib() - base_rss  # the engine's state (the activities existed before)
    t1 = time.perf_counter()
    gc.disable()  # as Center.state_bytes does
    blob = pickle.dumps({"engine": e}, protocol=pickle.HIGHEST_PROTOCOL)
    gc.enable()
    pk = time.perf_counter() - t1
    dec = _decode_cost(acts[:50_000])
    out = {"engine_per_s": len(acts) / cpu, "decode_us": dec * 1e6, "state_rss_mib": held,
           "checkpoint_mib": len(blob) / 2**20, "checkpoint_s": pk,
           "alerts": len(e.alerts), "hosts": len(e.resolver.hosts),
           "accounts_seen": len({a.actor.name for a in acts if a.actor})}
    if prof:
        st = pstats.Stats(prof)
        st.sort_stats("tottime")
        st.print_stats(40)
    return out


def _decode_cost(acts: list[Activity]) -> float:
    """Seconds per activity to decode bus messages as the center receives them."""
    try:
        from dcwatch.bus.wire import batch_envelopes, decode_activities
    except ImportError:  # an older dcwatch: one JSON message per activity
        wire = [orjson.dumps(a.to_dict()) for a in acts]
        t0 = time.process_time()
        for w in wire:
            Activity.from_dict(orjson.loads(w))
        return (time.process_time() - t0) / len(wire)
    envs = [e for i in range(0, len(acts), 500)
            for e in batch_envelopes("s", "x", i + 1, acts[i:i + 500])]
    t0 = time.process_time()
    for e in envs:
        decode_activities(e.headers, e.body)
    return (time.process_time() - t0) / len(acts)


async def _publish(url: str, site: str, acts: list[Activity], rate: float | None = None,
                   live: bool = False) -> None:
    """A sensor stand-in: envelopes published directly (pipelined acks), then an eof mark."""
    import nats

    from dcwatch.bus.jetstream import BusOptions, ensure_stream
    from dcwatch.bus.wire import Mark, activity_envelope

    try:
        from dcwatch.bus.wire import batch_envelopes
    except ImportError:  # an older dcwatch (one message per activity): to measure it too
        def batch_envelopes(site, sensor, first, part):  # type: ignore[no-untyped-def]
            return [activity_envelope(site, sensor, first + j, a) for j, a in enumerate(part)]

    nc = await nats.connect(url)
    js = nc.jetstream(timeout=10)
    await ensure_stream(js, site, BusOptions(url))
    t0 = time.monotonic()
    # a sensor sends what it has: up to 500 per message, at a rate about every 50 ms
    chunk = min(500, max(1, int(rate * 0.05))) if rate else 500
    for i in range(0, len(acts), chunk):
        part = acts[i:i + chunk]
        if live:
            now = datetime.now(UTC)
            for a in part:
                a.ts = now
                a.uid = ""
                a.uid = a.compute_uid()
        envs = batch_envelopes(site, "bench", i + 1, part)
        await asyncio.gather(*[js.publish(e.subject, e.body, headers=e.headers) for e in envs])
        if live:
            m = Mark("bench", i, datetime.now(UTC) - timedelta(seconds=0.2))
            e = m.envelope(site)
            await js.publish(e.subject, e.body, headers=e.headers)
        if rate:
            ahead = (i + chunk) / rate - (time.monotonic() - t0)
            if ahead > 0:
                await asyncio.sleep(ahead)
    last = acts[-1].ts
    e = Mark("bench", len(acts) + 1, last, True).envelope(site)
    await js.publish(e.subject, e.body, headers=e.headers)
    await nc.close()


def _center_proc(url: str, db: str, site: str, q, profile: bool = False) -> None:
    """One center in a child process (one core)."""
    from dcwatch.bus.jetstream import BusOptions
    from dcwatch.center.runner import Center, CenterOptions

    c = Center(CenterOptions([site], db, BusOptions(url), until_eof=True, expect_sensors=1,
                             checkpoint_interval=5.0))
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    m0 = time.monotonic()
    c0 = time.process_time()
    k0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if prof:
        prof.enable()
    asyncio.run(c.run())
    if prof:
        prof.disable()
        st = pstats.Stats(prof)
        st.sort_stats("tottime").print_stats(30)
        st.sort_stats("cumulative").print_stats(30)
    k1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = (k1.ru_utime + k1.ru_stime) - (k0.ru_utime + k0.ru_stime)
    q.put((c.processed, time.perf_counter() - t0, time.process_time() - c0, child,
           getattr(c, "loop_ended", time.monotonic()) - m0,
           getattr(c, "loop_cpu", time.process_time()) - c0))


def bench_center(url: str, dbs: list[str], acts: list[Activity], centers: int,
                 profile: bool = False) -> dict:
    import multiprocessing as mp

    sites = [f"b{centers}_{i}_{len(acts)}_{time.time_ns()}" for i in range(centers)]
    share = len(acts) // centers
    for i, s in enumerate(sites):  # the backlog first: the center runs flat out
        asyncio.run(_publish(url, s, acts[i * share:(i + 1) * share]))
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_center_proc, args=(url, dbs[i], s, q, profile and centers == 1))
             for i, s in enumerate(sites)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    res = [q.get() for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    n = sum(r[0] for r in res)
    return {"centers": centers, "activities": n, "per_s_wall": n / wall,
            "per_s_cpu_each": [r[0] / r[2] for r in res],
            # up to the last activity processed (without the final checkpoint and flush):
            # wall clock, and CPU of the center process (every thread; not the checkpoint child)
            "per_s_loop_each": [r[0] / r[4] for r in res],
            "per_s_loop_cpu_each": [r[0] / r[5] for r in res],
            "child_cpu_s": [round(r[3], 2) for r in res]}


def bench_latency(url: str, db: str, acts: list[Activity], rate: float) -> dict:
    from dcwatch.bus.jetstream import BusOptions
    from dcwatch.center.runner import Center, CenterOptions

    site = f"lat{time.time_ns()}"
    c = Center(CenterOptions([site], db, BusOptions(url), until_eof=True, expect_sensors=1,
                             mode="live"))

    async def both() -> None:
        task = asyncio.create_task(c.run())
        await asyncio.to_thread(lambda: asyncio.run(_publish(url, site, acts, rate, live=True)))
        await task

    asyncio.run(both())
    lat = sorted(c.alert_latencies)
    if not lat:
        return {"alerts": 0}
    return {"alerts": len(lat), "p50_s": statistics.median(lat),
            "p99_s": lat[min(len(lat) - 1, int(len(lat) * 0.99))], "max_s": lat[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--n", type=int, default=200_000, help="activities per size")
    ap.add_argument("--rate", type=float, default=2000.0, help="latency run: activities/s")
    ap.add_argument("--latency-n", type=int, default=20_000)
    ap.add_argument("--pg", action="store_true", help="center stores in a temp PostgreSQL")
    ap.add_argument("--mix", choices=["realistic", "alert-heavy"], default="realistic")
    ap.add_argument("--profile", action="store_true", help="cProfile the engine (top 12)")
    ap.add_argument("--no-bus", action="store_true", help="engine and state only")
    ap.add_argument("--center-n", type=int, default=200_000,
                    help="activities per center run")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: engine,c1,c2,lat")
    ap.add_argument("--patch-dc-count", action="store_true",
                    help="measure with the suggested Engine.process fix (see patch_dc_count)")
    args = ap.parse_args()
    global MIX
    MIX = args.mix
    if args.patch_dc_count:
        patch_dc_count()
    from tests.center.servers import NatsServer, PostgresCluster

    tmp = Path(tempfile.mkdtemp(prefix="dcwatch-bench-"))
    nats = pg = None
    if not args.no_bus:
        nats = NatsServer(tmp / "nats").start()
        pg = PostgresCluster().start() if args.pg else None
    dbn = iter(range(1000))

    def db() -> str:
        return pg.new_database(f"b{next(dbn)}") if pg else str(tmp / f"b{next(dbn)}.db")

    rows = []
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            acts = synth(args.n, size)
            r = {"accounts": size, "n": len(acts)}
            skip = set(args.skip.split(","))
            if "engine" not in skip:
                r.update(bench_engine(acts, args.profile))
            if nats and "c1" not in skip:
                r["c1"] = bench_center(nats.url, [db()], synth(args.center_n, size), 1,
                                       args.profile)
            if nats and "c2" not in skip:
                r["c2"] = bench_center(nats.url, [db(), db()], synth(args.center_n, size), 2)
            if nats and "lat" not in skip:
                r["lat"] = bench_latency(nats.url, db(), synth(args.latency_n, size),
                                         args.rate)
            rows.append(r)
            print(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY).decode(), flush=True)
    finally:
        if nats:
            nats.stop(kill=True)
        if pg:
            pg.stop()
    print("\n| accounts | engine act/s (1 core) | decode µs/act | center act/s per CPU-second | "
          "center act/s wall, 1 / 2 centers | alert latency p50 / p99 | engine state (RSS) | "
          "checkpoint |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        cpu = f"{r['c1']['per_s_loop_cpu_each'][0]:,.0f}" if "c1" in r else "-"
        c1 = f"{r['c1']['per_s_loop_each'][0]:,.0f}" if "c1" in r else "-"
        c2 = f"{r['c2']['per_s_wall']:,.0f}" if "c2" in r else "-"
        lat = r.get("lat", {})
        ls = f"{lat['p50_s']:.2f} s / {lat['p99_s']:.2f} s" if lat.get("alerts") else "-"
        if "engine_per_s" not in r:
            print(f"| {r['accounts']:,} | - | - | {cpu} | {c1} / {c2} | {ls} | - | - |")
            continue
        print(f"| {r['accounts']:,} | {r['engine_per_s']:,.0f} | {r['decode_us']:.1f} | {cpu} | "
              f"{c1} / {c2} | {ls} | {r['state_rss_mib']:.0f} MiB | "
              f"{r['checkpoint_mib']:.1f} MiB in {r['checkpoint_s']:.2f} s |")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
