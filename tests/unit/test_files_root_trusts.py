"""What root writes into directories other users can write (the node-exporter textfile, the
acme-dns registration store), and the files it trusts enough to act on (the credentials
file, certbot's renewal configurations): raced and planted by a real second user."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from certbot import errors
from unit_helpers import NOBODY, http_server, planted, write_cert

from certbot_dns_autopilot import credentials, statefiles
from certbot_dns_autopilot.cli import fleet
from certbot_dns_autopilot.cli import main as cli_main

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="a second user needs root to set up")


@pytest.fixture
def theirs() -> Iterator[Path]:
    """A directory the user ``nobody`` owns and writes (mode 0755, no sticky bit), as a
    node-exporter textfile directory often is, reachable by that user."""
    top = Path(tempfile.mkdtemp(dir="/tmp"))
    top.chmod(0o755)
    path = top / "textfile"
    path.mkdir()
    os.chown(path, NOBODY, NOBODY)
    yield path
    shutil.rmtree(top)


@as_root
def test_the_textfile_temp_swapped_for_a_symlink_never_makes_root_chmod_its_target(
        theirs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second user swaps root's temp file for a symlink to a private key the moment it
    exists; root's mode change must not follow it, nor the metrics path end as that link."""
    key = tmp_path / "private.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o600)
    racer = planted(f"""
        import os, time
        print("ready", flush=True)
        while True:
            temps = [n for n in os.listdir({str(theirs)!r}) if n.endswith(".tmp")]
            if temps:
                temp = os.path.join({str(theirs)!r}, temps[0])
                os.rename(temp, temp + ".moved")
                os.symlink({str(key)!r}, temp)
                print("swapped", flush=True)
                break
            time.sleep(0.001)
    """)
    made = tempfile.mkstemp

    def made_then_raced(*args: object, **kwargs: object) -> tuple[int, str]:
        fd, temp = made(*args, **kwargs)  # type: ignore[arg-type]
        assert racer.stdout and racer.stdout.readline().strip() == "swapped"
        return fd, temp

    monkeypatch.setattr(tempfile, "mkstemp", made_then_raced)
    target = theirs / "dns_autopilot.prom"
    refused: Exception | None = None
    try:
        fleet.write_atomically(str(target), "dns_autopilot_doctor_last_run 1\n")
    except statefiles.Unsafe as exc:
        refused = exc
    finally:
        racer.kill()
        racer.wait()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600, "root changed the key's mode"
    assert key.read_text() == "-----BEGIN PRIVATE KEY-----\n"
    assert not target.is_symlink(), "the metrics path was left as the planted link"
    assert refused is not None and "another user can write" in refused.why


STORED = {"old.example": {"username": "c36f50e8-4632-44f0-83fe-e070fef28a10",
                          "password": "pW-0123456789abcdefghijklmnopqrstuvwxyzAB"[:40],
                          "fulldomain": "d420c923.auth.example", "subdomain": "d420c923",
                          "allowfrom": []}}


def test_a_full_disk_while_registering_loses_no_stored_registration(tmp_path: Path) -> None:
    """`dns-autopilot acme-dns register` adding a domain to the registration file on a disk
    with no room left (the file-size limit of the process, as a full disk answers): the
    registrations already stored stay whole, and the command says so without a traceback."""
    store = tmp_path / "acmedns.json"
    store.write_text(json.dumps(STORED, indent=2) + "\n")
    store.chmod(0o600)
    before = store.read_bytes()
    registration = {"username": "0b6f3a8e-1a2b-4c3d-9e8f-001122334455", "password": "x" * 40,
                    "fulldomain": "0b6f3a8e.auth.example", "subdomain": "0b6f3a8e",
                    "allowfrom": []}
    with http_server(lambda _: (201, {}, json.dumps(registration).encode())) as (url, _):
        child = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(f"""
                import resource, signal, sys
                from certbot_dns_autopilot.cli import main
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails: EFBIG
                resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) + 40}, ) * 2)
                sys.exit(main.main(["acme-dns", "register", "-d", "new.example",
                                    "--api-url", {url!r},
                                    "--registration-file", {str(store)!r}]))
            """)], capture_output=True, text=True, timeout=60)
    assert store.read_bytes() == before, "the stored registrations were damaged"
    assert child.returncode == 2, child.stdout + child.stderr
    assert "Traceback" not in child.stderr and "new.example" in child.stderr
    assert sorted(os.listdir(tmp_path)) == ["acmedns.json"]


# -- the files root trusts -------------------------------------------------------------------

RFC2136 = ("dns_autopilot_rfc2136_server = 192.0.2.1\ndns_autopilot_rfc2136_name = acme-key\n"
           "dns_autopilot_rfc2136_secret = c2VjcmV0LXRoYXQtcm9vdC10cnVzdHM=\n")


def credentials_file(directory: Path, mode: int = 0o600) -> Path:
    path = directory / "autopilot.ini"
    path.write_text(RFC2136)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o622, 0o660], ids=lambda m: f"{m:04o}")
def test_a_credentials_file_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    """With the exec writer that file names the commands root runs."""
    path = credentials_file(tmp_path, mode)
    with pytest.raises(errors.PluginError) as refused:
        credentials.load(str(path))
    assert f"refusing the file {path}" in str(refused.value)
    assert f"can write to it (mode {mode:04o})" in str(refused.value)
    assert "Fix:" in str(refused.value)


@as_root
def test_a_credentials_file_of_another_user_is_refused(tmp_path: Path) -> None:
    path = credentials_file(tmp_path)
    os.chown(path, NOBODY, NOBODY)
    with pytest.raises(errors.PluginError) as refused:
        credentials.load(str(path))
    assert f"belongs to uid {NOBODY}, neither to root nor to this user" in str(refused.value)


@as_root
@pytest.mark.parametrize("where", ["every-user-writes", "a-group-writes", "another-users",
                                   "linked-from-another-users"])
def test_a_credentials_file_someone_else_could_replace_is_refused(
        theirs: Path, tmp_path: Path, where: str) -> None:
    """The file is root's, mode 600; the directory holding it (or holding the link to it)
    lets someone else put another file in its place."""
    directory = theirs.parent / "certs"
    directory.mkdir()
    if where == "every-user-writes":
        directory.chmod(0o777)
    elif where == "a-group-writes":
        os.chown(directory, 0, NOBODY)
        directory.chmod(0o770)
    elif where == "another-users":
        os.chown(directory, NOBODY, NOBODY)
    path = credentials_file(directory)
    if where == "linked-from-another-users":
        directory.chmod(0o700)
        path = theirs / "autopilot.ini"
        path.symlink_to(directory / "autopilot.ini")
    with pytest.raises(errors.PluginError) as refused:
        credentials.load(str(path))
    assert "refusing the file" in str(refused.value)
    assert str(theirs if where.startswith("linked") else directory) in str(refused.value)


def test_a_credentials_file_in_root_s_own_directories_is_used(tmp_path: Path) -> None:
    sticky = Path(tempfile.mkdtemp(dir="/tmp"))  # as /tmp is: others may only add names
    try:
        sticky.chmod(0o1777)
        for directory in (tmp_path, sticky):
            _, writers, _ = credentials.load(str(credentials_file(directory)))
            assert writers.writers
    finally:
        shutil.rmtree(sticky)


@as_root
def test_doctor_all_refuses_a_config_dir_another_user_owns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config"
    (config / "renewal").mkdir(parents=True)
    (config / "renewal" / "a.conf").write_text(
        "cert = /nonexistent/cert.pem\n[renewalparams]\nauthenticator = dns-autopilot\n")
    os.chown(config / "renewal", NOBODY, NOBODY)
    # UNKNOWN, as for a config dir that cannot be read: nothing in it was checked
    assert cli_main.main(["doctor", "--all", "--config-dir", str(config)]) == 3
    err = capsys.readouterr().err
    assert f"{config / 'renewal'}: it belongs to uid {NOBODY}" in err


@as_root
def test_doctor_all_refuses_renewal_configs_and_credentials_of_another_user(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """doctor --all as root acts on what each renewal config names: the credentials file
    (and so the commands an exec writer runs). Another user's are findings, never used."""
    config = tmp_path / "config"
    (config / "renewal").mkdir(parents=True)
    theirs_ini = credentials_file(tmp_path)
    os.chown(theirs_ini, NOBODY, NOBODY)
    write_cert(config / "live" / "x" / "cert.pem", ["x.example"],
               datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1))
    for name, owner in (("theirs", NOBODY), ("ours", 0)):
        conf = config / "renewal" / f"{name}.conf"
        conf.write_text(f"cert = {config / 'live' / 'x' / 'cert.pem'}\n[renewalparams]\n"
                        "authenticator = dns-autopilot\n"
                        f"dns_autopilot_credentials = {theirs_ini}\n")
        os.chown(conf, owner, owner)
    assert cli_main.main(["doctor", "--all", "--json", "--config-dir", str(config),
                          "--no-permission-probe"]) == 2
    by_name = {lin["name"]: lin for lin in json.loads(capsys.readouterr().out)["lineages"]}
    [refused] = by_name["theirs"]["findings"]
    assert refused["code"] == "renewal-config" and f"belongs to uid {NOBODY}" in refused["problem"]
    assert not by_name["theirs"]["checked"]
    [named] = by_name["ours"]["findings"]
    assert named["code"] == "bad-config" and f"refusing the file {theirs_ini}" in \
        named["problem"]
