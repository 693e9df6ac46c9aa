"""Delivering notifications in the background: one thread and one bounded queue per target,
so a slow or dead endpoint delays only its own messages (in order), never the run.

Each message is tried `1 + retries` times (connection errors, timeouts, HTTP 429 and 5xx;
another 4xx is final), waiting `backoff`, then twice that… between attempts. Every outcome —
sent, failed after its attempts, dropped because the queue was full, still pending when the
run ended — becomes a result that the run's drive loop logs as a `notification` event.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from datetime import UTC, datetime
from typing import Any

from swrun import __version__
from swrun.notify.config import Target, masked_url
from swrun.notify.payload import Message, payload

QUEUE_SIZE = 200
"""Messages waiting per target; more are dropped (and the drop is logged)."""
_STOP = object()


def _scrub(text: str, url: str) -> str:
    """An error line without the webhook URL (or its path) in it."""
    if url:
        text = text.replace(url, masked_url(url))
        from urllib.parse import urlsplit

        try:
            path = urlsplit(url).path
        except ValueError:
            path = ""
        if len(path) > 1:
            text = text.replace(path, "/…")
    return text[:300]


class Delivery:
    """One target's worker thread."""

    def __init__(self, target: Target, url: str, results: deque[dict[str, Any]]) -> None:
        self.target = target
        self.url = url
        self.label = target.label()
        self.results = results
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_SIZE)
        self.busy: Message | None = None
        self._stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"swrun-notify {self.label}",
                                       daemon=True)
        self.thread.start()

    def submit(self, msg: Message) -> None:
        try:
            self.queue.put_nowait(msg)
        except queue.Full:
            self._result(msg, "dropped", 0, error=f"more than {QUEUE_SIZE} notifications "
                         "waiting for this endpoint")

    def _result(self, msg: Message, status: str, attempts: int, *, code: int | None = None,
                error: str | None = None) -> None:
        self.results.append({
            "at": datetime.now(UTC), "notify": msg.event, "target": self.label,
            "format": self.target.format, "status": status, "attempt": attempts or None,
            "http_status": code, "error": _scrub(error, self.url) if error else None,
            "for_seq": msg.for_seq})

    def _run(self) -> None:
        while True:
            msg = self.queue.get()
            try:
                if msg is _STOP:
                    return
                self.busy = msg
                self._deliver(msg)
            finally:
                self.busy = None
                self.queue.task_done()

    def _deliver(self, msg: Message) -> None:
        body = json.dumps(payload(self.target.format, msg), ensure_ascii=False).encode()
        wait = self.target.backoff
        attempts = 0
        code: int | None = None
        error = ""
        for attempt in range(1, self.target.retries + 2):
            attempts = attempt
            code, error, again = self._post(body)
            if not error:
                self._result(msg, "sent", attempts, code=code)
                return
            if not again or attempt == self.target.retries + 1 or self._stopped.is_set():
                break
            if self._stopped.wait(wait):
                break
            wait *= 2
        self._result(msg, "failed", attempts, code=code, error=error)

    def _post(self, body: bytes) -> tuple[int | None, str, bool]:
        """(HTTP status, error or "", worth retrying)."""
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"swrun/{__version__}"})
        try:
            with urllib.request.urlopen(request, timeout=self.target.timeout) as resp:
                resp.read(65536)
                return resp.status, "", False
        except urllib.error.HTTPError as exc:
            code = exc.code
            return code, f"HTTP {code} {exc.reason}", code == 429 or code >= 500
        except urllib.error.URLError as exc:
            reason = exc.reason
            text = getattr(reason, "strerror", None) or str(reason)
            return None, str(text), True
        except TimeoutError:
            return None, f"no answer within {self.target.timeout:g}s", True
        except (OSError, ValueError) as exc:
            return None, str(exc) or type(exc).__name__, True

    def pending(self) -> list[Message]:
        """What is queued or being sent now."""
        items = [m for m in list(self.queue.queue) if isinstance(m, Message)]
        return ([self.busy] if self.busy is not None else []) + items

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(_STOP)


class Notifier:
    """Every target of a run, and the results of their deliveries."""

    def __init__(self, targets: list[Target]) -> None:
        self.results: deque[dict[str, Any]] = deque()
        self.deliveries: list[Delivery] = []
        self.unusable: list[dict[str, Any]] = []
        for target in targets:
            url = target.resolved_url()
            if not url:
                self.unusable.append({"at": datetime.now(UTC), "notify": "run_started",
                                      "target": target.label(), "format": target.format,
                                      "status": "failed", "error": f"{target.url[4:]} is not "
                                      "set in the environment: nothing is sent there"})
                continue
            self.deliveries.append(Delivery(target, url, self.results))

    def send(self, target_index: int, msg: Message) -> None:
        self.deliveries[target_index].submit(msg)

    def take(self) -> list[dict[str, Any]]:
        """Results since the last call, in the order they came."""
        out = self.unusable
        self.unusable = []
        while self.results:
            out.append(self.results.popleft())
        return out

    def close(self, grace: float) -> list[dict[str, Any]]:
        """Wait up to `grace` seconds for what is queued, then stop: what is still pending
        is reported as such (its thread is left to finish or die with the process)."""
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(d.pending() for d in self.deliveries):
            time.sleep(0.01)
        leftover: list[dict[str, Any]] = []
        for d in self.deliveries:
            for msg in d.pending():
                leftover.append({
                    "at": datetime.now(UTC), "notify": msg.event, "target": d.label,
                    "format": d.target.format, "status": "pending",
                    "error": f"still being delivered when the run ended ({grace:g}s later)",
                    "for_seq": msg.for_seq})
            d.stop()
        return self.take() + leftover
