"""Reading the credentials file: its writers (the writer map) and its aliases.

One reader for the plugin and for `dns-autopilot doctor`, so both see the same setup. The
file is read once (configobj, no interpolation): its keys are checked, its secrets
registered with the log scrubber, and its writers built from the same parse. Every mistake
in it is one ``bad-config`` error naming the line or key and the fix.
"""

from __future__ import annotations

import logging
import os
import re

import configobj

from . import links, names, scrub
from .codes import Code
from .errors import AutopilotError
from .options import flag
from .plan import aliases
from .writers import Context, WriterMap, registry, secretfile, writers_from_credentials
from .writers.schema import KEY_PREFIX
from .writers.zonelist import ZONES_KEY

INI_FIX = ("write one `key = value` per line, `[name]` alone on a line to start a section, "
           "and values without quotes (see "
           f"{links.page('options', 'credentials-file-keys-common-to-every-writer')})")

logger = logging.getLogger(__name__)

SECRET_KEY = re.compile(r"secret|token|key|password|passwd|pass\b|auth|credential", re.I)
#: Of those, the keys that name a secret itself (not auth_username, an auth hook…): one too
#: short to be masked is warned about.
SHORT_WARNED = re.compile(r"secret|token|password|passwd|pass\b|key\b", re.I)


def _bad(problem: str, fix: str) -> AutopilotError:
    return AutopilotError(Code.BAD_CONFIG, problem, fix)


def _read(path: str) -> configobj.ConfigObj:
    """The file parsed as INI, or one error naming the line and the fix. Lines are never
    quoted whole: a line that fails to parse may hold a secret."""
    if not os.path.exists(path):
        raise _bad(f"the credentials file {path} does not exist",
                   f"create it with a record writer's keys (chmod 600), or give its path with "
                   f"{flag('credentials')}")
    if not os.path.isfile(path):
        raise _bad(f"the credentials file {path} is not a regular file",
                   f"give the path of the INI file itself with {flag('credentials')}")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise _bad(f"the credentials file {path} cannot be read ({exc.strerror})",
                   "run certbot as the file's owner (root for cron and systemd timers), or "
                   "chown it") from None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise _bad(f"the credentials file {path} is not UTF-8 text (line {line} holds byte "
                   f"0x{data[exc.start]:02x})", f"save it as plain UTF-8 text; {INI_FIX}"
                   ) from None
    if b"\0" in data:
        line = data[:data.index(b"\0")].count(b"\n") + 1
        raise _bad(f"the credentials file {path} holds a NUL byte at line {line}: it is not a "
                   "text file", INI_FIX)
    try:
        # No interpolation: a secret holding "%(" or "$" is a value, not a reference.
        return configobj.ConfigObj(path, encoding="utf-8", interpolation=False)
    except configobj.ConfigObjError as exc:
        raise _bad(*_parse_error(path, exc)) from None


def _parse_error(path: str, exc: configobj.ConfigObjError) -> tuple[str, str]:
    """(problem, fix) of configobj's first error, naming its line."""
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
            return (f"{where}: the section {header} appears twice",
                    "merge the two sections, or give one of them another name")
        return (f"{where}: the key {key or 'on that line'} appears twice in one section",
                f"keep one {key or 'such'} line (each section holds one writer)")
    if isinstance(first, configobj.NestingError) or header.startswith("[["):
        return (f"{where}: a section header is nested or unbalanced",
                "write each section header as [name], with one pair of brackets, alone on "
                "its line")
    if header.startswith("[") or header.endswith("]"):
        shown = f" {header!r}" if "=" not in header and len(header) <= 80 else ""
        return (f"{where}: the section header{shown} is not closed or not opened",
                "write it as [name], alone on its line")
    if "=" not in text:
        return (f"{where} is neither `key = value` nor a [section] header",
                f"{INI_FIX}; a value that goes on over several lines must be on one line")
    return (f"{where}: the value of {key or 'the key on that line'} cannot be read (an "
            "unbalanced quote, or text after a closing quote)",
            f"write {key or 'key'} = value without quotes, or with one pair of matching quotes "
            "around the whole value")


def _certbots_own(key: str) -> str | None:
    """The writer kind whose certbot plugin a key belongs to (``dns_cloudflare_api_token``:
    cloudflare), which users migrate from by renaming; None for any other key."""
    kind, sep, _ = key.removeprefix("dns_").partition("_")
    if not key.startswith("dns_") or key.startswith(KEY_PREFIX) or not sep:
        return None
    return kind if registry.kind(kind) is not None else None


def _check_keys(confobj: configobj.ConfigObj, path: str) -> None:
    """A dns_autopilot_ key the plugin does not read is an error, and so are certbot's own
    plugins' keys where no dns_autopilot_ key is: ignored silently, a misspelt or unmigrated
    key would make the run fail later, far from the cause."""
    places = [(confobj, path, True)] + [
        (confobj[name], f"{path} [{name}]", False) for name in confobj.sections]
    for section, where, top in places:
        if not top and section.sections:
            raise _bad(f"{where} holds a nested section [[{section.sections[0]}]], which is not "
                       "read", "give each writer its own top-level [section]")
        ours = bool(registry.kinds(section.scalars))  # a dns-autopilot writer is configured
        for key in section.scalars:
            kind = _certbots_own(key)
            if kind and not ours:  # a file shared with certbot's plugin keeps its keys
                raise _bad(f"{where} holds {key}, a key of certbot's own {kind} plugin",
                           f"rename it to {KEY_PREFIX}{key[len('dns_'):]} (every dns_{kind}_* "
                           f"key becomes {KEY_PREFIX}{kind}_*)")
            if not key.startswith(KEY_PREFIX):
                continue
            rest = key[len(KEY_PREFIX):]
            if rest == ZONES_KEY or registry.kinds([key]):
                continue
            if key == aliases.KEY:
                if not top:
                    raise _bad(f"{where} holds {key}, which is read at the top of the file "
                               "only", "move the line above the first [section]")
                continue
            raise _bad(
                f"{where} holds {key}, which is not a dns-autopilot key",
                f"writer keys are {KEY_PREFIX}<writer>_<key> with <writer> one of "
                f"{', '.join(registry.every_kind())}; any other DNS provider goes through "
                f"dns-lexicon: {KEY_PREFIX}lexicon_provider = "
                f"{rest.partition('_')[0] or '<provider>'} and its options as "
                f"{KEY_PREFIX}lexicon_<option> (see {links.page('providers/lexicon')})")


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


def load(path: str, context: Context | None = None
         ) -> tuple[str, WriterMap, list[aliases.Alias]]:
    """(absolute path, writers, aliases), the writers built with the run's ``context``.

    :raises AutopilotError: (``bad-config``) one error naming the mistake and the fix.
    """
    path = os.path.abspath(os.path.expanduser(path))
    secretfile.check(path)
    confobj = _read(path)
    short = _register_secrets(confobj)
    _check_keys(confobj, path)
    try:
        writers = writers_from_credentials(confobj, path, context)
    except names.InvalidName as exc:  # a name no check above covers: still one clear error
        raise _bad(f"a name in the credentials file {path} is not valid: {exc}",
                   "correct it (domain names such as example.com)") from None
    try:
        alias_list = aliases.parse(confobj.get(aliases.KEY))
    except aliases.AliasSyntaxError as exc:
        raise _bad(f"{exc} in {path}", exc.fix) from None
    for key in short:  # a writer's declared secret that short was refused above
        logger.warning("dns-autopilot: %s in %s is too short to be kept out of logs (under "
                       "%d characters, it would mask ordinary words): use a longer secret",
                       key, path, scrub.MIN_SECRET)
    return path, writers, alias_list
