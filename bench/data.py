"""Data steps against their floors, on real loopback servers this script starts and stops.

Run as `.venv/bin/python bench/data.py`. Prints numbers and ratios; asserts nothing.
Targets: `s3 sync` of 1,000 small files <= 1.0x a plain boto3 upload loop (moto_server);
`backup` of 100,000 documents <= 1.5x a plain pymongo find() iteration (secantusd-py).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers import Moto, free_port, start_secantus, stop_process  # noqa: E402

from swrun.events import StepStatus  # noqa: E402
from swrun.executors.aws import AwsExecutor  # noqa: E402
from swrun.executors.base import StepContext, StepResult  # noqa: E402
from swrun.executors.mongo import MongoExecutor  # noqa: E402
from swrun.parser import parse_text  # noqa: E402

FILES = 1000
DOCS = 100_000
ROUNDS = 3
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
         "AWS_REGION": "us-east-1"}


def run_step(executor: object, text: str, base: Path, variables: dict[str, str]) -> StepResult:
    rb = parse_text(text, str(base / "rb.md")).runbook
    step = rb.main_steps[0]
    ctx = StepContext(runbook=rb, variables=variables, env={**CREDS, **variables},
                      cancel=threading.Event())
    items: Iterator[object] = executor.run(step, ctx)  # type: ignore[attr-defined]
    result = [i for i in items if isinstance(i, StepResult)][-1]
    assert result.status is StepStatus.OK, result.error
    return result


def median_time(fn: Callable[[int], None]) -> float:
    times = []
    for i in range(ROUNDS):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def start_moto_process() -> tuple[subprocess.Popen[bytes], Moto]:
    """moto_server in its own process, so the server's CPU is not the client's GIL."""
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H",
                             "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    moto = Moto(None, port)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{moto.url}/moto-api/data.json", timeout=1) as r:
                r.read()
            return proc, moto
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                stop_process(proc)
                raise
            time.sleep(0.05)


def bench_s3(tmp: Path) -> tuple[float, float]:
    proc, moto = start_moto_process()
    try:
        s3 = moto.client("s3")
        dist = tmp / "dist"
        for i in range(FILES):
            sub = dist / f"d{i % 20:02d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"f{i:04d}.js").write_text(f"console.log({i});\n" * 8)
        files = sorted(p for p in dist.rglob("*") if p.is_file())

        def plain(i: int) -> None:
            bucket = f"plain-{i}"
            s3.create_bucket(Bucket=bucket)
            for p in files:
                s3.upload_file(str(p), bucket, p.relative_to(dist).as_posix())

        def swrun(i: int) -> None:
            bucket = f"swrun-{i}"
            s3.create_bucket(Bucket=bucket)
            text = f"# B\n\n```aws {{endpoint_url={moto.url}}}\ns3 sync dist s3://{bucket}\n```\n"
            res = run_step(AwsExecutor(), text, tmp, {})
            assert res.data["ops"][0]["uploaded"] == FILES

        return median_time(plain), median_time(swrun)
    finally:
        stop_process(proc)


def bench_backup(tmp: Path) -> tuple[float, float]:
    server = start_secantus()
    try:
        client = server.client()
        coll = client.bench.users
        batch = [{"email": f"user{i}@example.com", "n": i, "active": i % 3 == 0,
                  "tags": ["a", "b", "c"], "profile": {"name": f"User {i}", "score": i * 1.5}}
                 for i in range(DOCS)]
        for start in range(0, DOCS, 10_000):
            coll.insert_many(batch[start:start + 10_000])

        def plain(i: int) -> None:
            n = sum(1 for _ in coll.find())
            assert n == DOCS

        def swrun(i: int) -> None:
            text = (f"+++\n[vars.MONGO_URI]\nsecret = true\n+++\n# B\n\n"
                    f"```mongo {{uri=$MONGO_URI}}\nbackup bench to dumps/{i}\n```\n")
            res = run_step(MongoExecutor(), text, tmp, {"MONGO_URI": server.uri})
            assert res.data["ops"][0]["documents"] == DOCS

        result = median_time(plain), median_time(swrun)
        client.close()
        return result
    finally:
        stop_process(server.proc)


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        plain, swrun = bench_s3(tmp)
        print(f"s3 sync, {FILES} small files: boto3 upload loop {plain:.2f}s, swrun "
              f"{swrun:.2f}s → {swrun / plain:.2f}x (target <= 1.0x)")
        plain, swrun = bench_backup(tmp)
        print(f"backup, {DOCS:,} documents: pymongo find() {plain:.2f}s, swrun backup "
              f"{swrun:.2f}s → {swrun / plain:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
