"""`dns-autopilot doctor`: every pre-flight probe for some names, without an ACME order.

Same credentials file and resolvers as the plugin; also proves each writer can create,
read back and delete a record (the plugin's own run proves that by writing). Exit status:
0 healthy, 1 warnings, 2 errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from certbot import errors

from . import credentials, dnsio, preflight
from .authenticator import parse_family
from .chain import Follower
from .errors import AutopilotError
from .findings import ERROR, Finding, exit_status
from .routing import Router
from .run import parse_resolvers


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dns-autopilot",
                                     description="certbot-dns-autopilot tools")
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser(
        "doctor", help="run every pre-flight probe for the given names, without an ACME order",
        description=__doc__.split("\n\n")[0])
    doctor.add_argument("-d", "--domain", dest="domains", action="append", required=True,
                        help="a name of the certificate (repeat for several; *.name for "
                        "wildcards)")
    doctor.add_argument("--credentials", required=True,
                        help="the plugin's credentials INI file")
    doctor.add_argument("--resolvers", default="",
                        help="comma-separated recursive resolvers (IP, IP:PORT or "
                        "https://host[:port]/path for DNS over HTTPS); default: the system's")
    doctor.add_argument("--address-family", default="any", type=parse_family,
                        metavar="any|ipv4|ipv6",
                        help="which nameserver addresses to ask directly (default: any; a "
                        "family this host has no route for is reported as unreachable)")
    doctor.add_argument("--caa-identities", default="",
                        help="the CA's CAA identities, e.g. letsencrypt.org")
    doctor.add_argument("--server", default=None,
                        help="ACME directory URL, to read the CA's caaIdentities from")
    doctor.add_argument("--config-dir", default="/etc/letsencrypt",
                        help="certbot's config directory, whose archive holds this machine's "
                        "issuance history (for the rate-limit check on production endpoints)")
    doctor.add_argument("--no-permission-probe", action="store_true",
                        help="do not write and delete a probe record with each writer")
    doctor.add_argument("--json", action="store_true", help="one JSON object on stdout")
    return parser


def diagnose(args: argparse.Namespace) -> tuple[list[dict], list[Finding]]:
    _, writers, alias_list = credentials.load(args.credentials)
    follower = Follower(dnsio.Recursive(parse_resolvers(args.resolvers)),
                        reach=dnsio.Reach(args.address_family))
    router = Router(writers, follower, alias_list)
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
    found += preflight.run(routes, args.domains, follower, identities,
                           probe_permission=not args.no_permission_probe)
    found += preflight.rate_limits(args.domains, args.server, args.config_dir)
    return described, found


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        routes, found = diagnose(args)
    except errors.PluginError as exc:
        print(f"dns-autopilot doctor: {exc}", file=sys.stderr)
        return 2
    status = exit_status(found)
    if args.json:
        json.dump({"names": args.domains, "routes": routes,
                   "findings": [f.as_dict() for f in found], "status": status},
                  sys.stdout, indent=1)
        print()
        return status
    for route in routes:
        via = f" (via {' -> '.join(route['chain'][1:])})" if route["chain"] and \
            len(route["chain"]) > 1 else ""
        print(f"{route['name']}: written at {route['target']} in zone {route['zone']}{via} "
              f"by {route['writer']}")
    print()
    for finding in found:
        print(finding.text())
    print({0: "healthy: no findings", 1: f"{len(found)} warning(s)",
           2: f"{sum(f.severity == ERROR for f in found)} error(s), "
              f"{sum(f.severity != ERROR for f in found)} warning(s)"}[status])
    return status


if __name__ == "__main__":
    sys.exit(main())
