"""`dns-autopilot`: the command line, read and handed to doctor, fleet or acme-dns.

The whole parser is here; doctor and fleet take values, not command lines (`doctor.Check`:
`fleet` makes one per lineage from its renewal configuration, through the options table).
Here the command line says which surface the user is on (`options` spells every option a
message names for it), and a reader that goes away (``| head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import signal
import sys
from collections.abc import Sequence

from certbot import errors
from certbot.compat import misc

from .. import __version__, names, options, resolvers, scrub
from ..errors import AutopilotError
from ..options import DOCTOR, OPTIONS
from ..shown import shown
from . import doctor

#: the exit status of a command whose output pipe closed, as a shell reports one that
#: SIGPIPE ended (128 + 13)
CLOSED_PIPE = 128 + signal.SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Every word the command prints, on stdout and stderr, goes through the scrubber."""
    try:
        with contextlib.redirect_stdout(scrub.Stream(sys.stdout)), \
                contextlib.redirect_stderr(scrub.Stream(sys.stderr)):
            status = _dispatch(argv)
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not at exit
    except BrokenPipeError:
        # Python would report the failed flush again at exit: point stdout at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return CLOSED_PIPE
    return status


def _dispatch(argv: Sequence[str] | None) -> int:
    parsing = parser()
    args = parsing.parse_args(argv)
    scrub.install()
    if args.command == "acme-dns":
        from . import acmedns

        try:
            return acmedns.register(args.api_url, args.registration_file, args.domains,
                                    args.allow_from)
        except errors.PluginError as exc:
            print(doctor.said("acme-dns", exc), file=sys.stderr)
            return 2
    usage = subcommand(parsing, "doctor")  # its usage, with its errors
    if args.prometheus and not args.all:
        usage.error("--prometheus writes the textfile of doctor --all: add --all")
    # doctor -d names doctor's flags; --all certbot's: a lineage's options are changed with
    # `certbot reconfigure`.
    with options.speaking(options.PLUGIN if args.all else options.DOCTOR):
        problem = usage_error(args)
        if problem:
            usage.error(problem)
        if args.all:
            from . import fleet

            return fleet.main(args)
        return doctor.report(checked(args), as_json=args.json)



def checked(args: argparse.Namespace) -> doctor.Check:
    """The doctor check the command line asks for."""
    return doctor.Check(tuple(args.domains or ()),
                        {o.name: getattr(args, o.dest) for o in OPTIONS if o.doctor},
                        server=args.server, config_dir=args.config_dir,
                        work_dir=args.work_dir, account=args.account,
                        no_permission_probe=args.no_permission_probe)


class Parser(argparse.ArgumentParser):
    """argparse, whose usage errors exit `UNKNOWN` (its own default, 2, is CRITICAL to a
    monitoring system); sub-commands' parsers are of this class too."""

    def error(self, message: str):  # type: ignore[no-untyped-def]  # argparse's signature
        self.print_usage(sys.stderr)
        self.exit(doctor.UNKNOWN, f"{self.prog}: error: {message}\n")


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


def parser() -> argparse.ArgumentParser:
    """The command line of `dns-autopilot`: doctor (its options from the options table,
    under doctor's spellings) and acme-dns register."""
    parser = Parser(prog="dns-autopilot", description="certbot-dns-autopilot tools")
    parser.add_argument("--version", action="version",
                        version=f"dns-autopilot {__version__} (certbot-dns-autopilot)")
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser(
        "doctor", help="run every pre-flight probe for the given names, without an ACME order",
        description=doctor.__doc__.split("\n\n")[0])
    one.add_argument("-d", "--domain", dest="domains", action="append",
                     help="a name of the certificate (repeat for several; *.name for "
                     "wildcards); required unless --all")
    for option in OPTIONS:  # the plugin's options doctor takes, under their short names
        if option.doctor:
            one.add_argument(option.spelling(DOCTOR), **option.argparse_kwargs(DOCTOR))
    one.add_argument("--server", default=None,
                     help="ACME directory URL, to read the CA's caaIdentities from")
    one.add_argument("--config-dir", default=None,
                     help=f"certbot's config directory (default {doctor.CONFIG_DIR}), whose "
                     "renewal/ holds the lineages of --all, whose archive this machine's "
                     "issuance history (for the rate-limit check on production endpoints) "
                     "and whose accounts/ the ACME account of --server (for CAA "
                     "accounturi)")
    one.add_argument("--work-dir", default=misc.get_default_folder("work"),
                     help="certbot's work directory, under which renewals keep the locks of "
                     "the writers that rewrite a whole record set (Route 53, lexicon): "
                     "doctor's permission probe takes the same locks (default: certbot's, "
                     "%(default)s; with --all, each lineage's saved work_dir)")
    one.add_argument("--account", default=None, metavar="URL",
                     help="the ACME account URL certbot uses (as in CAA accounturi); "
                     "default: the one account certbot stores in --config-dir for --server")
    one.add_argument("--no-permission-probe", action="store_true",
                     help="do not write and delete a probe record with each writer")
    one.add_argument("--json", action="store_true", help="one JSON object on stdout")
    one.add_argument("--all", action="store_true",
                     help="check every lineage in --config-dir/renewal that renews with "
                     "dns-autopilot, each with its saved options")
    one.add_argument("--prometheus", metavar="FILE", default=None,
                     help="with --all: also write a node-exporter textfile (days left, worst "
                     "severity, findings by code), replaced atomically")
    one.add_argument("--jobs", type=at_least_one, default=doctor.DEFAULT_JOBS, metavar="N",
                     help="with --all: lineages checked at once (default "
                     f"{doctor.DEFAULT_JOBS})")
    one.add_argument("--system-root", default="/", metavar="DIR",
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
    except AutopilotError as exc:  # said once, by argparse: not prefixed again
        return f"{exc.problem}. Fix: {exc.fix}"
    if args.config_dir is not None and not os.path.isdir(args.config_dir):
        return (f"--config-dir {args.config_dir} is not a directory. Fix: give certbot's "
                f"config directory (default {doctor.CONFIG_DIR})")
    return None


def _per_name(args: argparse.Namespace) -> list[tuple[str, object, object]]:
    """(flag, value, default) of each option that names what one doctor run checks."""
    rows: list[tuple[str, object, object]] = [("-d", args.domains, None),
                                              ("--server", args.server, None),
                                              ("--account", args.account, None)]
    rows += [(o.spelling(DOCTOR), getattr(args, o.dest), o.parse(o.default) if o.default
              is not None else None) for o in OPTIONS if o.doctor]
    return rows


if __name__ == "__main__":
    sys.exit(main())
