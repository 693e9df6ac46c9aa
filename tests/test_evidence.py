"""Evidence (issue 16): the hash chain, SSH-signed logs, `swrun verify`, four-eyes approvals
and bundles, with real `ssh-keygen` keys for two operators (alice, bob) and an approver
(carol): every kind of tampering is caught with its own message."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_tui_support import frozen, make_app, until

from swrun.errors import EvidenceError
from swrun.evidence.approve import SigningKey, find_request, make_approval
from swrun.evidence.chain import tables
from swrun.evidence.commands import approve_command
from swrun.evidence.verify import verify_log
from swrun.execute import ExecuteOptions, execute
from swrun.exitcodes import ExitCode
from swrun.runlog import read_log
from swrun.timeline import build_timeline, read_logs

from conftest import swrun_cmd
from helpers import write_runbook

__all__ = ["frozen"]
PEOPLE = ("alice", "bob", "carol", "mallory")
"""alice and bob operate, carol approves; mallory has a key nobody lists."""

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real ed25519 keys made by ssh-keygen, and an allowed_signers file (git's format)."""
    folder = tmp_path_factory.mktemp("keys")
    lines = []
    for who in PEOPLE:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f",
                        str(folder / who)], check=True)
        if who != "mallory":
            kind, blob = (folder / f"{who}.pub").read_text().split()[:2]
            lines.append(f"{who}@example.com {kind} {blob}")
    (folder / "allowed_signers").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(autouse=True)
def quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key or allowed_signers from the machine running the tests (nor git's config)."""
    for name in ("SWRUN_SIGNING_KEY", "SWRUN_ALLOWED_SIGNERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


RUNBOOK = """
    +++
    title = "Deploy"
    environment = "staging"
    [vars]
    TAG = "v1"
    +++
    # Deploy

    ```bash {name=build}
    echo building $TAG
    echo built
    ```

    ```bash {name=flaky}
    if [ -f attempted ]; then echo second try; else touch attempted; echo boom; exit 3; fi
    ```

    ```bash {name=announce}
    echo announced
    ```
    """
"""alice's run fails at `flaky`; bob resumes it and it completes: two parts, two signers."""

GATED = """
    +++
    title = "Migrate"
    environment = "production"
    allowed_signers = "{signers}"
    [vars]
    TAG = "v1"
    +++
    # Migrate

    ```bash {{name=prepare}}
    echo prepared
    ```

    ```bash {{name=migrate approve={n} destructive}}
    echo migrating to $TAG
    ```
    """


def run(cwd: Path, key: str | None, *, resume: str | None = None, approvals: tuple[str, ...] = (),
        operator: str = "alice@bastion", file: str = "rb.md",
        var: tuple[str, ...] = ("TAG=v1",)) -> ExitCode:
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return execute(ExecuteOptions(
            file=file, variables=list(var), yes=True, confirm_environment="production",
            log=None if resume else "run.toml", resume=resume, operator=operator,
            sign_with=key, approvals=list(approvals), interactive=False,
            argv=["swrun", "execute", file]))
    finally:
        os.chdir(old)


def cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60,
                          env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull})


@pytest.fixture(scope="module")
def signed(keys: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of two parts: alice's (fails), bob's resume (completes); both signed."""
    work = tmp_path_factory.mktemp("signed")
    write_runbook(work, RUNBOOK)
    assert run(work, str(keys / "alice")) == ExitCode.STEP_FAILED
    assert run(work, str(keys / "bob"), resume="run.toml", operator="bob@bastion") == \
        ExitCode.OK
    return work


@pytest.fixture
def copy(signed: Path, tmp_path: Path) -> Path:
    """A private copy of the signed run to tamper with."""
    dest = tmp_path / "case"
    shutil.copytree(signed, dest)
    return dest


def verdict(work: Path, keys: Path, **kw: Any) -> tuple[str, str]:
    v = verify_log(work / "run.toml", allowed_signers=keys / "allowed_signers", **kw)
    return v.status, v.line()


def event_tables(path: Path) -> list[bytes]:
    found, _ = tables(path.read_bytes())
    return [t.data for t in found]


# -- signing and verifying ----------------------------------------------------------------


def test_a_run_signed_by_two_operators_verifies(signed: Path, keys: Path) -> None:
    v = verify_log(signed / "run.toml", allowed_signers=keys / "allowed_signers",
                   runbook=signed / "rb.md")
    assert v.ok, v.line()
    assert [s["principal"] for s in v.signers] == ["alice@example.com", "bob@example.com"]
    assert v.line().startswith(f"{signed / 'run.toml'}: verified: 12 events chained, ")
    assert "signed by alice@example.com, bob@example.com" in v.line()
    assert len(v.sidecars) == 3  # build, flaky (both parts append to one file), announce
    sig = (signed / "run.toml.sig").read_text()
    assert sig.count("-----BEGIN SSH SIGNATURE-----") == 2 and "seq = " in sig
    header = read_log(signed / "run.toml").run
    assert header["chain"] == "sha256" and header["operator_key"].startswith("SHA256:")
    res = cli(["verify", "run.toml", "--allowed-signers", str(keys / "allowed_signers"),
               "--runbook", "rb.md"], signed)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("\n") == 1 and res.stdout.startswith("run.toml: verified: ")
    out = cli(["verify", "run.toml", "--allowed-signers", str(keys / "allowed_signers"),
               "--json"], signed)
    data = json.loads(out.stdout)
    assert out.returncode == 0 and data[0]["status"] == "verified" and data[0]["ok"] is True


def test_a_run_without_a_key_says_once_that_its_log_is_unsigned(
        tmp_path: Path, keys: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_runbook(tmp_path, RUNBOOK.replace("exit 3", "exit 0"))
    assert run(tmp_path, None) == ExitCode.OK
    err = capsys.readouterr().err
    assert err.count("unsigned") == 1 and "run.toml is unsigned: no SSH key" in err
    assert verdict(tmp_path, keys)[0] == "unsigned"
    res = cli(["verify", "run.toml"], tmp_path)
    assert res.returncode == ExitCode.NOT_VERIFIED == 9
    assert res.stdout.strip() == "run.toml: unsigned: unsigned (no run.toml.sig beside it)"


def test_a_key_in_ssh_agent_signs(tmp_path: Path, keys: Path) -> None:
    """`--sign-with key.pub`: the private half comes from ssh-agent, as git does it."""
    if shutil.which("ssh-agent") is None:
        pytest.skip("needs ssh-agent")
    agent = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True)
    env = dict(re.findall(r"(SSH_AUTH_SOCK|SSH_AGENT_PID)=([^;]+);", agent.stdout))
    try:
        subprocess.run(["ssh-add", "-q", str(keys / "bob")], env={**os.environ, **env},
                       check=True, capture_output=True)
        pub = tmp_path / "only.pub"  # no private key beside it: only the agent can sign
        shutil.copy(keys / "bob.pub", pub)
        old = dict(os.environ)
        os.environ.update(env)
        try:
            write_runbook(tmp_path, RUNBOOK.replace("exit 3", "exit 0"))
            assert run(tmp_path, str(pub)) == ExitCode.OK
        finally:
            os.environ.clear()
            os.environ.update(old)
        v = verify_log(tmp_path / "run.toml", allowed_signers=keys / "allowed_signers")
        assert v.ok and v.signers[0]["principal"] == "bob@example.com", v.line()
    finally:
        subprocess.run(["kill", env["SSH_AGENT_PID"]], check=False)


def test_a_missing_key_is_one_line_and_exit_10(tmp_path: Path) -> None:
    write_runbook(tmp_path, RUNBOOK)
    res = cli(["execute", "rb.md", "--yes", "--sign-with", "nope"], tmp_path)
    assert res.returncode == ExitCode.BAD_EVIDENCE == 10
    assert res.stderr.strip() == "swrun: nope: no such SSH key"
    assert not (tmp_path / "logs").exists()  # nothing ran


# -- tampering: each is caught, with its own message ---------------------------------------


def flip(data: bytes, at: int) -> bytes:
    """One byte changed, keeping the TOML valid (a digit for another digit)."""
    old = data[at:at + 1]
    assert old.isdigit(), old
    return data[:at] + (b"1" if old != b"1" else b"2") + data[at + 1:]


def test_one_byte_of_a_middle_event_names_that_event(copy: Path, keys: Path) -> None:
    log = copy / "run.toml"
    found, _ = tables(log.read_bytes())
    middle = found[4]
    at = middle.start + middle.data.index(b'at = "') + len(b'at = "2026-11-2')
    log.write_bytes(flip(log.read_bytes(), at))
    status, line = verdict(copy, keys)
    assert status == "tampered"
    assert f"event seq {middle.seq} (line {middle.line}) was changed since it was written" \
        in line
    res = cli(["verify", "run.toml", "--allowed-signers", str(keys / "allowed_signers")], copy)
    assert res.returncode == 9 and res.stdout.startswith("run.toml: tampered: event seq")


def test_one_byte_of_a_sidecar(copy: Path, keys: Path) -> None:
    side = sorted((copy / "run.output").iterdir())[0]
    body = bytearray(side.read_bytes())
    body[-3] ^= 0x01
    side.write_bytes(bytes(body))
    status, line = verdict(copy, keys)
    assert status == "tampered"
    assert f"output file run.output/{side.name} differs from what event seq" in line


def test_one_byte_of_the_runbook(copy: Path, keys: Path) -> None:
    book = copy / "rb.md"
    book.write_text(book.read_text().replace("building", "buildinG"))
    status, line = verdict(copy, keys, runbook=book)
    assert status == "mismatch"
    assert "is not the runbook that ran (its SHA-256 is" in line
    res = cli(["verify", "run.toml", "--runbook", "rb.md", "--allowed-signers",
               str(keys / "allowed_signers")], copy)
    assert res.returncode == 9 and ": mismatch: " in res.stdout


def test_one_byte_of_the_signature(copy: Path, keys: Path) -> None:
    sig = copy / "run.toml.sig"
    lines = sig.read_text().split("\n")
    i = lines.index("-----BEGIN SSH SIGNATURE-----") + 3
    lines[i] = lines[i][:10] + ("A" if lines[i][10] != "A" else "B") + lines[i][11:]
    sig.write_text("\n".join(lines))
    status, line = verdict(copy, keys)
    assert status == "tampered"
    assert "signature 1 (run.toml.sig line 1): the signature does not verify" in line


def test_what_a_signature_says_it_covers_cannot_be_changed(copy: Path, keys: Path) -> None:
    sig = copy / "run.toml.sig"
    sig.write_text(re.sub(r"seq = (\d+)", lambda m: f"seq = {int(m.group(1)) + 1}",
                          sig.read_text(), count=1))
    status, line = verdict(copy, keys)
    assert status == "tampered" and "does not verify" in line


def test_reordered_events(copy: Path, keys: Path) -> None:
    log = copy / "run.toml"
    raw = log.read_bytes()
    found, _ = tables(raw)
    a, b = found[3], found[4]
    log.write_bytes(raw[:a.start] + b.data + a.data + raw[b.end:])
    status, line = verdict(copy, keys)
    assert status == "tampered"
    assert f"event seq {b.seq} (line {a.line}) is out of place: it was written right after " \
           f"event seq {a.seq}" in line


def test_a_deleted_event(copy: Path, keys: Path) -> None:
    log = copy / "run.toml"
    raw = log.read_bytes()
    found, _ = tables(raw)
    gone, before = found[5], found[4]
    log.write_bytes(raw[:gone.start] + raw[gone.end:])
    status, line = verdict(copy, keys)
    assert status == "tampered"
    assert f"event seq {before.seq} (line {before.line}) was changed since it was written, " \
           "or an event after it was removed" in line


def test_deleted_last_events(copy: Path, keys: Path) -> None:
    log = copy / "run.toml"
    raw = log.read_bytes()
    found, _ = tables(raw)
    log.write_bytes(raw[:found[-1].start])
    status, line = verdict(copy, keys)
    assert status == "tampered" and "signed events were removed from the end" in line


def test_an_appended_event_with_a_good_chain(copy: Path, keys: Path) -> None:
    """Whoever appends can compute `prev`; the signature still ends before it."""
    log = copy / "run.toml"
    raw = log.read_bytes()
    found, _ = tables(raw)
    forged = (f'[[event]]\nseq = 99\nat = "2026-11-22T07:00:00.000Z"\ntype = "note_added"\n'
              f'prev = "{found[-1].hash}"\nnote = "all fine"\nby = "mallory"\n\n').encode()
    log.write_bytes(raw + forged)
    assert read_log(log).events[-1]["note"] == "all fine"  # a reader takes it
    status, line = verdict(copy, keys)
    assert status == "tampered"
    line_no = found[-1].line + found[-1].data.count(b"\n")
    assert f"events seq 99 (line {line_no} on) come after the last signature: appended " \
           "later, or written by a part of the run that ended without signing" in line


def test_a_signer_allowed_signers_does_not_list(copy: Path, keys: Path, tmp_path: Path) -> None:
    only = tmp_path / "only_carol"
    only.write_text("\n".join(ln for ln in (keys / "allowed_signers").read_text().splitlines()
                              if ln.startswith("carol")) + "\n")
    v = verify_log(copy / "run.toml", allowed_signers=only)
    assert v.status == "untrusted" and "which" in v.line() and "does not list" in v.line()
    # no allowed_signers at all: the signature holds, the signer is unknown
    v = verify_log(copy / "run.toml")
    assert v.status == "untrusted"
    assert "no allowed_signers file says whose key" in " ".join(t for _, t in v.problems)


def test_an_old_log_is_unchained_not_tampered(copy: Path, keys: Path) -> None:
    log = copy / "run.toml"
    text = log.read_text()
    text = re.sub(r'(?m)^prev = "[0-9a-f]{64}"\n', "", text).replace('chain = "sha256"\n', "")
    # an old log is another run: the registry witnessed this run's signed heads, and a log of
    # it stripped of its chain would be called tampered (test_a_cut_back_log…)
    log.write_text(text.replace(read_log(log).run["id"], "01d10900"))
    (copy / "run.toml.sig").unlink()
    status, line = verdict(copy, keys)
    assert status == "unchained"
    assert "unchained (written before swrun kept a hash chain in its logs)" in line
    res = cli(["timeline", "run.toml"], copy)  # read as before, not marked
    assert res.returncode == 0 and "cannot be trusted" not in res.stderr


def test_timeline_and_history_mark_a_log_that_does_not_hold(copy: Path, keys: Path) -> None:
    log = copy / "run.toml"
    found, _ = tables(log.read_bytes())
    at = found[4].start + found[4].data.index(b'at = "') + len(b'at = "2026-11-2')
    log.write_bytes(flip(log.read_bytes(), at))
    res = cli(["timeline", "run.toml"], copy)
    assert res.returncode == 0
    assert f"swrun: warning: run.toml: cannot be trusted: tampered: event seq {found[4].seq}" \
        in res.stderr
    logs = copy / "logs" / "rb"
    logs.mkdir(parents=True, exist_ok=True)  # the runbook's lock is there already
    shutil.copy(log, logs / "20261122T000000Z-x.toml")
    hist = cli(["history", "rb.md", "--format", "json"], copy)
    assert hist.returncode == 0, hist.stderr
    assert json.loads(hist.stdout)["runs"][0]["trusted"] is False
    assert "⚠ tampered" in cli(["history", "rb.md"], copy).stdout


def test_history_and_timeline_count_copies_once_and_can_show_only_verified_runs(
        signed: Path, keys: Path, tmp_path: Path) -> None:
    """Unsigned, unchained and copied logs are not silently trusted (issue 23, 8)."""
    work = tmp_path / "w"
    shutil.copytree(signed, work)
    logs = work / "logs" / "rb"
    logs.mkdir(parents=True, exist_ok=True)
    for name in ("20261122T000000Z-a.toml", "20261122T000001Z-copy.toml"):
        shutil.copy(work / "run.toml", logs / name)
        shutil.copy(work / "run.toml.sig", logs / (name + ".sig"))
    shutil.copytree(work / "run.output", logs / "run.output")  # where the events say
    unsigned = logs / "20261123T000000Z-unsigned.toml"
    text = (work / "run.toml").read_text()
    rid = read_log(work / "run.toml").run["id"]
    unsigned.write_text(text.replace(rid, "feedf00d"))
    trust = ["--allowed-signers", str(keys / "allowed_signers")]
    hist = cli(["history", "rb.md", "--format", "json", *trust], work)
    assert hist.returncode == 0, hist.stderr
    runs = json.loads(hist.stdout)["runs"]
    assert [(r["run_id"], r["verdict"]) for r in runs] == [(rid, "verified"),
                                                           ("feedf00d", "tampered")]
    assert "are copies of run " + rid in hist.stderr
    only = cli(["history", "rb.md", "--format", "json", "--verified-only", *trust], work)
    assert [r["run_id"] for r in json.loads(only.stdout)["runs"]] == [rid]
    assert "left out (--verified-only)" in only.stderr
    tl = cli(["timeline", str(unsigned), "--verified-only", *trust], work)
    assert tl.returncode == ExitCode.NOT_VERIFIED and "nothing to show" in tl.stderr
    (work / "run.toml.sig").unlink()
    md = cli(["timeline", "run.toml", *trust], work)
    assert "⚠ unsigned" in md.stdout and "1 of 1 log(s) unsigned" in md.stderr


def test_bytes_after_the_last_signed_event_are_tampering(copy: Path, keys: Path) -> None:
    """swrun drops a tail with no blank line as torn, but tomllib reads a whole forged event
    there: any byte after the signed end makes the text verdict `tampered` (issue 23, 7)."""
    import tomllib

    log = copy / "run.toml"
    log.write_bytes(log.read_bytes() + b'[[event]]\nseq = 50\nat = "2026')
    v = verify_log(log, allowed_signers=keys / "allowed_signers")
    assert v.status == "tampered" and "29 bytes follow the last signed event" in v.line()
    forged = b'[[event]]\nseq = 99\ntype = "note_added"\nnote = "approved by bob"'
    log.write_bytes(log.read_bytes().split(b"[[event]]\nseq = 50")[0] + forged)
    assert tomllib.loads(log.read_text())["event"][-1]["note"] == "approved by bob"
    res = cli(["verify", "run.toml", "--allowed-signers", str(keys / "allowed_signers")], copy)
    assert res.returncode == ExitCode.NOT_VERIFIED
    assert "tampered" in res.stdout + res.stderr and "follow the last signed event" in \
        res.stdout + res.stderr


def test_an_edited_last_event_says_it_was_changed_not_removed(copy: Path, keys: Path) -> None:
    log = copy / "run.toml"
    text = log.read_text()
    cut = text.rstrip("\n").rfind("\n[[event]]")
    last = text[cut:]
    edited = re.sub(r'status = "completed"', 'status = "ok"', last)
    assert edited != last
    log.write_text(text[:cut] + edited)
    v = verify_log(log, allowed_signers=keys / "allowed_signers")
    assert v.status == "tampered"
    assert "the last event signature 2" in v.line() and "was changed since it was signed" in \
        v.line() and "removed" not in v.problems[0][1], v.line()


# -- bundles ---------------------------------------------------------------------------------


def test_a_bundle_holds_everything_and_verifies_again(copy: Path, keys: Path) -> None:
    signers = str(keys / "allowed_signers")
    res = cli(["verify", "run.toml", "--runbook", "rb.md", "--allowed-signers", signers,
               "--bundle", "evidence.tar"], copy)
    assert res.returncode == 0, res.stderr
    assert "wrote evidence.tar; read back: evidence.tar:run.toml: verified" in res.stderr
    assert (copy / "evidence.tar").stat().st_mode & 0o777 == 0o600  # as the log it holds
    assert (copy / "run.toml.sig").stat().st_mode & 0o777 == 0o600
    tl = cli(["timeline", "run.toml", "-o", "tl.md"], copy)
    assert tl.returncode == 0, tl.stderr
    assert (copy / "tl.md").stat().st_mode & 0o777 == 0o600
    with tarfile.open(copy / "evidence.tar") as tar:
        names = tar.getnames()
    assert {"run.toml", "run.toml.sig", "runbook/rb.md", "MANIFEST.toml"} <= set(names)
    assert sum(n.startswith("run.output/") for n in names) == 3
    again = cli(["verify", "evidence.tar", "--allowed-signers", signers], copy)
    assert again.returncode == 0 and "runbook " in again.stdout
    # a bundle whose log was changed after packing is caught
    work = copy / "unpacked"
    with tarfile.open(copy / "evidence.tar") as tar:
        tar.extractall(work, filter="data")
    found, _ = tables((work / "run.toml").read_bytes())
    at = found[4].start + found[4].data.index(b'at = "') + len(b'at = "2026-11-2')
    (work / "run.toml").write_bytes(flip((work / "run.toml").read_bytes(), at))
    with tarfile.open(copy / "bad.tar", "w") as tar:
        for p in sorted(work.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(work)), recursive=False)
    bad = cli(["verify", "bad.tar", "--allowed-signers", signers], copy)
    assert bad.returncode == 9 and bad.stdout.startswith("bad.tar:run.toml: tampered: ")


def _repack(src: Path, dest: Path, change: Any) -> None:
    """Unpack bundle `src`, let `change(folder)` edit it, pack it again as `dest`."""
    work = dest.with_suffix(".d")
    with tarfile.open(src) as tar:
        tar.extractall(work, filter="data")
    change(work)
    with tarfile.open(dest, "w") as tar:
        for p in sorted(work.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(work)), recursive=False)


def test_a_bundle_is_checked_against_its_manifest(copy: Path, keys: Path) -> None:
    """Zeroed manifest hashes, junk members, a missing or second runbook and temp paths in
    the verdict were all let through (issue 23, 13)."""
    signers = str(keys / "allowed_signers")
    assert cli(["verify", "run.toml", "--runbook", "rb.md", "--allowed-signers", signers,
                "--bundle", "ok.tar"], copy).returncode == 0
    no_book = cli(["verify", "run.toml", "--bundle", "x.tar"], copy)
    assert no_book.returncode == ExitCode.USAGE and "--bundle needs the runbook" in \
        no_book.stderr

    def zero(d: Path) -> None:
        text = (d / "MANIFEST.toml").read_text()
        (d / "MANIFEST.toml").write_text(re.sub(r'"[0-9a-f]{64}"', '"' + "0" * 64 + '"', text))

    def junk(d: Path) -> None:
        (d / "run.output" / "extra.log").write_text("added later\n")

    def second(d: Path) -> None:
        (d / "runbook" / "other.md").write_text("# other\n")

    def none(d: Path) -> None:
        shutil.rmtree(d / "runbook")

    for change, said in ((zero, "differs from the SHA-256 MANIFEST.toml records"),
                         (junk, "run.output/extra.log is not in MANIFEST.toml"),
                         (second, "2 runbooks under runbook/"),
                         (none, "0 runbooks under runbook/")):
        _repack(copy / "ok.tar", copy / f"{change.__name__}.tar", change)
        res = cli(["verify", f"{change.__name__}.tar", "--allowed-signers", signers], copy)
        assert res.returncode == 9, (change.__name__, res.stdout)
        assert said in res.stdout + res.stderr or said in cli(
            ["verify", f"{change.__name__}.tar", "--allowed-signers", signers, "--json"],
            copy).stdout, (change.__name__, res.stdout)
        assert "swrun-bundle-" not in res.stdout  # paths are the bundle's, never a temp dir


def test_a_log_that_does_not_verify_is_not_bundled(copy: Path, keys: Path) -> None:
    (copy / "run.toml.sig").unlink()
    res = cli(["verify", "run.toml", "--runbook", "rb.md", "--bundle", "out.tar"], copy)
    assert res.returncode == 9 and not (copy / "out.tar").exists()
    assert "out.tar not written" in res.stderr


# -- four-eyes approval --------------------------------------------------------------------


def gated(tmp_path: Path, keys: Path, n: int = 1) -> Path:
    write_runbook(tmp_path, GATED.format(signers=keys / "allowed_signers", n=n))
    return tmp_path


def waiting_request(log: Path, step: str = "2") -> dict[str, Any]:
    req = find_request(read_log(log).events, step)
    assert req is not None
    return req


def approval_file(path: Path, log: Path, key: Path, *, valid_for: float = 600,
                  now: datetime | None = None) -> str:
    req = waiting_request(log)
    path.write_bytes(make_approval(req, read_log(log).run["id"], SigningKey.load(str(key)),
                                   approver="x@y", valid_for=valid_for, now=now))
    return str(path)


def outcomes(log: Path, kind: str) -> list[dict[str, Any]]:
    return [e for e in read_log(log).events if e.get("type") == kind]


def test_headless_run_stops_and_a_carried_approval_lets_it_go_on(tmp_path: Path,
                                                                  keys: Path) -> None:
    work = gated(tmp_path, keys)
    assert run(work, str(keys / "alice")) == ExitCode.OPERATOR_NEEDED
    log = work / "run.toml"
    need = outcomes(log, "approval_needed")[0]
    assert need["waiting_for"] == ["bob@example.com", "carol@example.com"]
    assert need["command"] == "  echo migrating to v1" and need["approvals"] == 1
    assert outcomes(log, "run_finished")[-1]["note"].startswith(
        "step 2 'migrate' is waiting for 1 more approval from: bob@example.com, "
        "carol@example.com: approve with `swrun approve ")
    # carol approves on her own, with the CLI, into a file the pipeline carries
    assert approve_command(str(log), "2", sign_with=str(keys / "carol"), allowed_signers=None,
                           valid_for="10m", output=str(work / "carol.approval"),
                           yes=True) == ExitCode.OK
    assert run(work, str(keys / "alice"), resume="run.toml",
               approvals=("carol.approval",)) == ExitCode.OK
    given = outcomes(log, "approval")
    assert [(a["by"], a["count"], a["approvals"]) for a in given] == \
        [("carol@example.com", 1, 1)]
    assert outcomes(log, "step_finished")[-1]["step"] == "migrate"
    assert verify_log(log, allowed_signers=keys / "allowed_signers").ok
    tl = build_timeline(read_logs([log]))
    assert any(e.who == "carol@example.com" and "approved step 2 (1 of 1" in (e.note or "")
               for e in tl.entries)


def test_self_approval_is_refused(tmp_path: Path, keys: Path) -> None:
    work = gated(tmp_path, keys)
    assert run(work, str(keys / "alice")) == ExitCode.OPERATOR_NEEDED
    log = work / "run.toml"
    with pytest.raises(EvidenceError, match="is the key of the operator of run"):
        approve_command(str(log), "2", sign_with=str(keys / "alice"), allowed_signers=None,
                        valid_for=None, output=str(work / "a.approval"), yes=True)
    res = cli(["approve", "run.toml", "2", "--sign-with", str(keys / "alice"), "--yes"], work)
    assert res.returncode == ExitCode.BAD_EVIDENCE
    assert "four-eyes needs someone else's approval" in res.stderr
    # a file alice signed herself, carried to the run, counts for nothing
    mine = approval_file(work / "mine.approval", log, keys / "alice")
    assert run(work, str(keys / "alice"), resume="run.toml", approvals=(mine,)) == \
        ExitCode.OPERATOR_NEEDED
    refused = outcomes(log, "approval_refused")
    assert refused[-1]["error"] == ("alice@example.com is the operator of this run: approvals "
                                    "must come from someone else")
    assert not outcomes(log, "approval")


def test_duplicate_approvals_count_once(tmp_path: Path, keys: Path) -> None:
    work = gated(tmp_path, keys, n=2)
    assert run(work, str(keys / "alice")) == ExitCode.OPERATOR_NEEDED
    log = work / "run.toml"
    # swrun approve writes carol's approval into the run's approvals folder, once
    assert approve_command(str(log), "2", sign_with=str(keys / "carol"), allowed_signers=None,
                           valid_for=None, output=None, yes=True) == ExitCode.OK
    assert next((work / "run.approvals").iterdir()).name.startswith("0002-migrate-")
    with pytest.raises(EvidenceError, match=r"carol@example\.com already approved step 2"):
        approve_command(str(log), "2", sign_with=str(keys / "carol"), allowed_signers=None,
                        valid_for=None, output=None, yes=True)
    # a second file of hers, carried to the run, counts once
    two = approval_file(work / "two.approval", log, keys / "carol", valid_for=300)
    assert run(work, str(keys / "alice"), resume="run.toml", approvals=(two,)) == \
        ExitCode.OPERATOR_NEEDED
    assert [a["by"] for a in outcomes(log, "approval")] == ["carol@example.com"]
    assert outcomes(log, "approval_refused")[-1]["error"] == \
        "carol@example.com already approved this step"
    # with bob's, two people other than alice: it runs
    bob = approval_file(work / "bob.approval", log, keys / "bob")
    assert run(work, str(keys / "alice"), resume="run.toml", approvals=(bob,)) == ExitCode.OK
    assert [a["by"] for a in outcomes(log, "approval")][-2:] == \
        ["bob@example.com", "carol@example.com"]


def test_an_expired_approval_is_refused(tmp_path: Path, keys: Path) -> None:
    work = gated(tmp_path, keys)
    assert run(work, str(keys / "alice")) == ExitCode.OPERATOR_NEEDED
    log = work / "run.toml"
    old = approval_file(work / "old.approval", log, keys / "carol", valid_for=1800,
                        now=datetime.now(UTC) - timedelta(hours=1))
    assert run(work, str(keys / "alice"), resume="run.toml", approvals=(old,)) == \
        ExitCode.OPERATOR_NEEDED
    assert outcomes(log, "approval_refused")[-1]["error"].startswith("it expired at ")
    long = approval_file(work / "long.approval", log, keys / "carol", valid_for=86400)
    assert run(work, str(keys / "alice"), resume="run.toml", approvals=(long,)) == \
        ExitCode.OPERATOR_NEEDED
    assert outcomes(log, "approval_refused")[-1]["error"] == \
        "it is valid for longer than the runbook allows (1h)"


def test_an_approval_for_a_changed_step_is_refused(tmp_path: Path, keys: Path) -> None:
    work = gated(tmp_path, keys)
    assert run(work, str(keys / "alice")) == ExitCode.OPERATOR_NEEDED
    log = work / "run.toml"
    ok = approval_file(work / "ok.approval", log, keys / "carol")
    book = work / "rb.md"
    book.write_text(book.read_text().replace("echo migrating to", "echo dropping and migrating to"))
    assert run(work, str(keys / "alice"), resume="run.toml", approvals=(ok,)) == \
        ExitCode.OPERATOR_NEEDED
    assert "it approves step 2 as it was before it changed" in \
        outcomes(log, "approval_refused")[-1]["error"]
    # the same step with other variables is another command
    book.write_text(book.read_text().replace("echo dropping and migrating to", "echo migrating to"))
    assert run(work, str(keys / "alice"), resume="run.toml", approvals=(ok,),
               var=("TAG=v2",)) == ExitCode.OPERATOR_NEEDED
    assert "it approves another command for step 2" in \
        outcomes(log, "approval_refused")[-1]["error"]


def test_an_approval_by_an_unlisted_key_or_for_another_run_is_refused(tmp_path: Path,
                                                                      keys: Path) -> None:
    work = gated(tmp_path, keys)
    assert run(work, str(keys / "alice")) == ExitCode.OPERATOR_NEEDED
    log = work / "run.toml"
    stranger = approval_file(work / "m.approval", log, keys / "mallory")
    assert run(work, str(keys / "alice"), resume="run.toml", approvals=(stranger,)) == \
        ExitCode.OPERATOR_NEEDED
    assert "which " in outcomes(log, "approval_refused")[-1]["error"]
    other = tmp_path / "other"
    other.mkdir()
    gated(other, keys)
    assert run(other, str(keys / "alice")) == ExitCode.OPERATOR_NEEDED
    theirs = approval_file(other / "c.approval", other / "run.toml", keys / "carol")
    assert run(work, str(keys / "alice"), resume="run.toml", approvals=(theirs,)) == \
        ExitCode.OPERATOR_NEEDED
    assert outcomes(log, "approval_refused")[-1]["error"].startswith("it approves run ")


def test_a_step_needing_approval_without_allowed_signers_runs_nothing(tmp_path: Path,
                                                                      keys: Path) -> None:
    write_runbook(tmp_path, GATED.format(signers="x", n=1).replace('allowed_signers = "x"\n', ""))
    res = cli(["execute", "rb.md", "--yes", "--confirm-environment", "production"], tmp_path)
    assert res.returncode == ExitCode.BAD_EVIDENCE
    assert "step 2 'migrate' needs approval, and no allowed_signers file" in res.stderr
    assert not (tmp_path / "logs").exists()


async def test_console_waits_for_approval_and_names_who_may_give_it(
        frozen: Path, keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The console shows "waiting for 1 more approval from: bob, carol"; carol runs
    `swrun approve`, the waiting run picks the file up and the step runs."""
    monkeypatch.setenv("SWRUN_SIGNING_KEY", str(keys / "alice"))
    text = GATED.format(signers=keys / "allowed_signers", n=1).replace(
        'environment = "production"', 'environment = "staging"').replace(" destructive", "")
    app = make_app(frozen, text, variables={"TAG": "v1"})
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: app.pending is not None or app.error, "the first step")
        assert app.error is None
        await pilot.press("r")
        await until(pilot, lambda: "waiting for 1 more approval" in app._status_text,
                    "the approval wait")
        assert app._status_text.startswith(
            "⏳ step 2: waiting for 1 more approval from: bob@example.com, carol@example.com")
        assert approve_command("run.toml", "2", sign_with=str(keys / "carol"),
                               allowed_signers=None, valid_for=None, output=None,
                               yes=True) == ExitCode.OK
        await until(pilot, lambda: any(e.get("type") == "approval"
                                       for e in read_log("run.toml").events), "the approval")
        await until(pilot, lambda: app.pending is not None and app.pending.step.number == 2,
                    "the step's own confirmation")
        await pilot.press("r")
        await until(pilot, lambda: app._ended, "the end of the run")
    log = Path("run.toml")
    assert [a["by"] for a in outcomes(log, "approval")] == ["carol@example.com"]
    assert outcomes(log, "run_finished")[-1]["status"] == "completed"
    assert verify_log(log, allowed_signers=keys / "allowed_signers").ok


async def test_the_console_signs_with_sign_with(frozen: Path, keys: Path) -> None:
    """`swrun run --sign-with KEY` signs the console's log as `swrun execute` does."""
    from test_tui_support import SMALL, waiting

    app = make_app(frozen, SMALL, sign_with=str(keys / "alice"))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, waiting(app, "confirm", 3))
        await pilot.press("r", "y")  # ship is a confirm step
        await until(pilot, lambda: app._ended)
        await until(pilot, lambda: bool(app.signature_note))
    assert (frozen / "run.toml.sig").is_file()
    res = cli(["verify", "run.toml", "--allowed-signers", str(keys / "allowed_signers")], frozen)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "verified" in res.stdout


# -- one person can never satisfy four-eyes (issue 23, items 1 and 2) -------------------------


@pytest.mark.parametrize("who", [None, "mallory"])
def test_a_step_needing_approval_needs_an_operator_key_that_allowed_signers_lists(
        tmp_path: Path, keys: Path, who: str | None) -> None:
    """Without a listed key the operator is only a `user@host` name, which an approval file
    signed with the operator's own listed key would not match: refused before anything runs."""
    gated(tmp_path, keys)
    args = ["execute", "rb.md", "--yes", "--confirm-environment", "production"]
    if who:
        args += ["--sign-with", str(keys / who)]
    res = cli(args, tmp_path)
    assert res.returncode == ExitCode.BAD_EVIDENCE, res.stderr
    assert "step 2 'migrate' needs approval, and " in res.stderr
    assert ("the operator has no signing key" if who is None else
            "is not in " + str(keys / "allowed_signers")) in res.stderr
    assert "Traceback" not in res.stderr and "prepared" not in res.stdout
    assert not (tmp_path / "logs").exists()


def test_a_second_key_of_the_operator_cannot_approve(tmp_path: Path, keys: Path) -> None:
    """alice signs logs with one key and approvals with another: she is still the operator."""
    two = tmp_path / "keys"
    two.mkdir()
    for name in ("alice-log", "alice-approve"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                        str(two / name)], check=True)
    pub = {n: " ".join((two / f"{n}.pub").read_text().split()[:2])
           for n in ("alice-log", "alice-approve")}
    carol = " ".join((keys / "carol.pub").read_text().split()[:2])
    (two / "allowed_signers").write_text(
        f'alice namespaces="swrun" {pub["alice-log"]}\n'
        f'alice namespaces="swrun-approval" {pub["alice-approve"]}\n'
        f'carol namespaces="swrun-approval" {carol}\n')
    work = tmp_path / "w"
    work.mkdir()
    write_runbook(work, GATED.format(signers=two / "allowed_signers", n=1))
    assert run(work, str(two / "alice-log")) == ExitCode.OPERATOR_NEEDED
    log = work / "run.toml"
    assert outcomes(log, "approval_needed")[0]["waiting_for"] == ["carol"]
    with pytest.raises(EvidenceError, match="alice is the operator of run"):
        approve_command(str(log), "2", sign_with=str(two / "alice-approve"),
                        allowed_signers=None, valid_for=None, output=str(work / "x"), yes=True)
    forged = approval_file(work / "hand-made.approval", log, two / "alice-approve")
    assert run(work, str(two / "alice-log"), resume="run.toml", approvals=(forged,)) == \
        ExitCode.OPERATOR_NEEDED
    assert outcomes(log, "approval_refused")[-1]["error"] == \
        "alice is the operator of this run: approvals must come from someone else"
    assert not outcomes(log, "approval")
    assert [e["step"] for e in outcomes(log, "step_finished")] == ["prepare"]


def _rechain(log: Path, edit: Any) -> None:
    """Apply `edit` to the log's text and recompute every `prev`, as a forger would."""
    from swrun.evidence.chain import digest, tables

    text = edit(log.read_text())
    found, _ = tables(text.encode())
    out: list[bytes] = []
    for t in found:
        data = t.data
        if out:
            data = re.sub(rb'^prev = "[0-9a-f]{64}"$', f'prev = "{digest(out[-1])}"'.encode(),
                          data, count=1, flags=re.M)
        out.append(data)
    log.write_bytes(b"".join(out))


@pytest.mark.parametrize("rechain", [False, True])
def test_approve_refuses_a_request_whose_command_was_edited(tmp_path: Path, keys: Path,
                                                            rechain: bool) -> None:
    """bob must not be shown a harmless command while his approval counts for the real one."""
    work = gated(tmp_path, keys)
    assert run(work, str(keys / "alice")) == ExitCode.OPERATOR_NEEDED
    log = work / "run.toml"

    def edit(text: str) -> str:
        return text.replace('command = "  echo migrating to v1"', 'command = "  echo hello"')

    if rechain:
        _rechain(log, edit)
    else:
        log.write_text(edit(log.read_text()))
    assert waiting_request(log)["command"] == "  echo hello"
    res = cli(["approve", "run.toml", "2", "--sign-with", str(keys / "bob"), "--yes"], work)
    assert res.returncode == ExitCode.BAD_EVIDENCE, res.stderr
    assert "nothing approved" in res.stderr and "echo hello" not in res.stderr
    assert ("does not match its command_sha256" if rechain else "the log does not hold") \
        in res.stderr
    assert not (work / "run.approvals").exists()


def _resign(log: Path, key: Path, parts: list[int], operator: str = "alice@bastion") -> None:
    """Replace the log's .sig with blocks signed by `key`, ending at the given seqs."""
    from swrun.evidence.chain import normalize
    from swrun.evidence.sign import sig_path, sign_log

    sig_path(log).unlink()
    found, _ = tables(normalize(log.read_bytes()))
    for seq in parts:
        table = next(t for t in found if t.seq == seq)
        head = (table.hash, table.end, seq)
        sign_log(log, SigningKey.load(str(key)), run_id=read_log(log).run["id"], head=head,
                 operator=operator)


@pytest.mark.parametrize("merged", [False, True])
def test_a_log_re_signed_by_another_allowed_signer_is_tampered(copy: Path, keys: Path,
                                                               merged: bool) -> None:
    """bob edits alice's part, recomputes the chain and signs it himself (issue 23, 6)."""
    log = copy / "run.toml"
    _rechain(log, lambda t: t.replace("echo building", "echo BUILDING", 1)
             if "echo building" in t else t.replace('exit_code = 3', 'exit_code = 0', 1))
    starts = [e["seq"] for e in read_log(log).events if e["type"] == "run_resumed"]
    last = read_log(log).events[-1]["seq"]
    _resign(log, keys / "bob", [last] if merged else [starts[0] - 1, last])
    v = verify_log(log, allowed_signers=keys / "allowed_signers")
    assert v.status == "tampered", v.line()
    text = " | ".join(t for _, t in v.problems)
    assert ("re-signed by someone else" in text) if not merged else \
        ("carries no signature by its key" in text), text


def test_verify_names_the_allowed_signers_file_it_trusted(signed: Path, keys: Path) -> None:
    import hashlib

    trust = keys / "allowed_signers"
    digest = hashlib.sha256(trust.read_bytes()).hexdigest()
    v = verify_log(signed / "run.toml", allowed_signers=trust)
    assert v.ok and v.line().endswith(f" [keys from {trust}, SHA-256 {digest[:16]}…]")
    out = cli(["verify", "run.toml", "--allowed-signers", str(trust), "--json"], signed)
    data = json.loads(out.stdout)[0]
    assert data["allowed_signers"] == str(trust) and data["allowed_signers_sha256"] == digest


def test_allowed_signers_is_read_as_ssh_keygen_reads_it(tmp_path: Path, keys: Path) -> None:
    """Quoted principals keep their spaces; options and comments are not principals."""
    from swrun.evidence.keys import allowed_signers, identity

    alice = " ".join((keys / "alice.pub").read_text().split()[:2])
    bob = " ".join((keys / "bob.pub").read_text().split()[:2])
    path = tmp_path / "allowed_signers"
    path.write_text(f'# ops\n"alice example",alice@x namespaces="swrun,git" {alice} a comment\n'
                    f'bob@y valid-after="20200101",valid-before="20990101Z" {bob}\n\n')
    got = allowed_signers(path)
    assert [(s.principals, s.namespaces, s.valid_before) for s in got] == [
        (("alice example", "alice@x"), ("swrun", "git"), None),
        (("bob@y",), (), "20990101Z")]
    fp = SigningKey.load(str(keys / "alice")).fingerprint
    assert identity(fp, got) == ("alice example", "alice@x")


def test_a_signature_made_while_the_key_was_valid_stays_trusted(tmp_path: Path,
                                                                keys: Path) -> None:
    """valid-before passing after the log was signed does not make the log untrusted: the
    key is checked at the signature's signed_at, as git does (issue 23, 9)."""
    import time

    write_runbook(tmp_path, RUNBOOK.replace("exit 3", "exit 0"))
    assert run(tmp_path, str(keys / "alice")) == ExitCode.OK
    from swrun.evidence.sign import read_blocks, sig_path

    block = read_blocks(sig_path(tmp_path / "run.toml").read_text())[0]
    signed_at = datetime.strptime(block.claims["signed_at"][:19], "%Y-%m-%dT%H:%M:%S")
    until_ = (signed_at + timedelta(seconds=2)).strftime("%Y%m%d%H%M%S") + "Z"
    alice = " ".join((keys / "alice.pub").read_text().split()[:2])
    trust = tmp_path / "allowed_signers"
    trust.write_text(f'alice@example.com valid-before="{until_}" {alice}\n')
    while datetime.now(UTC).replace(tzinfo=None) <= signed_at + timedelta(seconds=3):
        time.sleep(0.2)
    v = verify_log(tmp_path / "run.toml", allowed_signers=trust)
    assert v.ok, v.line()
    # a key that was not yet valid when it signed is not trusted
    trust.write_text(f'alice@example.com valid-after="20990101" {alice}\n')
    assert verify_log(tmp_path / "run.toml", allowed_signers=trust).status == "untrusted"


# -- refusals docs/evidence.md promises, each pinned (issue 23, 17) ---------------------------


def test_only_the_runbook_s_approvers_may_approve(tmp_path: Path, keys: Path) -> None:
    write_runbook(tmp_path, GATED.format(signers=keys / "allowed_signers", n=1).replace(
        "[vars]", '[approvals]\n    approvers = ["bob@example.com"]\n    [vars]'))
    assert run(tmp_path, str(keys / "alice")) == ExitCode.OPERATOR_NEEDED
    log = tmp_path / "run.toml"
    assert outcomes(log, "approval_needed")[0]["waiting_for"] == ["bob@example.com"]
    carol = approval_file(tmp_path / "c.approval", log, keys / "carol")
    assert run(tmp_path, str(keys / "alice"), resume="run.toml", approvals=(carol,)) == \
        ExitCode.OPERATOR_NEEDED
    assert outcomes(log, "approval_refused")[-1]["error"] == (
        "carol@example.com is not one of the runbook's approvers (bob@example.com)")
    assert not outcomes(log, "approval")


def test_an_approval_dated_ahead_is_refused(tmp_path: Path, keys: Path) -> None:
    work = gated(tmp_path, keys)
    assert run(work, str(keys / "alice")) == ExitCode.OPERATOR_NEEDED
    log = work / "run.toml"
    ahead = approval_file(work / "ahead.approval", log, keys / "carol", valid_for=600,
                          now=datetime.now(UTC) + timedelta(minutes=6))
    assert run(work, str(keys / "alice"), resume="run.toml", approvals=(ahead,)) == \
        ExitCode.OPERATOR_NEEDED
    assert outcomes(log, "approval_refused")[-1]["error"].startswith(
        "it is dated in the future (")
    assert not outcomes(log, "approval")


def test_an_approval_that_expires_while_the_step_waits_for_more_stops_counting(
        tmp_path: Path, keys: Path) -> None:
    """Two approvals needed; carol's comes with a few seconds left, nobody else approves:
    when it expires the run logs so and waits for two again (the console's case)."""
    import threading

    from swrun.engine import Settings
    from swrun.events import ApprovalGiven, ApprovalNeeded, ApprovalRefused
    from swrun.evidence.approve import approvals_dir, evidence_for
    from swrun.parser import load_runbook

    from helpers import ScriptedOperator, make_engine

    class Waiting(ScriptedOperator):
        interactive = True

    rb = load_runbook(write_runbook(tmp_path, GATED.format(signers=keys / "allowed_signers",
                                                           n=2)))
    log = tmp_path / "run.toml"
    settings = Settings(kill_grace=1.0, log_path=str(log),
                        evidence=evidence_for(rb, sign_with=str(keys / "alice")))
    engine = make_engine(rb, Waiting("alice@bastion"), {"TAG": "v1"}, settings=settings)
    seen: list[Any] = []
    timer = threading.Timer(60, engine.abort)  # a bound on the test, never reached when fine
    timer.start()
    try:
        for event in engine.run():
            seen.append(event)
            if isinstance(event, ApprovalNeeded):
                rec = event.to_record()
                data = make_approval(rec, settings.run_id, SigningKey.load(str(keys / "carol")),
                                     approver="carol@laptop", valid_for=4)
                folder = approvals_dir(log)
                folder.mkdir()
                (folder / "carol.approval").write_bytes(data)
            if isinstance(event, ApprovalRefused):
                engine.abort("seen")
    finally:
        timer.cancel()
    given = [e for e in seen if isinstance(e, ApprovalGiven)]
    refused = [e for e in seen if isinstance(e, ApprovalRefused)]
    assert [e.by for e in given] == ["carol@example.com"]
    assert len(refused) == 1 and refused[0].error.endswith(
        "while the step waited for more approvals"), refused[0].error
    assert not any(getattr(e, "step", None) == "migrate" and e.type == "step_started"
                   for e in seen)


# -- verify checks each approval from its signed file (issue 23, 3) ---------------------------


@pytest.fixture
def approved(tmp_path: Path, keys: Path) -> Path:
    """alice's gated run, stopped for approval, carol's approval carried in, completed."""
    work = gated(tmp_path, keys)
    assert run(work, str(keys / "alice")) == ExitCode.OPERATOR_NEEDED
    carol = approval_file(work / "carol.approval", work / "run.toml", keys / "carol")
    assert run(work, str(keys / "alice"), resume="run.toml", approvals=(carol,)) == \
        ExitCode.OK
    (work / "carol.approval").unlink()  # the run kept its own copy beside the log
    return work


def test_verify_checks_each_approval_against_its_signed_file(approved: Path,
                                                             keys: Path) -> None:
    log = approved / "run.toml"
    (event,) = outcomes(log, "approval")
    assert event["file"].startswith("run.approvals/0002-migrate-")
    assert len(event["file_sha256"]) == 64
    v = verify_log(log, allowed_signers=keys / "allowed_signers")
    assert v.ok and v.approvals == 1 and "1 approval(s)" in v.line(), v.line()
    # the kept file is evidence: removing it, or swapping in another file, is tampering
    kept = approved / event["file"]
    saved = kept.read_bytes()
    kept.unlink()
    v = verify_log(log, allowed_signers=keys / "allowed_signers")
    assert v.status == "tampered" and "is missing" in v.line()
    kept.write_bytes(saved.replace(b"approver", b"approver "))
    v = verify_log(log, allowed_signers=keys / "allowed_signers")
    assert v.status == "tampered" and "not the file the run accepted" in v.line()


def test_an_approval_event_rewritten_and_re_signed_by_the_operator_is_caught(
        approved: Path, keys: Path) -> None:
    """alice edits the approval to say bob approved, recomputes the chain and signs it all
    herself: the approval file says carol, so verify says tampered."""
    log = approved / "run.toml"
    starts = [e["seq"] for e in read_log(log).events if e["type"] == "run_resumed"]
    _rechain(log, lambda t: t.replace('by = "carol@example.com"', 'by = "bob@example.com"'))
    assert outcomes(log, "approval")[0]["by"] == "bob@example.com"
    last = read_log(log).events[-1]["seq"]
    _resign(log, keys / "alice", [starts[0] - 1, last])
    v = verify_log(log, allowed_signers=keys / "allowed_signers")
    assert v.status == "tampered", v.line()
    assert "not by who the log says" in " ".join(t for _, t in v.problems)


def test_an_approval_counts_for_one_execution_of_the_step(tmp_path: Path, keys: Path) -> None:
    """The approved step fails and is run again: the approval it used does not cover the
    re-run (issue 23, 15); `[approvals] reuse = true` says it may."""
    work = gated(tmp_path, keys)
    book = work / "rb.md"
    book.write_text(book.read_text().replace(
        "echo migrating to $TAG", "echo migrating to $TAG; [ -f again ] || { touch again; "
        "exit 5; }"))
    assert run(work, str(keys / "alice")) == ExitCode.OPERATOR_NEEDED
    log = work / "run.toml"
    approve_command(str(log), "2", sign_with=str(keys / "carol"), allowed_signers=None,
                    valid_for=None, output=None, yes=True)
    assert run(work, str(keys / "alice"), resume="run.toml") == ExitCode.STEP_FAILED
    assert [e["exit_code"] for e in outcomes(log, "step_finished")][-1] == 5
    # resumed: the step runs again, and carol's approval (still in the folder) was used
    assert run(work, str(keys / "alice"), resume="run.toml") == ExitCode.OPERATOR_NEEDED
    assert "it was used by the execution of step 2" in \
        outcomes(log, "approval_refused")[-1]["error"]
    assert len(outcomes(log, "step_started")) == 2  # prepare, migrate once
    book.write_text(book.read_text().replace("[vars]", "[approvals]\n    reuse = true\n    [vars]"
                                             if "    [vars]" in book.read_text() else
                                             "[approvals]\nreuse = true\n[vars]"))
    assert run(work, str(keys / "alice"), resume="run.toml") == ExitCode.OK


def test_a_bundle_holds_and_checks_the_inventory_the_run_used(tmp_path: Path,
                                                              keys: Path) -> None:
    (tmp_path / "inv.ini").write_text("[web]\nweb1 ansible_host=127.0.0.1\n")
    write_runbook(tmp_path, RUNBOOK.replace('environment = "staging"',
                                            'environment = "staging"\n    inventory = "inv.ini"')
                  .replace("exit 3", "exit 0"))
    assert run(tmp_path, str(keys / "alice")) == ExitCode.OK
    assert read_log(tmp_path / "run.toml").run["inventory_sha256"]
    signers = str(keys / "allowed_signers")
    res = cli(["verify", "run.toml", "--runbook", "rb.md", "--allowed-signers", signers,
               "--bundle", "b.tar"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    with tarfile.open(tmp_path / "b.tar") as tar:
        assert "inventory/inv.ini" in tar.getnames()

    def edit(d: Path) -> None:
        (d / "inventory" / "inv.ini").write_text("[web]\nweb1 ansible_host=10.9.9.9\n")
        text = (d / "MANIFEST.toml").read_text()
        import hashlib
        new = hashlib.sha256((d / "inventory" / "inv.ini").read_bytes()).hexdigest()
        (d / "MANIFEST.toml").write_text(re.sub(r'("inventory/inv.ini" = )"[0-9a-f]{64}"',
                                                rf'\1"{new}"', text))

    _repack(tmp_path / "b.tar", tmp_path / "c.tar", edit)
    bad = cli(["verify", "c.tar", "--allowed-signers", signers], tmp_path)
    assert bad.returncode == 9 and "is not the inventory the run used" in bad.stdout, bad.stdout


def test_an_approval_is_bound_to_secret_values_by_keyed_hash(tmp_path: Path,
                                                             keys: Path) -> None:
    """The approver saw `****`; a secret changed after the approval voids it (issue 23, 15),
    and neither the value nor a plain hash of it is written anywhere."""
    import hashlib

    text = GATED.format(signers=keys / "allowed_signers", n=1).replace(
        '[vars]', '[vars.DB_PASSWORD]\n    secret = true\n    [vars]').replace(
        "echo migrating to $TAG", 'echo migrating to $TAG with "${DB_PASSWORD:0:2}"')
    write_runbook(tmp_path, text)
    first = "hunter2-first"
    assert run(tmp_path, str(keys / "alice"), var=("TAG=v1", f"DB_PASSWORD={first}")) == \
        ExitCode.OPERATOR_NEEDED
    log = tmp_path / "run.toml"
    need = outcomes(log, "approval_needed")[0]
    assert set(need["secrets"]) == {"DB_PASSWORD"}
    assert (tmp_path / "run.run" / "approval.key").stat().st_mode & 0o777 == 0o600
    assert approve_command(str(log), "2", sign_with=str(keys / "carol"), allowed_signers=None,
                           valid_for=None, output=str(tmp_path / "c.approval"),
                           yes=True) == ExitCode.OK
    assert run(tmp_path, str(keys / "alice"), resume="run.toml", approvals=("c.approval",),
               var=("TAG=v1", "DB_PASSWORD=another-one")) == ExitCode.OPERATOR_NEEDED
    assert "it approves another command for step 2" in \
        outcomes(log, "approval_refused")[-1]["error"]
    assert run(tmp_path, str(keys / "alice"), resume="run.toml", approvals=("c.approval",),
               var=("TAG=v1", f"DB_PASSWORD={first}")) == ExitCode.OK
    plain = hashlib.sha256(first.encode()).hexdigest()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert first.encode() not in data and plain.encode() not in data, path


# -- witnesses outside the log (issue 23, 5) -------------------------------------------------


def _cut_back_to_first_part(log: Path) -> None:
    from swrun.evidence.sign import read_blocks, sig_path

    sig = sig_path(log)
    first = read_blocks(sig.read_text())[0]
    log.write_bytes(log.read_bytes()[:first.number("bytes")])
    text = sig.read_text()
    second = text.index("swrun log signature", 1)
    sig.write_text(text[:second])
    kept: dict[str, int] = {}  # and the output files back to what the first part recorded
    for e in read_log(log).events:
        if e.get("type") == "step_finished" and e.get("output_file"):
            kept[e["output_file"]] = e["output_bytes"]
    for path in (log.parent / "run.output").iterdir():
        rel = f"run.output/{path.name}"
        if rel in kept:
            path.write_bytes(path.read_bytes()[:kept[rel]])
        else:
            path.unlink()


def test_a_log_cut_back_to_an_earlier_signed_part_is_caught_by_the_witness(
        copy: Path, keys: Path, tmp_path: Path) -> None:
    """Cut a resumed run back to its first signed part and drop the later .sig block: the
    log alone verifies, but the registry witnessed the second part's head."""
    from swrun.evidence import witness

    log = copy / "run.toml"
    rid = read_log(log).run["id"]
    heads = witness.registry_heads(rid)
    assert len(heads) == 2 and heads[0].start == heads[1].start  # one line per signed part
    _cut_back_to_first_part(log)
    alone = verify_log(log, allowed_signers=keys / "allowed_signers", registry=False)
    assert alone.ok, alone.line()  # what nothing inside one file can prove
    v = verify_log(log, allowed_signers=keys / "allowed_signers")
    assert v.status == "tampered" and "it was cut back" in v.line(), v.line()
    # a witness kept elsewhere (a notification's line, a copy of the registry's) works too
    kept = tmp_path / "from-slack.witness"
    kept.write_text(heads[-1].line() + "\n")
    v = verify_log(log, allowed_signers=keys / "allowed_signers", registry=False,
                   witnesses=[kept])
    assert v.status == "tampered" and "from-slack.witness" in v.line()
    res = cli(["verify", "run.toml", "--allowed-signers", str(keys / "allowed_signers"),
               "--witness", str(kept)], copy)
    assert res.returncode == ExitCode.NOT_VERIFIED and "cut back" in res.stdout


def test_the_whole_log_is_witnessed_and_a_bundle_carries_its_witness(copy: Path,
                                                                     keys: Path) -> None:
    signers = str(keys / "allowed_signers")
    v = verify_log(copy / "run.toml", allowed_signers=keys / "allowed_signers")
    last = read_log(copy / "run.toml").events[-1]["seq"]
    assert v.ok and v.witnessed is not None and v.witnessed <= last
    assert f"witnessed up to seq {v.witnessed}" in v.line()
    assert cli(["verify", "run.toml", "--runbook", "rb.md", "--allowed-signers", signers,
                "--bundle", "b.tar"], copy).returncode == 0
    with tarfile.open(copy / "b.tar") as tar:
        assert any(n.startswith("witness/") for n in tar.getnames())
    _cut_back_to_first_part(copy / "run.toml")
    packed = tmp = copy / "cut.tar"

    def cut(d: Path) -> None:
        shutil.copy(copy / "run.toml", d / "run.toml")
        shutil.copy(copy / "run.toml.sig", d / "run.toml.sig")
        import hashlib
        text = (d / "MANIFEST.toml").read_text()
        for name in ("run.toml", "run.toml.sig"):
            new = hashlib.sha256((d / name).read_bytes()).hexdigest()
            text = re.sub(rf'("{re.escape(name)}" = )"[0-9a-f]{{64}}"', rf'\1"{new}"', text)
        (d / "MANIFEST.toml").write_text(text)

    _repack(copy / "b.tar", packed, cut)
    env = {**os.environ, "SWRUN_REGISTRY": str(tmp.parent / "empty-registry")}
    res = subprocess.run([*swrun_cmd(), "verify", "cut.tar", "--allowed-signers", signers],
                         cwd=copy, capture_output=True, text=True, timeout=60, env=env,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == ExitCode.NOT_VERIFIED and "cut back" in res.stdout, res.stdout
