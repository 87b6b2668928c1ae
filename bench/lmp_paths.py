"""Lateral movement path computation at domain scale (goal: < 30 s, < 1 GiB).

A generated domain (``dcwatch.entities.lmp.generate_directory``: departments, helpdesk and
server-admin groups with local admin rights, Domain Admins with sessions on servers and a few
workstations, 1.5 sessions per user) of ``--users`` accounts and ``--computers`` computers:
graph build, the report's full computation (``exposed_accounts``: SCC condensation +
reachability bitsets + sample paths), and per-account evidence look-ups (what alerts quote).

    .venv/bin/python bench/lmp_paths.py [--users 50000] [--computers 20000] [--lookups 1000]
"""

from __future__ import annotations

import argparse
import resource
import time

from dcwatch.entities.lmp import LateralMovement, generate_directory


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--computers", type=int, default=20_000)
    ap.add_argument("--lookups", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    t = time.perf_counter()
    snap, sessions = generate_directory(a.users, a.computers, a.seed)
    gen = time.perf_counter() - t
    t = time.perf_counter()
    lm = LateralMovement(snap, sessions)
    build = time.perf_counter() - t
    t = time.perf_counter()
    ex = lm.exposed_accounts()
    full = time.perf_counter() - t
    users = [o.name for o in snap.objects.values() if o.kind == "user"][: a.lookups]
    t = time.perf_counter()
    hits = sum(1 for u in users if lm.evidence_for(u))
    look = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"domain: {a.users} users, {a.computers} computers, {len(sessions)} sessions "
          f"(generated in {gen:.1f} s)")
    print(f"graph: {lm.g.number_of_nodes()} nodes, {lm.g.number_of_edges()} edges, "
          f"built in {build:.2f} s")
    print(f"full path computation: {len(ex)} sensitive accounts exposed, "
          f"{sum(e.initiators for e in ex)} initiator paths, {full:.2f} s")
    print(f"evidence look-ups: {len(users)} accounts, {hits} on a path, "
          f"{look / max(1, len(users)) * 1000:.2f} ms each")
    total = build + full
    print(f"total (build + full computation): {total:.2f} s (goal < 30 s); "
          f"peak RSS {rss:.0f} MiB (goal < 1024 MiB)")


if __name__ == "__main__":
    main()
