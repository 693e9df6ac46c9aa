"""A real `swrun lab` on loopback, shared by the tests that need one (test_lab, test_tui_e2e).

Import `lab_fixture` to get the fixture `lab`. It is module-scoped: each test module using it
starts its own lab (a few seconds) and stops it at the module's end. It skips when the lab's
addresses are busy (a `swrun lab up` running, or another test session's lab)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swrun.lab import Lab
from swrun.lab import lab as lab_module
from swrun.lab.procs import port_open

from conftest import ROOT, swrun_cmd

RUNBOOKS = ROOT / "runbooks"
ADDRESSES = [(a, lab_module.SSH_PORT) for a in lab_module.HOSTS.values()] + [
    lab_module.MONGO, lab_module.MOTO]


class LabRun:
    def __init__(self, lab: Lab, root: Path) -> None:
        self.lab, self.root = lab, root
        self.env = {**os.environ, **lab.env(), "NO_COLOR": "1"}
        self.logs: list[Path] = []

    def execute(self, runbook: str, *args: str, expect: int = 0,
                timeout: float = 180) -> subprocess.CompletedProcess[str]:
        log = self.root / "logs" / f"{len(self.logs):02d}-{runbook.removesuffix('.md')}.toml"
        res = subprocess.run(
            [*swrun_cmd(), "execute", str(RUNBOOKS / runbook), "--yes", "--inventory",
             str(self.lab.inventory), "--log", str(log), *args],
            cwd=self.root, env=self.env, capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=timeout)
        self.logs.append(log)
        assert res.returncode == expect, f"{runbook}: exit {res.returncode}\n{res.stdout}\n" \
                                         f"{res.stderr}"
        return res

    def _elb(self) -> Any:
        import boto3

        return boto3.client("elbv2", endpoint_url=self.lab.aws_endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def _groups(self) -> list[dict[str, Any]]:
        arn = self.lab.env()["LAB_LISTENER_ARN"]
        listener = self._elb().describe_listeners(ListenerArns=[arn])["Listeners"][0]
        groups: list[dict[str, Any]] = listener["DefaultActions"][0]["ForwardConfig"][
            "TargetGroups"]
        return groups

    def weights(self) -> dict[str, int]:
        return {g["TargetGroupArn"].split("/")[-2].removeprefix("smartwallet-"): g["Weight"]
                for g in self._groups()}

    def set_weights(self, **weights: int) -> None:
        """Shift the listener's traffic directly (a test's own set-up, as a deploy would)."""
        groups = [{"TargetGroupArn": g["TargetGroupArn"], "Weight": weights[
            g["TargetGroupArn"].split("/")[-2].removeprefix("smartwallet-")]}
            for g in self._groups()]
        self._elb().modify_listener(
            ListenerArn=self.lab.env()["LAB_LISTENER_ARN"],
            DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}])
        assert self.weights() == weights


def health(slot: str) -> dict[str, object]:
    import urllib.request

    url = f"http://{lab_module.HOSTS[slot]}:{lab_module.APP_PORT}/health"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module", name="lab")
def lab_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabRun]:
    busy = [f"{a}:{p}" for a, p in ADDRESSES if port_open(a, p)]
    if busy:
        pytest.skip(f"lab addresses in use ({', '.join(busy)}): is a `swrun lab up` running?")
    root = tmp_path_factory.mktemp("lab")
    lab = Lab(root / ".lab", root / "lab.yml")
    t0 = time.monotonic()
    try:
        lab.up(lambda msg: None)
    except BaseException:
        lab.down(lambda msg: None)
        raise
    print(f"\nlab up in {time.monotonic() - t0:.1f}s")  # reported in the issue note, not asserted
    yield LabRun(lab, root)
    lab.down(lambda msg: None)
