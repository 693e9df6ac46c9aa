"""Helpers for the timeline and history tests (no tests here): fixture logs copied to a work
folder, the CLI, golden files, and headless chromium."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from conftest import swrun_cmd

DATA = Path(__file__).parent / "data" / "logs"
GOLDEN = Path(__file__).parent / "golden" / "timeline"
UPDATE = os.environ.get("SWRUN_UPDATE_GOLDEN") == "1"
"""`SWRUN_UPDATE_GOLDEN=1 pytest tests/test_timeline.py tests/test_history.py` rewrites them."""

INCIDENT = "logs/failover/20261122T090000Z-a1a1a1a1.toml"
COMMS = "logs/comms/20261122T090020Z-b0b0b0b0.toml"
TORN = "logs/cache/20261122T090130Z-c0c0c0c0.toml"
RESUMED = "logs/failover/20260915T140000Z-d1d1d1d1.toml"
ROLLED_BACK = "logs/failover/20261014T140000Z-e1e1e1e1.toml"
LEAKED = "s3cr3t-status-token"

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")


def make_logs_module() -> Any:
    spec = importlib.util.spec_from_file_location("make_logs", DATA / "make_logs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def workdir(tmp_path: Path) -> Path:
    """A copy of tests/data/logs: runbooks at the top, their logs under logs/."""
    dest = tmp_path / "work"
    shutil.copytree(DATA, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest


def run_cli(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, env={**os.environ})


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs; SWRUN_UPDATE_GOLDEN=1 to accept"


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def open_in_chromium(browser: str, html: Path, out: Path) -> dict[str, Any]:
    """Load `html` in headless chromium: its DOM, a screenshot, the console lines on stderr,
    and every URL the page itself asked the network stack for (from a net log)."""
    net = out / "net.json"
    shot = out / "page.png"
    proc = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={out / 'profile'}",
         f"--log-net-log={net}", "--enable-logging=stderr", "--v=0", "--window-size=1200,2000",
         f"--screenshot={shot}", "--dump-dom", html.resolve().as_uri()],
        capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    log = json.loads(net.read_text()) if net.exists() else {"constants": {"logEventTypes": {}},
                                                             "events": []}
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    page_requests = [
        e["params"]["url"] for e in log["events"]
        if names.get(e["type"]) == "URL_REQUEST_START_JOB" and "url" in e.get("params", {})
        # the browser's own service calls carry no origin; anything a page loads does
        and e["params"].get("initiator") != "not an origin"]
    return {"returncode": proc.returncode, "dom": proc.stdout, "stderr": proc.stderr,
            "console": [line for line in proc.stderr.splitlines() if ":CONSOLE" in line],
            "requests": page_requests, "screenshot": shot}
