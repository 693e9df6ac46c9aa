"""Inventories through ansible-core, and how an inventory host becomes an SSH target."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from swrun.errors import InventoryError
from swrun.inventory import Inventory
from swrun.ssh.target import resolve

INI = """\
[web]
web[01:03] ansible_host=10.0.1.1

[db]
db1 ansible_host=10.0.2.1 ansible_port=2200 ansible_user=postgres

[staging]
web03

[production:children]
web
db

[production:vars]
ansible_user=deploy
ansible_ssh_private_key_file=keys/deploy
swrun_known_hosts=known/prod
"""

YAML = """\
all:
  children:
    api:
      hosts:
        api-[a:c].example.com:
          ansible_port: 2222
      vars:
        ansible_user: node
    blue:
      hosts:
        api-a.example.com:
"""


@pytest.fixture(autouse=True)
def _cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The inventory cache goes to the test's own directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def ini(tmp_path: Path) -> Inventory:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "web.yml").write_text("ansible_user: webuser\napp_port: 8080\n")
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "web02.yml").write_text("ansible_port: 2202\n")
    path = tmp_path / "hosts.ini"
    path.write_text(INI)
    return Inventory(path)


def test_ini_groups_children_ranges_and_patterns(ini: Inventory) -> None:
    assert ini.names("web") == ["web01", "web02", "web03"]
    assert ini.names("production") == ["web01", "web02", "web03", "db1"]
    assert ini.names("web:&staging") == ["web03"]
    assert ini.names("production:!staging") == ["web01", "web02", "db1"]
    assert ini.names("web[0:1]") == ["web01", "web02"]
    assert ini.names("db1") == ["db1"]
    assert ini.names("nothing") == []


def test_host_and_group_vars_follow_ansible_precedence(ini: Inventory) -> None:
    web02 = {h.name: h.vars for h in ini.hosts("web")}["web02"]
    assert web02["ansible_user"] == "webuser"  # group_vars/web.yml beats [production:vars]
    assert web02["ansible_port"] == 2202        # host_vars/web02.yml
    assert "app_port" not in web02              # only the variables swrun reads are kept
    db1 = ini.hosts("db1")[0].vars
    assert db1["ansible_user"] == "postgres"    # host var beats group var
    assert db1["ansible_ssh_private_key_file"] == "keys/deploy"


def test_yaml_inventory(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text(YAML)
    inv = Inventory(path)
    assert inv.names("api") == ["api-a.example.com", "api-b.example.com", "api-c.example.com"]
    assert inv.names("api:&blue") == ["api-a.example.com"]
    assert inv.hosts("blue")[0].vars["ansible_user"] == "node"


def test_missing_inventory(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="no such inventory"):
        Inventory(tmp_path / "nope.ini")


def test_target_from_inventory_vars(ini: Inventory, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    host = ini.hosts("db1")[0]
    t = resolve(host.name, host.vars, base_dir=tmp_path)
    assert (t.name, t.hostname, t.port, t.user) == ("db1", "10.0.2.1", 2200, "postgres")
    assert t.key_files == (str(tmp_path / "keys" / "deploy"),)  # relative to the inventory
    assert t.known_hosts == (str(tmp_path / "known" / "prod"),)
    assert t.key_name == "[10.0.2.1]:2200" and t.jump is None


def test_ssh_config_fills_what_the_inventory_leaves_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("""
Host bastion
    HostName 192.0.2.10
    User jump
Host app1
    HostName 10.9.0.1
    Port 2201
    User alice
    IdentityFile ~/.ssh/app_key
    ProxyJump bastion,ops@gw2:2022
    UserKnownHostsFile ~/.ssh/known_apps
""")
    monkeypatch.setenv("HOME", str(home))
    t = resolve("app1", {})
    assert (t.hostname, t.port, t.user) == ("10.9.0.1", 2201, "alice")
    assert t.key_files == (str(home / ".ssh" / "app_key"),)
    assert t.known_hosts == (str(home / ".ssh" / "known_apps"),)
    assert t.jump is not None and (t.jump.hostname, t.jump.port, t.jump.user) == (
        "gw2", 2022, "ops")
    assert t.jump.jump is not None and (t.jump.jump.hostname, t.jump.jump.user) == (
        "192.0.2.10", "jump")
    # inventory vars win over the config file, as they do for Ansible
    t = resolve("app1", {"ansible_user": "deploy", "ansible_port": 22})
    assert (t.hostname, t.port, t.user) == ("10.9.0.1", 22, "deploy")
    # a host the config does not mention: its own name, port 22, the local user
    t = resolve("plain.example.com", {})
    assert (t.hostname, t.port, t.user) == ("plain.example.com", 22, getpass.getuser())
    t = resolve("x", {"ansible_host": "10.0.0.5",
                      "ansible_ssh_common_args": "-o ProxyJump=root@bastion -o Foo=bar"})
    assert t.jump is not None and (t.jump.hostname, t.jump.user) == ("192.0.2.10", "root")


PATTERNS = ["all", "web", "production", "web:&staging", "production:!staging", "web[0:1]",
            "web[2]", "db1", "web0*", "~web0[12]", "web,db", "nothing", "ungrouped"]


@pytest.mark.parametrize("text, name", [(INI, "hosts.ini"), (YAML, "hosts.yml")])
def test_cached_answers_equal_ansible_cores_and_skip_its_import(
        tmp_path: Path, text: str, name: str) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("ansible_user: everyone\n")
    (tmp_path / "group_vars" / "web.yml").write_text("ansible_user: webuser\n")
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "web02.yml").write_text("ansible_port: 2202\n")
    path = tmp_path / name
    path.write_text(text)
    patterns = [*PATTERNS, "api", "api:&blue", "api[1:]", "*.example.com"]
    fresh = Inventory(path, cache=False)
    expected = {p: [(h.name, h.vars) for h in fresh.hosts(p)] for p in patterns}
    first = Inventory(path)
    assert {p: [(h.name, h.vars) for h in first.hosts(p)] for p in patterns} == expected
    again = Inventory(path)
    assert {p: [(h.name, h.vars) for h in again.hosts(p)] for p in patterns} == expected
    assert not again.loaded_ansible  # every answer came from the cache
    assert any(v for hosts in expected.values() for _, v in hosts)


def test_cache_follows_the_files_and_keeps_no_secrets(tmp_path: Path, _cache_home: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[web]\nweb1 ansible_host=10.0.0.1 ansible_password=hunter2 db_token=t0k\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "web.yml").write_text("ansible_port: 22\n")
    assert Inventory(path).names("web") == ["web1"]
    cached = next(_cache_home.rglob("*.json"))
    assert "hunter2" not in cached.read_text() and "t0k" not in cached.read_text()
    assert oct(cached.stat().st_mode & 0o777) == "0o600"
    assert Inventory(path).hosts("web")[0].vars == {"ansible_host": "10.0.0.1",
                                                    "ansible_port": 22}
    # a group_vars file changes: the cache no longer applies
    (tmp_path / "group_vars" / "web.yml").write_text("ansible_port: 2222\n")
    inv = Inventory(path)
    assert inv.hosts("web")[0].vars["ansible_port"] == 2222 and inv.loaded_ansible
    # the inventory itself changes
    path.write_text("[web]\nweb1\nweb2\n")
    assert Inventory(path).names("web") == ["web1", "web2"]
    # vault data is never cached
    vaulted = tmp_path / "v" / "hosts.ini"
    vaulted.parent.mkdir()
    vaulted.write_text("[web]\nweb9\n")
    (vaulted.parent / "host_vars").mkdir()
    (vaulted.parent / "host_vars" / "web9.yml").write_text("x: !vault |\n  $ANSIBLE_VAULT;1.1\n")
    Inventory(vaulted, cache=True)
    assert Inventory(vaulted).loaded_ansible
