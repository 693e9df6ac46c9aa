"""Know the cluster you are about to change: `kube_context` pins, the pre-flight that reads
kubectl's current context, and kubectl/oc steps held to the run's context (real kubectl
against two tiny API servers on loopback)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_tui_support import frozen, is_preflight, make_app, screen_text, until

from swrun.attributes import check_value

from conftest import swrun_cmd

__all__ = ["frozen"]

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed "
                                "(scripts/setup.sh installs kubernetes-client)")


@dataclass
class ApiServer:
    """Answers what `kubectl get pods -o name` asks, with one pod named after the server."""

    name: str
    server: ThreadingHTTPServer
    paths: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def pod_lists(self) -> int:
        return sum(p.endswith("/pods") for p in self.paths)


def _replies(name: str) -> dict[str, Any]:
    return {
        "/version": {"major": "1", "minor": "20", "gitVersion": "v1.20.2"},
        "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
        "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
             "verbs": ["get", "list"], "shortNames": ["po"]}]},
        "/api/v1/namespaces/default/pods": {
            "kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [
                {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": f"served-by-{name}", "namespace": "default"}}]},
    }


def _start(name: str, host: str) -> ApiServer:
    replies = _replies(name)
    api: ApiServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            api.paths.append(path)
            body = replies.get(path)
            code = 200 if body is not None else 404
            data = json.dumps(body if body is not None else {
                "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    api = ApiServer(name, server)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    return api


@dataclass
class Clusters:
    east: ApiServer
    west: ApiServer
    kubeconfig: Path
    env: dict[str, str]

    def current(self) -> str:
        return subprocess.run([str(KUBECTL), "config", "current-context"], env=self.env,
                              capture_output=True, text=True, timeout=30).stdout.strip()

    def use(self, name: str) -> None:
        subprocess.run([str(KUBECTL), "config", "use-context", name], env=self.env,
                       capture_output=True, check=True, timeout=30)


@pytest.fixture
def clusters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clusters]:
    east, west = _start("east", "127.0.0.2"), _start("west", "127.0.0.3")
    home = tmp_path / "kubehome"  # kubectl's discovery cache goes here, not ~/.kube
    home.mkdir()
    config = tmp_path / "kubeconfig"
    config.write_text(f"""\
apiVersion: v1
kind: Config
clusters:
- name: east
  cluster: {{server: "{east.url}"}}
- name: west
  cluster: {{server: "{west.url}"}}
contexts:
- name: east
  context: {{cluster: east, user: ops}}
- name: west
  context: {{cluster: west, user: ops}}
users:
- name: ops
  user: {{}}
current-context: east
""")
    env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(home),
           "KUBECACHEDIR": str(home / "cache")}
    for key in ("KUBECONFIG", "HOME", "KUBECACHEDIR"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("SWRUN_KUBE_CONTEXT", raising=False)
    try:
        yield Clusters(east, west, config, env)
    finally:
        for api in (east, west):
            api.server.shutdown()
            api.server.server_close()


def swrun(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)


def run_started(log: Path) -> dict[str, Any]:
    data = tomllib.loads(log.read_text())
    return next(e for e in data["event"] if e["type"] == "run_started")


def outputs(log: Path) -> dict[str, list[str]]:
    data = tomllib.loads(log.read_text())
    return {e["step"]: e.get("output", []) for e in data["event"]
            if e["type"] == "step_finished"}


# A first step switches the current context, as another terminal would (`command` skips
# any function): the next step must still reach the cluster the run started on.
SWITCH = """\
# Pods{front}

## Switch

```bash {{name=switch}}
command kubectl config use-context west >/dev/null
```

## List

```bash {{name=list}}
kubectl get pods -o name
```
"""


def test_without_a_pin_the_run_keeps_to_the_context_it_started_on(
        tmp_path: Path, clusters: Clusters) -> None:
    (tmp_path / "rb.md").write_text(SWITCH.format(front=""))
    res = swrun(tmp_path, "execute", "rb.md", "--yes", "--log", "run.toml", env=clusters.env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert clusters.current() == "west"  # the switch happened
    assert outputs(tmp_path / "run.toml")["list"] == ["pod/served-by-east"]
    assert clusters.west.pod_lists == 0 and clusters.east.pod_lists == 1
    assert "swrun: kube context: east (kubectl's current context; every kubectl/oc step " \
        "of this run uses it)" in res.stderr.splitlines()
    assert run_started(tmp_path / "run.toml")["kube_context"] == "east"


def test_a_front_matter_pin_holds_every_step(tmp_path: Path, clusters: Clusters) -> None:
    (tmp_path / "rb.md").write_text(
        "+++\nkube_context = \"east\"\n+++\n\n" + SWITCH.format(front=""))
    res = swrun(tmp_path, "execute", "rb.md", "--yes", "--log", "run.toml", env=clusters.env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert outputs(tmp_path / "run.toml")["list"] == ["pod/served-by-east"]
    assert clusters.west.pod_lists == 0
    assert "swrun: kube context: east (pinned by the runbook, also kubectl's current " \
        "context)" in res.stderr.splitlines()


SECTIONS = """\
# Two clusters

## East

```bash {name=here}
kubectl get pods -o name
echo "ctx=$SWRUN_KUBE_CONTEXT"
```

## West
<!-- swrun: kube_context=west -->

```bash {name=there}
kubectl get pods -o name
oc() { echo "oc is a function here too"; }
```
"""


def test_a_section_pin_reaches_its_own_cluster(tmp_path: Path, clusters: Clusters) -> None:
    (tmp_path / "rb.md").write_text(SECTIONS)
    res = swrun(tmp_path, "execute", "rb.md", "--yes", "--log", "run.toml", env=clusters.env)
    assert res.returncode == 0, res.stdout + res.stderr
    out = outputs(tmp_path / "run.toml")
    assert out["here"] == ["pod/served-by-east", "ctx=east"]
    assert out["there"] == ["pod/served-by-west"]
    assert "west (1 step, pinned)" in res.stderr
    plan = swrun(tmp_path, "plan", "rb.md", env=clusters.env)
    assert "kube_context=west" in plan.stdout


def test_a_front_matter_pin_that_is_not_current_is_refused(
        tmp_path: Path, clusters: Clusters) -> None:
    (tmp_path / "rb.md").write_text(
        "+++\nenvironment = \"production\"\nkube_context = \"west\"\n+++\n\n# Pods\n\n"
        "```bash\ntouch ran\nkubectl get pods -o name\n```\n")
    res = swrun(tmp_path, "execute", "rb.md", "--yes", "--log", "run.toml", env=clusters.env)
    assert res.returncode == 11, res.stdout + res.stderr
    assert res.stderr.splitlines() == [
        "swrun: rb.md:3: the runbook is pinned to kube_context 'west' and kubectl's current "
        "context is 'east': nothing ran. If 'west' is the cluster you mean, run "
        "`kubectl config use-context west` and start again"]
    assert not (tmp_path / "ran").exists() and not (tmp_path / "run.toml").exists()
    assert clusters.east.pod_lists == 0 and clusters.west.pod_lists == 0  # (a dispatching
    # kubectl, like the Cloud SDK's, may ask /version even for `config`)
    plan = swrun(tmp_path, "plan", "--json", "rb.md", env=clusters.env)
    assert json.loads(plan.stdout)["kube_context"] == "west"
    assert "kube_context: west" in swrun(tmp_path, "plan", "rb.md", env=clusters.env).stdout
    clusters.use("west")  # the fix the line names
    ok = swrun(tmp_path, "execute", "rb.md", "--yes", "--confirm-environment", "production",
               "--log", "run.toml", env=clusters.env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert clusters.west.pod_lists == 1


def test_a_pin_the_kubeconfig_does_not_have_is_refused(
        tmp_path: Path, clusters: Clusters) -> None:
    (tmp_path / "rb.md").write_text(
        "# Pods\n\n## Far\n\n```bash {kube_context=north}\ntouch ran\n```\n")
    res = swrun(tmp_path, "execute", "rb.md", "--yes", "--log", "run.toml", env=clusters.env)
    assert res.returncode == 11, res.stdout + res.stderr
    assert res.stderr.splitlines() == [
        f"swrun: rb.md:5: kube_context 'north' is not a context in {clusters.kubeconfig} "
        "(it has east, west); nothing ran"]
    assert not (tmp_path / "ran").exists() and not (tmp_path / "run.toml").exists()


def test_a_resumed_run_keeps_its_cluster(tmp_path: Path, clusters: Clusters) -> None:
    """The run stopped at a check; meanwhile the current context moved: the resume is
    refused until it is back, and its steps keep to the context the run started on."""
    (tmp_path / "rb.md").write_text(
        "# Pods\n\n- [ ] the pods look fine\n\n"
        "```bash {name=list}\nkubectl get pods -o name\n```\n")
    first = swrun(tmp_path, "execute", "rb.md", "--log", "run.toml", env=clusters.env)
    assert first.returncode == 4, first.stdout + first.stderr
    clusters.use("west")
    again = swrun(tmp_path, "execute", "rb.md", "--resume", "run.toml", "--yes",
                  env=clusters.env)
    assert again.returncode == 11, again.stdout + again.stderr
    assert "this run started on kube context 'east'" in again.stderr
    clusters.use("east")
    done = swrun(tmp_path, "execute", "rb.md", "--resume", "run.toml", "--yes",
                 env=clusters.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert outputs(tmp_path / "run.toml")["list"] == ["pod/served-by-east"]


def test_kubectl_is_not_spawned_for_a_runbook_without_kubectl(
        tmp_path: Path, clusters: Clusters) -> None:
    bin_dir = tmp_path / "bin"  # a kubectl that says it ran, then runs the real one
    bin_dir.mkdir()
    spy = bin_dir / "kubectl"
    spy.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'spawned'}\nexec {KUBECTL} \"$@\"\n")
    spy.chmod(0o755)
    env = {**clusters.env, "PATH": f"{bin_dir}:{clusters.env['PATH']}"}
    (tmp_path / "rb.md").write_text("# Plain\n\n```bash\necho hello\n```\n")
    res = swrun(tmp_path, "execute", "rb.md", "--yes", "--log", "run.toml", env=env)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "spawned").exists() and "kube context" not in res.stderr
    assert "kube_context" not in run_started(tmp_path / "run.toml")
    (tmp_path / "rb.md").write_text("# Pods\n\n```bash\nkubectl get pods -o name\n```\n")
    res = swrun(tmp_path, "execute", "rb.md", "--yes", "--log", "run2.toml", env=env)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "spawned").read_text().startswith("config view -o jsonpath=")


def test_doctor_reports_kubectl_and_the_context(tmp_path: Path, clusters: Clusters) -> None:
    (tmp_path / "rb.md").write_text(
        "+++\nkube_context = \"west\"\n+++\n\n# Pods\n\n```bash\nkubectl get pods\n```\n")
    plain = swrun(tmp_path, "doctor", env=clusters.env).stdout.splitlines()
    assert f"✓ kubectl: {KUBECTL}" in plain
    assert f"✓ kube context: east (current; 2 contexts in {clusters.kubeconfig})" in plain
    bad = swrun(tmp_path, "doctor", "rb.md", env=clusters.env)
    assert bad.returncode == 1
    assert "✗ kube context: rb.md:2: the runbook is pinned to kube_context 'west' and " \
        "kubectl's current context is 'east' — fix: if 'west' is the cluster you mean, run " \
        "`kubectl config use-context west` and start again" in bad.stdout.splitlines()
    clusters.use("west")
    good = swrun(tmp_path, "doctor", "rb.md", env=clusters.env).stdout.splitlines()
    assert "✓ kube context: west (pinned by the runbook, also kubectl's current context)" \
        in good


@pytest.mark.parametrize(("value", "problem"), [
    ("prod east", "a context name has no spaces or control characters"),
    ("prod\x1b[2J", "a context name has no spaces or control characters"),
    ("-x", "a context name cannot start with '-'"),
    ("$CLUSTER", "write the context's name"),
    ("", "kube_context needs a value"),
])
def test_a_context_name_is_checked(value: str, problem: str) -> None:
    assert problem in (check_value("kube_context", value) or "")


def test_check_reports_a_bad_pin_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(
        "+++\nkube_context = \"-oops\"\n+++\n\n# Pods\n\n"
        "```bash {kube_context=\"a b\"}\nkubectl get pods\n```\n")
    res = swrun(tmp_path, "check", "rb.md", env=dict(os.environ))
    assert res.returncode == 3
    assert "rb.md:2" in res.stdout and "cannot start with '-'" in res.stdout
    assert "rb.md:7" in res.stdout and "no spaces or control characters" in res.stdout
    ok = check_value("kube_context", "arn:aws:eks:eu-west-1:123456789012:cluster/prod")
    assert ok is None


PRODUCTION = """\
+++
environment = "production"
+++

# Pods

```bash {name=list}
kubectl get pods -o name
```
"""


async def test_the_production_preflight_shows_the_context(frozen: Path,
                                                          clusters: Clusters) -> None:
    app = make_app(frozen, PRODUCTION)
    async with app.run_test(size=(100, 40)) as pilot:
        await until(pilot, lambda: is_preflight(app), "the pre-flight")
        text = screen_text(app)
        assert "Kubernetes" in text and "kube context: east (kubectl's current" in text
        await pilot.press("escape")
        await until(pilot, lambda: not app.is_running, "the app to exit")


async def test_the_console_refuses_a_missing_pin(frozen: Path, clusters: Clusters) -> None:
    app = make_app(frozen, PRODUCTION.replace('"production"\n',
                                              '"production"\nkube_context = "north"\n'))
    async with app.run_test(size=(100, 40)) as pilot:
        await until(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_code == 11
    assert "kube_context 'north' is not a context in" in (app.error or "")
    assert not Path("run.toml").exists() and clusters.east.pod_lists == 0


def test_the_functions_keep_line_numbers_and_work_in_sh(tmp_path: Path,
                                                         clusters: Clusters) -> None:
    (tmp_path / "rb.md").write_text(
        "# Lines\n\n```bash {name=one}\nkubectl config current-context >/dev/null\n"
        "echo \"${NOPE:?is missing}\"\n```\n\n"
        "```sh {name=two shell=sh}\nkubectl get pods -o name\necho \"$SWRUN_KUBE_CONTEXT\"\n```\n")
    res = swrun(tmp_path, "execute", "rb.md", "--yes", "--keep-going", "--log", "run.toml",
                env=clusters.env)
    assert res.returncode == 1, res.stdout + res.stderr
    out = outputs(tmp_path / "run.toml")
    assert out["one"] == ["swrun:one: line 2: NOPE: is missing"]  # the block's own line
    assert out["two"] == ["pod/served-by-east", "east"]


def test_a_pin_that_cannot_be_checked_is_refused(tmp_path: Path, clusters: Clusters) -> None:
    (tmp_path / "rb.md").write_text(
        "+++\nkube_context = \"east\"\n+++\n\n# Pods\n\n```bash\ntouch ran\n```\n")
    broken = tmp_path / "broken"
    broken.write_text("clusters: [\n")
    res = swrun(tmp_path, "execute", "rb.md", "--yes", "--log", "run.toml",
                env={**clusters.env, "KUBECONFIG": str(broken)})
    assert res.returncode == 11, res.stdout + res.stderr
    (line,) = res.stderr.splitlines()
    assert line.startswith("swrun: rb.md:2: kube_context 'east' cannot be checked: ")
    assert str(broken) in line and line.endswith("; nothing ran")
    bin_dir = tmp_path / "bin"  # a PATH with a shell and no kubectl or oc
    bin_dir.mkdir()
    (bin_dir / "bash").symlink_to(str(shutil.which("bash")))
    res = swrun(tmp_path, "execute", "rb.md", "--yes", "--log", "run.toml",
                env={**clusters.env, "PATH": str(bin_dir)})
    assert res.returncode == 11, res.stdout + res.stderr
    assert res.stderr.splitlines() == [
        "swrun: rb.md:2: kube_context 'east' cannot be checked: neither kubectl nor oc is "
        "installed; nothing ran"]
    assert not (tmp_path / "ran").exists() and not (tmp_path / "run.toml").exists()
    doctor = swrun(tmp_path, "doctor", "rb.md", env={**clusters.env, "PATH": str(bin_dir)})
    assert any(line.startswith("✗ kubectl: not on PATH") and "kubernetes-client" in line
               for line in doctor.stdout.splitlines())
