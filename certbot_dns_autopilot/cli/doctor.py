"""`dns-autopilot doctor`: every pre-flight probe for some names, without an ACME order.

Same credentials file and resolvers as the plugin; also proves each writer can create,
read back and delete a record (the plugin's own run proves that by writing). Exit status:
0 healthy, 1 warnings, 2 errors. `doctor --all` checks every lineage certbot renews with
the plugin, each with its saved options (`fleet.py`).
"""

from __future__ import annotations

import argparse
import json
import sys

from certbot import errors
from certbot.compat import misc

from .. import __version__, credentials, dnsio, names, preflight
from ..errors import AutopilotError
from ..options import OPTIONS, parse_resolvers
from ..plan.chain import Follower
from ..plan.routing import Router
from ..preflight import account, caa, links
from ..preflight.findings import ERROR, Finding, exit_status
from ..shown import LONG, shown
from ..writers import locks

#: lineages `doctor --all` checks at once: each check already asks its servers concurrently
DEFAULT_JOBS = 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dns-autopilot",
                                     description="certbot-dns-autopilot tools")
    parser.add_argument("--version", action="version",
                        version=f"dns-autopilot {__version__} (certbot-dns-autopilot)")
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser(
        "doctor", help="run every pre-flight probe for the given names, without an ACME order",
        description=__doc__.split("\n\n")[0])
    doctor.add_argument("-d", "--domain", dest="domains", action="append",
                        help="a name of the certificate (repeat for several; *.name for "
                        "wildcards); required unless --all")
    for option in OPTIONS:  # the plugin's options doctor takes, under their short names
        if option.doctor:
            doctor.add_argument(f"--{option.name}", **option.argparse_kwargs())
    doctor.add_argument("--server", default=None,
                        help="ACME directory URL, to read the CA's caaIdentities from")
    doctor.add_argument("--config-dir", default="/etc/letsencrypt",
                        help="certbot's config directory, whose archive holds this machine's "
                        "issuance history (for the rate-limit check on production endpoints) "
                        "and whose accounts/ the ACME account of --server (for CAA "
                        "accounturi)")
    doctor.add_argument("--work-dir", default=misc.get_default_folder("work"),
                        help="certbot's work directory, under which renewals keep the locks of "
                        "the writers that rewrite a whole record set (Route 53, lexicon): "
                        "doctor's permission probe takes the same locks (default: certbot's, "
                        "%(default)s; with --all, each lineage's saved work_dir)")
    doctor.add_argument("--account", default=None, metavar="URL",
                        help="the ACME account URL certbot uses (as in CAA accounturi); "
                        "default: the one account certbot stores in --config-dir for --server")
    doctor.add_argument("--no-permission-probe", action="store_true",
                        help="do not write and delete a probe record with each writer")
    doctor.add_argument("--json", action="store_true", help="one JSON object on stdout")
    doctor.add_argument("--all", action="store_true",
                        help="check every lineage in --config-dir/renewal that renews with "
                        "dns-autopilot, each with its saved options")
    doctor.add_argument("--prometheus", metavar="FILE", default=None,
                        help="with --all: also write a node-exporter textfile (days left, worst "
                        "severity, findings by code), replaced atomically")
    doctor.add_argument("--jobs", type=int, default=DEFAULT_JOBS, metavar="N",
                        help=f"with --all: lineages checked at once (default {DEFAULT_JOBS})")
    acme = sub.add_parser("acme-dns", help="acme-dns registrations for the acme-dns writer")
    acme_sub = acme.add_subparsers(dest="action", required=True)
    register = acme_sub.add_parser(
        "register", help="register domains at an acme-dns server, store the credentials "
        "(mode 600) and print the CNAME records to create")
    register.add_argument("-d", "--domain", dest="domains", action="append", required=True,
                          help="a domain (repeat for several; *.name shares name's "
                          "registration)")
    register.add_argument("--api-url", required=True,
                          help="the acme-dns API, e.g. https://auth.acme-dns.io")
    register.add_argument("--registration-file", required=True,
                          help="the JSON file of registrations (created, or added to)")
    register.add_argument("--allow-from", action="append", default=[], metavar="CIDR",
                          help="only this network may update the registration (repeat)")
    return parser


def _check_names(domains: list[str]) -> None:
    """Each -d a host name (or *.name), as certbot would accept it.

    :raises PluginError: naming the name, why, and the fix.
    """
    for domain in domains:
        try:
            names.normalize(domain)
        except ValueError as exc:
            raise errors.PluginError(
                f"-d: {shown(exc)}. Fix: give a name such as example.com or "
                "*.example.com") from None


def diagnose(args: argparse.Namespace) -> tuple[list[dict], list[Finding]]:
    _check_names(args.domains)
    locks.use(args.work_dir)  # the probe's writes and a renewal's exclude each other
    _, writers, alias_list = credentials.load(args.credentials)
    follower = Follower(dnsio.Recursive(parse_resolvers(args.resolvers)),
                        reach=dnsio.Reach(args.address_family))
    router = Router(writers, follower, alias_list, follow_cnames=args.follow_cnames)
    routes, found, described = [], [], []
    for domain in args.domains:
        try:
            route = router.route(domain)
        except AutopilotError as exc:
            found.append(Finding(exc.code, ERROR, domain, exc.problem, exc.evidence, exc.fix))
            continue
        if route.origin not in {r.origin for r in routes}:
            routes.append(route)
            described.append({"name": route.origin, "target": route.name, "zone": route.zone,
                              "writer": route.writer.label,
                              "chain": [h.name for h in route.chain.hops] if route.chain
                              else None})
    identities = preflight.ca_identities(args.caa_identities, args.server)
    requester = caa.Requester(find_account(args), args.server, account.is_staging(args.server))
    found += preflight.run(routes, args.domains, follower, identities,
                           probe_permission=not args.no_permission_probe, requester=requester)
    found += preflight.rate_limits(args.domains, args.server, args.config_dir)
    for route in routes:  # a run waits for these; a check made before one says so
        found += links.cname_links(route.origin, route.chain, follower)
    return described, found


def find_account(args: argparse.Namespace) -> str | None:
    """--account, else the only account certbot stores for --server in --config-dir."""
    if args.account:
        return args.account.strip()
    if not args.server or not args.config_dir:
        return None
    stored = account.urls(account.accounts_dir(args.config_dir, args.server))
    return stored[0] if len(stored) == 1 else None


def report(args: argparse.Namespace) -> int:
    """`doctor -d NAME --credentials PATH`: prints the findings (or JSON); exit 0 healthy,
    1 warnings, 2 errors."""
    try:
        routes, found = diagnose(args)
    except errors.PluginError as exc:
        print(f"dns-autopilot doctor: {exc}", file=sys.stderr)
        return 2
    status = exit_status(found)
    if args.json:
        json.dump({"names": args.domains, "account": find_account(args), "routes": routes,
                   "findings": [f.as_dict() for f in found], "status": status},
                  sys.stdout, indent=1)
        print()
        return status
    known = find_account(args)
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

