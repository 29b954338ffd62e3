"""Reading the credentials file: its writers (the writer map) and its aliases.

One reader for the plugin and for `dns-autopilot doctor`, so both see the same setup.
"""

from __future__ import annotations

import logging
import os
import re

import configobj
from certbot import errors
from certbot.plugins.dns_common import CredentialsConfiguration

from . import links, names, scrub
from .options import flag
from .plan import aliases
from .writers.base import PREFIX, ZONES_KEY, check_mode
from .writers.registry import WRITERS, WriterMap, kinds, writers_from_credentials

#: certbot's own DNS plugins' key prefixes, which users migrate from by renaming.
CERTBOT_PREFIXES = {f"dns_{kind}_": kind for kind in WRITERS}
INI_FIX = ("write one `key = value` per line, `[name]` alone on a line to start a section, "
           "and values without quotes (see "
           f"{links.page('options', 'credentials-file-keys-common-to-every-writer')})")

logger = logging.getLogger(__name__)

SECRET_KEY = re.compile(r"secret|token|key|password|passwd|pass\b|auth|credential", re.I)
#: Of those, the keys that name a secret itself (not auth_username, an auth hook…): one too
#: short to be masked is warned about.
SHORT_WARNED = re.compile(r"secret|token|password|passwd|pass\b|key\b", re.I)


def _read(path: str) -> configobj.ConfigObj:
    """The file parsed as INI, or one PluginError naming the line and the fix. Lines are
    never quoted whole: a line that fails to parse may hold a secret."""
    if not os.path.exists(path):
        raise errors.PluginError(
            f"the credentials file {path} does not exist. Fix: create it with a record "
            f"writer's keys (chmod 600), or give its path with {flag('credentials')}")
    if not os.path.isfile(path):
        raise errors.PluginError(
            f"the credentials file {path} is not a regular file. Fix: give the path of the "
            f"INI file itself with {flag('credentials')}")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise errors.PluginError(
            f"the credentials file {path} cannot be read ({exc.strerror}). Fix: run certbot "
            f"as the file's owner (root for cron and systemd timers), or chown it") from None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise errors.PluginError(
            f"the credentials file {path} is not UTF-8 text (line {line} holds byte "
            f"0x{data[exc.start]:02x}). Fix: save it as plain UTF-8 text; {INI_FIX}") from None
    if b"\0" in data:
        line = data[:data.index(b"\0")].count(b"\n") + 1
        raise errors.PluginError(
            f"the credentials file {path} holds a NUL byte at line {line}: it is not a text "
            f"file. Fix: {INI_FIX}")
    try:
        # No interpolation: a secret holding "%(" or "$" is a value, not a reference.
        return configobj.ConfigObj(path, encoding="utf-8", interpolation=False)
    except configobj.ConfigObjError as exc:
        raise errors.PluginError(_parse_error(path, exc)) from None


def _parse_error(path: str, exc: configobj.ConfigObjError) -> str:
    found = getattr(exc, "errors", None) or [exc]
    first = found[0]
    line, text = getattr(first, "line_number", None), str(getattr(first, "line", "") or "")
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    where = f"the credentials file {path}, line {line}{more}"
    key = text.partition("=")[0].strip()
    if not (key.startswith("dns_") and key.replace("_", "").isalnum()):
        key = ""  # not a key name of ours: it may be pasted secret text, never shown
    header = text.strip()
    if isinstance(first, configobj.DuplicateError):
        if header.startswith("["):
            return (f"{where}: the section {header} appears twice. Fix: merge the two "
                    "sections, or give one of them another name")
        return (f"{where}: the key {key or 'on that line'} appears twice in one section. "
                f"Fix: keep one {key or 'such'} line (each section holds one writer)")
    if isinstance(first, configobj.NestingError) or header.startswith("[["):
        return (f"{where}: a section header is nested or unbalanced. Fix: write each section "
                "header as [name], with one pair of brackets, alone on its line")
    if header.startswith("[") or header.endswith("]"):
        shown = f" {header!r}" if "=" not in header and len(header) <= 80 else ""
        return (f"{where}: the section header{shown} is not closed or not opened. Fix: write "
                "it as [name], alone on its line")
    if "=" not in text:
        return (f"{where} is neither `key = value` nor a [section] header. Fix: {INI_FIX}; "
                "a value that goes on over several lines must be on one line")
    return (f"{where}: the value of {key or 'the key on that line'} cannot be read (an "
            "unbalanced quote, or text after a closing quote). Fix: write "
            f"{key or 'key'} = value without quotes, or with one pair of matching quotes "
            "around the whole value")


def _check_keys(confobj: configobj.ConfigObj, path: str) -> None:
    """A dns_autopilot_ key the plugin does not read is an error, and so are certbot's own
    plugins' keys where no dns_autopilot_ key is: ignored silently, a misspelt or unmigrated
    key would make the run fail later, far from the cause."""
    known = ", ".join(WRITERS)
    places = [(confobj, path, True)] + [
        (confobj[name], f"{path} [{name}]", False) for name in confobj.sections]
    for section, where, top in places:
        if not top and section.sections:
            raise errors.PluginError(
                f"{where} holds a nested section [[{section.sections[0]}]], which is not "
                "read. Fix: give each writer its own top-level [section]")
        ours = bool(kinds(section.scalars))  # a dns-autopilot writer is configured here
        for key in section.scalars:
            kind = next((k for prefix, k in CERTBOT_PREFIXES.items() if key.startswith(prefix)),
                        None)
            if kind and not ours:  # a file shared with certbot's plugin keeps its keys
                raise errors.PluginError(
                    f"{where} holds {key}, a key of certbot's own {kind} plugin. Fix: rename it "
                    f"to {PREFIX}{key[len('dns_'):]} (every dns_{kind}_* key becomes "
                    f"{PREFIX}{kind}_*)")
            if not key.startswith(PREFIX):
                continue
            rest = key[len(PREFIX):]
            if rest == ZONES_KEY or kinds([key]):
                continue
            if key == aliases.KEY:
                if not top:
                    raise errors.PluginError(
                        f"{where} holds {key}, which is read at the top of the file only. "
                        "Fix: move the line above the first [section]")
                continue
            raise errors.PluginError(
                f"{where} holds {key}, which is not a dns-autopilot key. Fix: writer keys "
                f"are {PREFIX}<writer>_<key> with <writer> one of {known}; any other DNS "
                f"provider goes through dns-lexicon: {PREFIX}lexicon_provider = "
                f"{rest.partition('_')[0] or '<provider>'} and its options as "
                f"{PREFIX}lexicon_<option> (see {links.page('providers/lexicon')})")


def _register_secrets(confobj: configobj.ConfigObj) -> list[str]:
    """Every value of a key that names a secret, kept out of every log record from now on
    (and a URL's userinfo password in any value); returns the keys of secrets too short to
    be masked."""
    short = []
    for section in (confobj, *(confobj[name] for name in confobj.sections)):
        for key in section.scalars:
            value = section[key]
            for text in value if isinstance(value, list) else [value]:
                scrub.register_userinfo(text)
            if SECRET_KEY.search(key) and not key.endswith("_id"):
                parts = value if isinstance(value, list) else [value]
                if isinstance(value, str) and ":" in value:  # ddns: algorithm:name:secret
                    parts.append(value.rsplit(":", 1)[1])
                scrub.register(parts)
                if SHORT_WARNED.search(key) and any(
                        len(str(p)) < scrub.MIN_SECRET for p in parts):
                    short.append(key)
    return short


def load(path: str) -> tuple[str, WriterMap, list[aliases.Alias]]:
    """(absolute path, writers, aliases); every problem is one PluginError naming the fix."""
    path = os.path.abspath(os.path.expanduser(path))
    check_mode(path)
    confobj = _read(path)
    short = _register_secrets(confobj)
    _check_keys(confobj, path)
    credentials = CredentialsConfiguration(path, lambda var: PREFIX + var.replace("-", "_"))
    credentials.confobj = confobj  # ours: read once, with interpolation off
    try:
        writers = writers_from_credentials(credentials, path)
    except names.InvalidName as exc:  # a name no check above covers: still one clear error
        raise errors.PluginError(f"a name in the credentials file {path} is not valid: {exc}. "
                                 "Fix: correct it (domain names such as example.com)") from None
    try:
        alias_list = aliases.parse(credentials.confobj.get(aliases.KEY))
    except aliases.AliasSyntaxError as exc:
        raise errors.PluginError(f"{exc} in {path}. Fix: {exc.fix}") from None
    for key in short:  # a writer's declared secret that short was refused above
        logger.warning("dns-autopilot: %s in %s is too short to be kept out of logs (under "
                       "%d characters, it would mask ordinary words): use a longer secret",
                       key, path, scrub.MIN_SECRET)
    return path, writers, alias_list
