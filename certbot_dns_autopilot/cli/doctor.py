"""`dns-autopilot doctor`: every pre-flight probe for some names, without an ACME order.

Same credentials file and resolvers as the plugin; also proves each writer can create,
read back and delete a record (the plugin's own run proves that by writing). Exit status,
the Nagios convention: 0 healthy, 1 warnings, 2 errors, 3 unknown (a usage error, a config
dir that cannot be read). `doctor --all` checks every lineage certbot renews with the
plugin, each with its saved options (`fleet.py`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from certbot import errors

from .. import credentials, lookups, preflight
from ..errors import AutopilotError
from ..options import BY_NAME
from ..plan.routing import Route
from ..preflight import account, caa, cnames
from ..preflight.findings import ERROR, Finding, by_cause, exit_status
from ..shown import LONG, shown
from ..writers import Context, Locks

#: lineages `doctor --all` checks at once: each check already asks its servers concurrently
DEFAULT_JOBS = 4
#: certbot's config directory when --config-dir is not given
CONFIG_DIR = "/etc/letsencrypt"
#: the exit status of a usage error or a config dir that cannot be read: UNKNOWN in the
#: Nagios convention (0 OK, 1 WARNING, 2 CRITICAL are the findings')
UNKNOWN = 3


def said(command: str, exc: BaseException) -> str:
    """An error as one line group prefixed once: ``dns-autopilot doctor: ...``, or, for an
    AutopilotError (which starts ``dns-autopilot [code]:``), ``dns-autopilot doctor [code]:``."""
    text, ours = str(exc), "dns-autopilot "
    if text.startswith(ours + "["):
        return f"{ours}{command} {text[len(ours):]}"
    return f"{ours}{command}: {text}"


@dataclass(frozen=True)
class Check:
    """One doctor check: the names, the plugin's options doctor takes (by their names in
    the options table, each value as the table reads it), and where certbot keeps its
    state. `cli.main` makes one from the command line, `fleet` from a lineage's renewal
    configuration."""

    domains: tuple[str, ...]
    options: dict[str, Any]
    server: str | None = None
    config_dir: str | None = None
    work_dir: str | None = None
    account: str | None = None
    no_permission_probe: bool = False

    def option(self, name: str) -> Any:
        """An option's value, its default when not given."""
        value = self.options.get(name)
        return BY_NAME[name].parse(BY_NAME[name].default) if value is None else value

    @property
    def certbot_config(self) -> str:
        """certbot's config directory: the one given, else certbot's default."""
        return self.config_dir or CONFIG_DIR


def diagnose(check: Check) -> tuple[list[dict], list[Finding]]:
    """The routes of the check's names and every finding, one per cause (the same cause for
    example.com and *.example.com is one finding naming both)."""
    # the probe's writes and a renewal's exclude each other: the same locks
    _, writers, alias_list = credentials.load(check.option("credentials"),
                                              Context(locks=Locks(check.work_dir)))
    built = lookups.build(writers, alias_list, check.option("resolvers"),
                          check.option("address-family"),
                          follow_cnames=check.option("follow-cnames"))
    found = list(built.findings)
    if built.router is None or built.zones is None:  # no resolver works: nothing else can
        return [], found                             # be known from here
    zones, router = built.zones, built.router
    routes: list[Route] = []
    for domain in check.domains:
        try:
            route = router.route(domain)
        except AutopilotError as exc:
            found.append(Finding(exc.code, ERROR, domain, exc.problem, exc.evidence, exc.fix))
            continue
        if route.origin not in {r.origin for r in routes}:
            routes.append(route)
    identities = preflight.ca_identities(check.option("caa-identities"), check.server)
    requester = caa.Requester(find_account(check), check.server,
                              account.is_staging(check.server))
    found += preflight.run(routes, list(check.domains), zones, identities,
                           probe_permission=not check.no_permission_probe, requester=requester)
    found += preflight.rate_limits(list(check.domains), check.server, check.certbot_config)
    for route in routes:  # a run waits for these; a check made before one says so
        found += cnames.cname_links(route.origin, route.chain, zones)
    return [r.as_dict() for r in routes], by_cause(found)


def find_account(check: Check) -> str | None:
    """The account given, else the only account certbot stores for the server in its
    config directory."""
    if check.account:
        return check.account.strip()
    if not check.server:
        return None
    stored = account.urls(account.accounts_dir(check.certbot_config, check.server))
    return stored[0] if len(stored) == 1 else None


def report(check: Check, as_json: bool = False) -> int:
    """`doctor -d NAME --credentials PATH`: prints the findings (or JSON); exit 0 healthy,
    1 warnings, 2 errors (a credentials file the plugin could not use is one)."""
    try:
        routes, found = diagnose(check)
    except errors.PluginError as exc:
        print(said("doctor", exc), file=sys.stderr)
        return 2
    status = exit_status(found)
    if as_json:
        json.dump({"names": list(check.domains), "account": find_account(check),
                   "routes": routes, "findings": [f.as_dict() for f in found],
                   "status": status}, sys.stdout, indent=1)
        print()
        return status
    known = find_account(check)
    if known:
        print(f"ACME account (CAA accounturi): {known}")
    for route in routes:
        via = f" (via {' -> '.join(route['chain'][1:])})" if route["chain"] and \
            len(route["chain"]) > 1 else ""
        print(shown(f"{route['name']}: written at {route['target']} in zone {route['zone']}"
                    f"{via} by {route['writer']}", LONG))
    print()
    for finding in found:
        print(finding.text())
    print({0: "healthy: no findings", 1: f"{len(found)} warning(s)",
           2: f"{sum(f.severity == ERROR for f in found)} error(s), "
              f"{sum(f.severity != ERROR for f in found)} warning(s)"}[status])
    return status
