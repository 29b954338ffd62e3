"""`dns-autopilot doctor`: every pre-flight probe for some names, without an ACME order.

Same credentials file and resolvers as the plugin; also proves each writer can create,
read back and delete a record (the plugin's own run proves that by writing). Exit status,
the Nagios convention: 0 healthy, 1 warnings, 2 errors, 3 unknown (a usage error, a config
dir that cannot be read). `doctor --all` checks every lineage certbot renews with the
plugin, each with its saved options (`fleet.py`).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys

from certbot import errors
from certbot.compat import misc

from .. import __version__, credentials, dnsio, names, preflight, resolvers
from ..errors import AutopilotError
from ..options import DOCTOR, OPTIONS
from ..plan.chain import Follower
from ..plan.routing import Router
from ..preflight import account, caa, links
from ..preflight.findings import ERROR, Finding, by_cause, exit_status
from ..shown import LONG, shown
from ..writers import Context, Locks
from ..zones import Zones

#: lineages `doctor --all` checks at once: each check already asks its servers concurrently
DEFAULT_JOBS = 4
#: certbot's config directory when --config-dir is not given
CONFIG_DIR = "/etc/letsencrypt"
#: the exit status of a usage error or a config dir that cannot be read: UNKNOWN in the
#: Nagios convention (0 OK, 1 WARNING, 2 CRITICAL are the findings')
UNKNOWN = 3


class Parser(argparse.ArgumentParser):
    """argparse, whose usage errors exit `UNKNOWN` (its own default, 2, is CRITICAL to a
    monitoring system); sub-commands' parsers are of this class too."""

    def error(self, message: str):  # type: ignore[no-untyped-def]  # argparse's signature
        self.print_usage(sys.stderr)
        self.exit(UNKNOWN, f"{self.prog}: error: {message}\n")


def said(command: str, exc: BaseException) -> str:
    """An error as one line group prefixed once: ``dns-autopilot doctor: ...``, or, for an
    AutopilotError (which starts ``dns-autopilot [code]:``), ``dns-autopilot doctor [code]:``."""
    text, ours = str(exc), "dns-autopilot "
    if text.startswith(ours + "["):
        return f"{ours}{command} {text[len(ours):]}"
    return f"{ours}{command}: {text}"


def at_least_one(text: str) -> int:
    """--jobs: a whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def network(text: str) -> str:
    """--allow-from: a network in CIDR notation (192.0.2.0/24, 2001:db8::/32), as acme-dns
    takes it; checked here so that a typo is not sent to the server."""
    address, slash, length = text.strip().partition("/")
    example = "e.g. 192.0.2.0/24, 192.0.2.7/32 or 2001:db8::/32"
    if not slash:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no prefix length: give the network in CIDR notation, {example}")
    try:
        bits = ipaddress.ip_address(address).max_prefixlen
    except ValueError:
        raise argparse.ArgumentTypeError(f"{address!r} in {text!r} is not an IP address: "
                                         f"{example}") from None
    if not (length.isdigit() and int(length) <= bits):
        raise argparse.ArgumentTypeError(
            f"{text!r}: the prefix length must be a number from 0 to {bits} for an "
            f"IPv{4 if bits == 32 else 6} address ({example})")
    return f"{address}/{int(length)}"


def subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of one sub-command (``doctor``), for its option list and its errors."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="dns-autopilot", description="certbot-dns-autopilot tools")
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
            doctor.add_argument(option.spelling(DOCTOR), **option.argparse_kwargs(DOCTOR))
    doctor.add_argument("--server", default=None,
                        help="ACME directory URL, to read the CA's caaIdentities from")
    doctor.add_argument("--config-dir", default=None,
                        help=f"certbot's config directory (default {CONFIG_DIR}), whose "
                        "renewal/ holds the lineages of --all, whose archive this machine's "
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
    doctor.add_argument("--jobs", type=at_least_one, default=DEFAULT_JOBS, metavar="N",
                        help=f"with --all: lineages checked at once (default {DEFAULT_JOBS})")
    doctor.add_argument("--system-root", default="/", metavar="DIR",
                        help="with --all: the file system whose systemd timers and cron "
                        "tables run certbot renew (default /; e.g. the host's, mounted in a "
                        "container)")
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
                          type=network,
                          help="only this network may update the registration (repeat)")
    return parser


def usage_error(args: argparse.Namespace) -> str | None:
    """What makes this command line unusable before anything is asked, or None: names that
    are not host names, resolvers that are not addresses, a --config-dir that is not a
    directory, options --all does not take."""
    if args.all:
        given = [flag for flag, value, default in _per_name(args) if value != default]
        if given:
            return (f"--all checks each lineage with the options saved in its renewal "
                    f"configuration: drop {', '.join(given)} (or check some names alone, "
                    "without --all)")
    elif not args.domains or not args.credentials:
        return ("doctor needs -d NAME and --credentials PATH (or --all, for every lineage in "
                "certbot's renewal configs)")
    for domain in args.domains or ():
        try:
            names.normalize(domain)
        except ValueError as exc:
            return (f"-d: {shown(exc)}. Fix: give a name such as example.com or "
                    "*.example.com")
    try:
        resolvers.parse(args.resolvers)
    except errors.PluginError as exc:
        return str(exc)
    if args.config_dir is not None and not os.path.isdir(args.config_dir):
        return (f"--config-dir {args.config_dir} is not a directory. Fix: give certbot's "
                f"config directory (default {CONFIG_DIR})")
    return None


def _per_name(args: argparse.Namespace) -> list[tuple[str, object, object]]:
    """(flag, value, default) of each option that names what one doctor run checks."""
    rows: list[tuple[str, object, object]] = [("-d", args.domains, None),
                                              ("--server", args.server, None),
                                              ("--account", args.account, None)]
    rows += [(o.spelling(DOCTOR), getattr(args, o.dest), o.parse(o.default) if o.default
              is not None else None) for o in OPTIONS if o.doctor]
    return rows


def config_dir(args: argparse.Namespace) -> str:
    return args.config_dir or CONFIG_DIR


def diagnose(args: argparse.Namespace) -> tuple[list[dict], list[Finding]]:
    """The routes of ``args.domains`` and every finding, one per cause (the same cause for
    example.com and *.example.com is one finding naming both)."""
    # the probe's writes and a renewal's exclude each other: the same locks
    _, writers, alias_list = credentials.load(args.credentials,
                                              Context(locks=Locks(args.work_dir)))
    recursive = dnsio.Recursive(resolvers.parse(args.resolvers))
    found = resolvers.check(recursive)
    if any(f.severity == ERROR for f in found):  # nothing else can be known from here
        return [], found
    zones = Zones(recursive, dnsio.Reach(args.address_family))
    follower = Follower(zones)
    router = Router(writers, follower, alias_list, follow_cnames=args.follow_cnames)
    routes, described = [], []
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
    found += preflight.run(routes, args.domains, zones, identities,
                           probe_permission=not args.no_permission_probe, requester=requester)
    found += preflight.rate_limits(args.domains, args.server, config_dir(args))
    for route in routes:  # a run waits for these; a check made before one says so
        found += links.cname_links(route.origin, route.chain, zones)
    return described, by_cause(found)


def find_account(args: argparse.Namespace) -> str | None:
    """--account, else the only account certbot stores for --server in --config-dir."""
    if args.account:
        return args.account.strip()
    if not args.server:
        return None
    stored = account.urls(account.accounts_dir(config_dir(args), args.server))
    return stored[0] if len(stored) == 1 else None


def report(args: argparse.Namespace) -> int:
    """`doctor -d NAME --credentials PATH`: prints the findings (or JSON); exit 0 healthy,
    1 warnings, 2 errors (a credentials file the plugin could not use is one)."""
    try:
        routes, found = diagnose(args)
    except errors.PluginError as exc:
        print(said("doctor", exc), file=sys.stderr)
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

