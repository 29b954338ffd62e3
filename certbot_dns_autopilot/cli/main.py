"""`dns-autopilot`: reads the command line and hands it to doctor, fleet or acme-dns.

Apart from `doctor` so that `fleet` (which runs doctor once per lineage) and doctor never
import each other.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence

from certbot import errors

from .. import scrub
from . import doctor


def main(argv: Sequence[str] | None = None) -> int:
    """Every word the command prints, on stdout and stderr, goes through the scrubber."""
    with contextlib.redirect_stdout(scrub.Stream(sys.stdout)), \
            contextlib.redirect_stderr(scrub.Stream(sys.stderr)):
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = doctor._parser()
    args = parser.parse_args(argv)
    scrub.install()
    if args.command == "acme-dns":
        from ..writers import acmedns

        try:
            return acmedns.register(args.api_url, args.registration_file, args.domains,
                                    args.allow_from)
        except errors.PluginError as exc:
            print(f"dns-autopilot acme-dns: {exc}", file=sys.stderr)
            return 2
    if args.prometheus and not args.all:
        parser.error("--prometheus writes the textfile of doctor --all: add --all")
    if args.all:
        from . import fleet

        return fleet.main(args)
    if not args.domains or not args.credentials:
        parser.error("doctor needs -d NAME and --credentials PATH (or --all, for every "
                     "lineage in certbot's renewal configs)")
    return doctor.report(args)


if __name__ == "__main__":
    sys.exit(main())
