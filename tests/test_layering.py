"""Imports only go downstream (style.md): parsers know nothing about detection."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "dcwatch"
FORBIDDEN = {
    "protocols": {"detectors", "store", "outputs", "web", "pipeline", "cli"},
    "sources": {"detectors", "store", "outputs", "web", "pipeline", "cli"},
    "model": {"sources", "protocols", "entities", "detectors", "store", "outputs", "web",
              "pipeline", "cli"},
    "entities": {"sources", "protocols", "detectors", "store", "outputs", "web", "pipeline",
                 "cli"},
    "detectors": {"sources", "protocols", "store", "outputs", "web", "pipeline", "cli"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dcwatch."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for n in node.names:
                if n.name.startswith("dcwatch."):
                    out.add(n.name.split(".")[1])
    return out


def test_imports_go_downstream() -> None:
    bad = []
    for stage, forbidden in FORBIDDEN.items():
        for f in (SRC / stage).rglob("*.py"):
            hit = _imports(f) & forbidden
            if hit:
                bad.append(f"{f.relative_to(SRC)} imports {sorted(hit)}")
    assert not bad, bad
