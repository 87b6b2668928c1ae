"""Alert notifications: JSON webhooks and CEF over syslog, through a durable outbox.

Every notification is first written to the ``outbox`` table, then delivered; a failed delivery
stays pending and is retried with exponential backoff (within a call for webhooks, and across
calls/processes through the outbox), so an alert is never lost to a receiver being down.

    notifier = Notifier(store, ["syslog+tcp://siem:601", "https://hooks.example/dcwatch"],
                        base_url="https://dcwatch.example")
    engine.listeners.append(notifier)      # new / updated alerts as they happen
    push_alerts(store, notifier)           # or: alerts already stored
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from dcwatch import __version__
from dcwatch.model.alert import Alert
from dcwatch.outputs.cef import SyslogSender, format_cef, parse_cef
from dcwatch.store.db import Store
from dcwatch.store.portal import AlertFilter, Portal

_SEV_RANK = {"low": 0, "medium": 1, "high": 2}


class DeliveryError(Exception):
    """A notification could not be delivered (it stays in the outbox)."""


def alert_url(base_url: str | None, alert_id: str) -> str | None:
    """Link to the alert page in the portal."""
    return f"{base_url.rstrip('/')}/alerts/{alert_id}" if base_url else None


def webhook_payload(alert: Alert, trigger: str, url: str | None,
                    incident: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document POSTed to webhooks (``incident``: id, title, url of its story)."""
    d = {"source": "dcwatch", "version": __version__, "trigger": trigger, "url": url,
         "alert": alert.to_dict(with_activities=False)}
    if incident is not None:
        d["incident"] = incident
    return d


class WebhookSender:
    """POSTs JSON to one URL, retrying failures with exponential backoff."""

    def __init__(self, url: str, retries: int = 3, backoff: float = 0.5, timeout: float = 10.0,
                 secret: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.secret = secret
        self.headers = headers or {}

    def send(self, body: str) -> int:
        """Deliver one body; returns the HTTP status, raises DeliveryError after the retries."""
        data = body.encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": f"dcwatch/{__version__}",
                   **self.headers}
        if self.secret:
            sig = hmac.new(self.secret.encode(), data, hashlib.sha256).hexdigest()
            headers["X-Dcwatch-Signature"] = f"sha256={sig}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return int(resp.status)
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
            except (urllib.error.URLError, OSError) as e:
                last = f"{e.__class__.__name__}: {getattr(e, 'reason', e)}"
        raise DeliveryError(f"{self.url}: {last} after {self.retries + 1} attempt(s)")


class Notifier:
    """Engine listener: ``notifier(alert, trigger)`` queues and delivers one notification per
    target (syslog URLs get CEF, http(s) URLs get JSON)."""

    def __init__(self, store: Store | Portal, targets: Iterable[str],
                 base_url: str | None = None, min_severity: str = "low",
                 retries: int = 3, backoff: float = 0.5, max_backoff: float = 3600.0,
                 webhook_secret: str | None = None, vendor: str = "dcwatch",
                 product: str = "dcwatch", hostname: str | None = None,
                 deliver_now: bool = True, timeout: float = 10.0,
                 incidents: bool = True) -> None:
        self.portal = store if isinstance(store, Portal) else Portal(store)
        self.targets = list(targets)
        for tg in self.targets:
            if not tg.startswith(("syslog+", "http://", "https://")):
                raise ValueError(f"{tg}: expected syslog+udp|tcp|tls:// or http(s):// URL")
        self.base_url = base_url
        self.min_severity = min_severity
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.secret = webhook_secret
        self.vendor, self.product, self.hostname = vendor, product, hostname
        self.deliver_now = deliver_now
        self.incidents = incidents  # carry the incident id (CEF cs4, webhook "incident")
        self.timeout = timeout
        self._syslog: dict[str, SyslogSender] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def render(self, alert: Alert, trigger: str, target: str) -> str:
        """The payload a target receives for an alert."""
        url = alert_url(self.base_url, alert.id)
        inc = self.incident_of(alert)
        if target.startswith("syslog+"):
            return format_cef(alert, trigger, url, self.vendor, self.product,
                              incident=inc.id if inc else None)
        ref = None
        if inc is not None:
            ref = {"id": inc.id, "title": inc.title, "alerts": len(inc.alerts),
                   "url": f"{self.base_url.rstrip('/')}/incidents/{inc.id}"
                   if self.base_url else None}
        return json.dumps(webhook_payload(alert, trigger, url, ref), default=str)

    def incident_of(self, alert: Alert) -> Any:
        """The incident the (stored) alert belongs to, correlated over the store."""
        if not self.incidents:
            return None
        from dcwatch.store.incidents import incident_for

        return incident_for(self.portal.store, alert)

    def __call__(self, alert: Alert, trigger: str = "new") -> None:
        """Queue an alert (new or update) for every target, then deliver what is due."""
        if _SEV_RANK.get(str(alert.severity), 0) < _SEV_RANK.get(self.min_severity, 0):
            return
        for tg in self.targets:
            self.portal.enqueue(tg, self.render(alert, trigger, tg), alert.id, trigger)
        if self._thread is not None:
            self._wake.set()
        elif self.deliver_now:
            self.flush()

    def deliver(self, target: str, payload: str) -> None:
        """Send one payload now; raises on failure."""
        if target.startswith("syslog+"):
            sender = self._syslog.get(target)
            if sender is None:
                sender = self._syslog[target] = SyslogSender(target, self.timeout,
                                                             self.hostname)
            fields, _ = parse_cef(payload)
            try:
                sender.send(sender.frame(payload, msgid=fields[4]))
            except OSError as e:
                raise DeliveryError(f"{target}: {e.__class__.__name__}: {e}") from None
        else:
            WebhookSender(target, self.retries, self.backoff, self.timeout,
                          self.secret).send(payload)

    def flush(self, now: datetime | None = None) -> tuple[int, int]:
        """Deliver every due outbox item; returns (sent, failed)."""
        sent = failed = 0
        down: set[str] = set()  # a target that failed is not tried again in this pass
        with self._lock:
            for item in self.portal.due(now):
                if item.target in down:
                    continue
                try:
                    self.deliver(item.target, item.payload)
                except (DeliveryError, OSError, ValueError) as e:
                    failed += 1
                    down.add(item.target)
                    delay = min(self.backoff * 2 ** item.attempts, self.max_backoff)
                    self.portal.mark_failed(item.id, str(e),
                                            datetime.now(UTC) + timedelta(seconds=delay))
                else:
                    sent += 1
                    self.portal.mark_sent(item.id)
        return sent, failed

    def start(self, interval: float = 5.0) -> None:
        """Deliver from a background thread (retries included) until :meth:`stop`."""
        if self._thread is not None:
            return

        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.flush()
                except Exception as e:  # noqa: BLE001 - keep delivering; reported below
                    import sys

                    print(f"dcwatch: notifier: {e}", file=sys.stderr)
                self._wake.wait(interval)
                self._wake.clear()

        self._thread = threading.Thread(target=run, name="dcwatch-notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread and close connections."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._stop.clear()
        for s in self._syslog.values():
            s.close()


def push_alerts(store: Store | Portal, notifier: Notifier, flt: AlertFilter | None = None,
                trigger: str = "new", limit: int = 100_000) -> int:
    """Queue and deliver alerts already stored (e.g. after ``dcwatch scan --db``); returns how
    many alerts were queued."""
    portal = store if isinstance(store, Portal) else Portal(store)
    n = offset = 0
    while n < limit:
        views, _ = portal.query_alerts(flt, limit=min(500, limit - n), offset=offset)
        if not views:
            break
        offset += len(views)
        for v in views:
            acts, _ = portal.alert_activities(v.alert.id, limit=50)
            v.alert.activities = acts
            before = notifier.deliver_now
            notifier.deliver_now = False
            try:
                notifier(v.alert, trigger)
            finally:
                notifier.deliver_now = before
            n += 1
    notifier.flush()
    return n
