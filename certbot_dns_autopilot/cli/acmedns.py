"""`dns-autopilot acme-dns register`: registrations made at an acme-dns server, stored in the
registration file its writer reads (`writers.acmedns`, the format acme-dns's own certbot hook
writes), and the CNAME each domain needs.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .. import names, scrub, statefiles
from ..codes import Code
from ..errors import AutopilotError
from ..shown import shown
from ..writers import apierrors
from ..writers.acmedns import Redirected, post
from ..writers.endpoints import check_endpoint


def _load_raw(path: str) -> dict[str, Any]:
    """The registration file as JSON (empty when it does not exist yet)."""
    try:
        fd = statefiles.open_file(path, os.O_RDONLY)
    except FileNotFoundError:
        return {}
    with os.fdopen(fd, "rb") as file:
        data = json.loads(file.read() or b"{}")
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _save(path: str, data: dict[str, Any], domain: str) -> None:
    """Write the file anew beside itself and rename it into place, mode 600: a crash or a
    full disk leaves the registrations stored before as they were.

    :raises AutopilotError: (``bad-config``) it could not be written (the registration
        just made is not kept).
    """
    try:
        statefiles.write_replacing(path, json.dumps(data, indent=2).encode() + b"\n", 0o600)
    except (OSError, statefiles.Unsafe) as exc:
        why = exc.why if isinstance(exc, statefiles.Unsafe) else exc.strerror
        raise AutopilotError(
            Code.BAD_CONFIG, f"the registration of {domain} could not be stored in {path} "
            f"({why}); the registrations stored before are unchanged",
            "make room (or correct the directory's permissions) and register it again: the "
            "registration just made at the server stays unused") from None


def register(api_url: str, path: str, domains: list[str], allow_from: list[str],
             say: Any = print) -> int:
    """Register each domain not yet in the file, store its credentials, print its CNAME."""
    import requests

    check_endpoint(api_url, "--api-url", "the command line")
    path = os.path.abspath(os.path.expanduser(path))
    try:
        data = _load_raw(path)
    except statefiles.Unsafe as exc:
        raise exc.error() from None
    except (OSError, ValueError) as exc:
        raise AutopilotError(
            Code.BAD_CONFIG, f"the registration file {path} cannot be read ({exc})",
            "point --registration-file at a JSON file of registrations, or at a new path"
        ) from None
    scrub.register(e.get("password") for e in data.values() if isinstance(e, dict))
    records = []
    for domain in dict.fromkeys(names.normalize(d.removeprefix("*.")) for d in domains):
        if domain not in data:
            body = {"allowfrom": allow_from} if allow_from else None
            try:
                response = post(f"{api_url.rstrip('/')}/register", json=body)
            except Redirected as exc:
                raise apierrors.redirected(f"the acme-dns API at {api_url}",
                                           f"the registration of {domain}", exc.status,
                                           exc.location, "--api-url") from None
            except requests.RequestException as exc:
                raise AutopilotError(
                    Code.PROVIDER_UNREACHABLE,
                    f"the acme-dns API at {api_url} could not be reached "
                    f"({type(exc).__name__})", "check --api-url and this host's route to it"
                ) from None
            try:
                entry = response.json()
            except ValueError:
                entry = {}
            if response.status_code != 201 or "fulldomain" not in entry:
                error = shown(str(entry.get("error") or response.status_code), limit=80)
                fix = ("give each --allow-from as a CIDR, e.g. 192.0.2.0/24"
                       if error == "invalid_allowfrom_cidr" else "check the server's logs")
                raise AutopilotError(Code.PERMISSION_DENIED, f"the acme-dns API at {api_url} "
                                     f"refused the registration of {domain} ({error})", fix)
            scrub.register([entry.get("password")])
            data[domain] = entry
            _save(path, data, domain)  # after each: a registration made is never lost
            say(f"registered {domain} at {api_url}; credentials stored in {path} (mode 600)")
        else:
            say(f"{domain} is already registered in {path}")
        records.append(f"{names.validation_name(domain)}. CNAME "
                       f"{names.normalize(str(data[domain]['fulldomain']))}.")
    say("Create these records in your DNS (once; they never change):")
    for record in records:
        say(f"  {record}")
    return 0
