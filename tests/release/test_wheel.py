"""The wheel as a user gets it: installed (not editable) beside certbot in a clean venv."""

from __future__ import annotations

import email
import re
import textwrap
import zipfile
from pathlib import Path

import pytest
from release_paths import DEV_BIN, DIST, TOP, plugin_options, run

pytestmark = pytest.mark.release

def _extras() -> dict[str, set[str]]:
    """extra -> the distributions it must bring: each writer's, as its module declares them
    (every distribution a writer imports, not left to the SDK's own), and DoH's client."""
    from certbot_dns_autopilot.writers import registry

    found = {name: {re.match(r"[A-Za-z0-9_.-]+", requirement)[0].lower()
                    for requirement in kind.cls.extra}
             for name, kind in registry.every_kind().items() if kind.cls and kind.cls.extra}
    return {**found, "doh": {"dnspython"}}  # dnspython[doh]: HTTP/2, for DoH resolvers


EXTRAS = _extras()
#: top-level modules of the SDKs: certbot imports every plugin on every run, so none of
#: these may be imported until a writer of that kind is configured.
SDK_MODULES = ("cloudflare", "boto3", "botocore", "azure", "lexicon", "moto")


def _wheel() -> Path:
    wheels = sorted(DIST.glob("certbot_dns_autopilot-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in dist/, found {wheels}"
    return wheels[0]


def test_certbot_plugins_lists_the_plugin(release_bin, certbot_dirs):
    result = run(release_bin / "certbot", "plugins", "--text", *certbot_dirs)
    assert result.returncode == 0, result.stderr
    assert "* dns-autopilot" in result.stdout
    assert "certbot_dns_autopilot.plugin.authenticator:Authenticator" in result.stdout


def test_help_lists_every_option_with_its_help(release_bin, certbot_dirs):
    result = run(release_bin / "certbot", "--help", "dns-autopilot", *certbot_dirs)
    assert result.returncode == 0, result.stderr
    # argparse prints each option on a line of its own, its help indented below or beside.
    blocks: dict[str, str] = {}
    current = None
    for line in result.stdout.splitlines():
        match = re.match(r"\s{2}(--dns-autopilot-[a-z0-9-]+)(?: \S+)?(.*)$", line)
        if match:
            current = match.group(1)
            blocks[current] = match.group(2)
        elif current and line.startswith(" " * 8):
            blocks[current] += " " + line.strip()
        else:
            current = None
    for option, kwargs in plugin_options().items():
        assert option in blocks, f"{option} missing from `certbot --help dns-autopilot`"
        shown = " ".join(blocks[option].split())
        assert len(shown.split()) >= 5, f"{option} has no useful help text: {shown!r}"
        # The help text the plugin defines is the one certbot shows (start of it, unwrapped).
        assert " ".join(kwargs["help"].split())[:40] in shown, option
    unknown = set(blocks) - set(plugin_options())
    assert not unknown, f"certbot shows options the plugin does not define: {unknown}"


def test_doctor_help(release_bin):
    result = run(release_bin / "dns-autopilot", "doctor", "--help")
    assert result.returncode == 0, result.stderr
    for flag in ("-d", "--credentials", "--resolvers", "--json"):
        assert flag in result.stdout


def test_installed_from_the_wheel_without_extras(release_bin):
    code = textwrap.dedent("""
        import importlib.util, json, sys
        from importlib import metadata
        import certbot_dns_autopilot.plugin.authenticator as a
        dist = metadata.distribution("certbot-dns-autopilot")
        print(json.dumps({
            "file": a.__file__,
            "typed": any(str(f).endswith("certbot_dns_autopilot/py.typed") for f in dist.files),
            "direct_url": dist.read_text("direct_url.json") or "",
            "sdks": [m for m in %r if importlib.util.find_spec(m) is not None],
        }))
    """) % (SDK_MODULES,)
    # -I: not the source tree in the current directory, only what the venv installed.
    result = run(release_bin / "python", "-I", "-c", code)
    assert result.returncode == 0, result.stderr
    info = __import__("json").loads(result.stdout)
    assert info["file"].startswith(str(release_bin.parent)), info["file"]
    assert info["typed"], "py.typed is not installed"
    assert '"editable": true' not in info["direct_url"]
    # An RFC 2136 user gets no cloud SDK: they are extras.
    assert info["sdks"] == []


def test_a_writer_without_its_sdk_names_the_extra(release_bin, tmp_path):
    ini = tmp_path / "cloudflare.ini"
    ini.write_text("dns_autopilot_cloudflare_api_token = "
                   "0123456789abcdefghijklmnopqrstuvwxyzABCD\n")
    ini.chmod(0o600)
    code = ("from certbot import errors\n"
            "from certbot_dns_autopilot import credentials\n"
            "try:\n"
            f"    credentials.load({str(ini)!r})\n"
            "except errors.PluginError as exc:\n"
            "    print(exc)\n")
    result = run(release_bin / "python", "-I", "-c", code)
    assert result.returncode == 0, result.stderr
    assert "pip install 'certbot-dns-autopilot[cloudflare]'" in result.stdout


def test_wheel_metadata_has_the_extras():
    with zipfile.ZipFile(_wheel()) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(wheel.read(name))
        entry_points = wheel.read(name.replace("METADATA", "entry_points.txt")).decode()
        assert "certbot_dns_autopilot/py.typed" in wheel.namelist()
    extras = set(meta.get_all("Provides-Extra"))
    assert set(EXTRAS) | {"all"} <= extras
    requires: dict[str, set[str]] = {}
    for line in meta.get_all("Requires-Dist"):
        match = re.match(r"([A-Za-z0-9_.-]+).*extra == \"([a-z0-9]+)\"", line)
        if match:
            requires.setdefault(match.group(2), set()).add(match.group(1).lower())
    base = {re.match(r"[A-Za-z0-9_.-]+", line)[0].lower()
            for line in meta.get_all("Requires-Dist") if "extra ==" not in line}
    assert base == {"certbot", "acme", "dnspython", "publicsuffixlist", "configobj"}, base
    for extra, wanted in EXTRAS.items():
        assert requires.get(extra) == wanted, (extra, requires.get(extra))
    assert requires["all"] == set().union(*EXTRAS.values())
    assert ("dns-autopilot = certbot_dns_autopilot.plugin.authenticator:Authenticator"
            in entry_points)
    assert "dns-autopilot = certbot_dns_autopilot.cli.main:main" in entry_points


def test_twine_check():
    files = sorted(DIST.glob("*"))
    assert any(f.suffix == ".whl" for f in files) and any(f.name.endswith(".tar.gz")
                                                          for f in files)
    result = run(DEV_BIN / "twine", "check", "--strict", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_start_up_imports_no_sdk():
    """With every SDK installed (.venv), loading the plugin as certbot does imports none."""
    code = ("import sys\n"
            "import certbot_dns_autopilot.plugin.authenticator, certbot_dns_autopilot.cli.doctor\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {SDK_MODULES!r}))\n")
    result = run(DEV_BIN / "python", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_start_up_loads_what_the_options_need_only():
    """certbot imports the plugin's module on every invocation (every cron renewal, `certbot
    certificates`): that loads the options, not the codes, the errors, the log scrubber nor
    any step of a run (bench/startup.sh measures what it costs)."""
    code = ("import sys, certbot_dns_autopilot.plugin.authenticator\n"
            "print(' '.join(m for m in sys.modules if m.startswith('certbot_dns_autopilot')))\n")
    result = run(DEV_BIN / "python", "-c", code)
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert "certbot_dns_autopilot.options" in loaded
    for later in ("codes", "errors", "scrub", "dnsio", "plugin.run", "plan", "preflight",
                  "writers", "wait", "diagnose", "cleanup"):
        assert f"certbot_dns_autopilot.{later}" not in loaded, later


def test_sdist_carries_the_docs_and_tests():
    import tarfile

    sdists = sorted(DIST.glob("*.tar.gz"))
    assert len(sdists) == 1
    with tarfile.open(sdists[0]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    for path in ("README.md", "certbot_dns_autopilot/py.typed", "docs/conf.py", "docs/index.md",
                 "tests/release/test_wheel.py", "lab/requirements.txt"):
        assert path in names, path
    assert TOP.joinpath("MANIFEST.in").exists()
