"""``dcwatch scan --db --notify``: a scan's alerts reach a real webhook receiver on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "tests" / "data" / "demo" / "killchain.jsonl"


def test_scan_notifies_webhook_once_per_alert(tmp_path: Path) -> None:
    got: list[dict] = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
    db = tmp_path / "n.db"
    try:
        r = subprocess.run([sys.executable, "-m", "dcwatch", "scan", str(DEMO), "--db", str(db),
                            "--format", "jsonl", "--notify", url], capture_output=True,
                           text=True, timeout=120, cwd=REPO)
        assert r.returncode == 0, r.stderr
        n_alerts = len(r.stdout.splitlines())
        assert len(got) == n_alerts
        # Scanning the same data again changes nothing: nothing is sent again.
        r = subprocess.run([sys.executable, "-m", "dcwatch", "scan", str(DEMO), "--db", str(db),
                            "--format", "jsonl", "--notify", url], capture_output=True,
                           text=True, timeout=120, cwd=REPO)
        assert r.returncode == 0, r.stderr
        assert len(got) == n_alerts
        assert all(g.get("trigger") == "new" for g in got)
    finally:
        srv.shutdown()


def test_notify_needs_db() -> None:
    r = subprocess.run([sys.executable, "-m", "dcwatch", "scan", str(DEMO), "--notify",
                        "http://127.0.0.1:9/x"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2
    assert "--notify needs --db" in r.stderr
