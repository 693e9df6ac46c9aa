"""`swrun check --connect`: is every targeted host reachable, with a known key and working auth?"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from swrun.ssh import ConnectError
from swrun.ssh.fanout import about

PROBE_PARALLEL = 20


def probe_hosts(hosts: Iterable[Any], base_dir: Path) -> dict[str, str]:
    """Inventory hosts (name + vars) → {name: one-line problem}; empty when all are fine.

    Strict: unknown host keys are problems here (check never accepts keys), and each host
    must run `true` through a fresh connection that is closed afterwards.
    """
    from swrun.ssh.pool import Pool
    from swrun.ssh.remote import RemoteHost
    from swrun.ssh.target import resolve

    pool = Pool()
    stop = threading.Event()

    def one(host: Any) -> tuple[str, str | None]:
        try:
            target = resolve(host.name, host.vars, base_dir=base_dir)
        except ConnectError as exc:
            return host.name, str(exc)
        res = RemoteHost(target, {}, pool=pool).run("true", lambda line, stream: None, stop,
                                                     timeout=target.connect_timeout + 5)
        if res.ok:
            return host.name, None
        if res.status == "unreachable":
            return host.name, about(host.name, res.error or res.status)
        return host.name, f"{host.name}: `true` failed on the host: {res.error or res.status}"

    try:
        with ThreadPoolExecutor(PROBE_PARALLEL) as ex:
            found = list(ex.map(one, list(hosts)))
    finally:
        pool.close_all()
    return {name: problem for name, problem in found if problem}
