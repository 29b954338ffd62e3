"""`dns-autopilot`: reads the command line and hands it to doctor, fleet or acme-dns.

Apart from `doctor` so that `fleet` (which runs doctor once per lineage) and doctor never
import each other. Here the command line says which surface the user is on (`options`
spells every option a message names for it), and a reader that goes away (``| head``)
ends the command quietly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence

from certbot import errors

from .. import options, scrub
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
    parser = doctor._parser()
    args = parser.parse_args(argv)
    scrub.install()
    if args.command == "acme-dns":
        from . import acmedns

        try:
            return acmedns.register(args.api_url, args.registration_file, args.domains,
                                    args.allow_from)
        except errors.PluginError as exc:
            print(doctor.said("acme-dns", exc), file=sys.stderr)
            return 2
    parser = doctor.subcommand(parser, "doctor")  # its usage, with its errors
    if args.prometheus and not args.all:
        parser.error("--prometheus writes the textfile of doctor --all: add --all")
    # doctor -d names doctor's flags; --all certbot's: a lineage's options are changed with
    # `certbot reconfigure`.
    with options.speaking(options.PLUGIN if args.all else options.DOCTOR):
        problem = doctor.usage_error(args)
        if problem:
            parser.error(problem)
        if args.all:
            from . import fleet

            return fleet.main(args)
        return doctor.report(args)


if __name__ == "__main__":
    sys.exit(main())
