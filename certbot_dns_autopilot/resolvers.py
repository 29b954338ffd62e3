"""The recursive resolvers of a run: the ``resolvers`` option read into servers, and the
check that each of them works at all, for the plugin's run and for doctor.

A resolver that does not answer (a typo in the option, a stopped local cache,
systemd-resolved down behind 127.0.0.53), that refuses or fails everything, or that denies
the root, turns every later question into a failure that looks like the zone's: no zone
found, CAA unreadable, NS set unresolvable. So each run and `dns-autopilot doctor` ask each
resolver one question about the root first (`check`), and name the resolver that fails it.
With several, one that fails is a warning, and the others are asked from then on.

Apart from `options` because it needs the DNS door (`dnsio.parse_resolver`), which itself
names options in its messages: the options table stays a leaf every module can ask.
"""

from __future__ import annotations

from . import dnsio, options
from .answers import resolver_fix, resolver_problem
from .codes import Code
from .errors import AutopilotError
from .preflight.findings import ERROR, WARNING, Finding


def parse(text: str | None) -> list[dnsio.Server]:
    """Comma-separated ``IP`` / ``IP:PORT`` / ``[IPv6]:PORT`` or DNS-over-HTTPS
    ``https://host[:port]/path``; nothing given: the system's resolvers (an empty list).

    :raises AutopilotError: (``bad-config``) naming the bad item and the accepted forms.
    """
    servers = []
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        try:
            servers.append(dnsio.parse_resolver(item))
        except ValueError as exc:
            why = str(exc) if "://" in item else f"{item!r} is not an address"
            raise AutopilotError(
                Code.BAD_CONFIG, f"{options.flag('resolvers')}: {why}",
                "give recursive resolvers as IP, IP:PORT, [IPv6]:PORT or "
                "https://host[:port]/path (DNS over HTTPS), separated by commas (e.g. "
                "9.9.9.9,[2620:fe::fe]:53 or https://1.1.1.1/dns-query)") from None
    return servers


def check(recursive: dnsio.Recursive) -> list[Finding]:
    """Each resolver asked about the root at once: an error when none works (nothing else
    can be asked), a warning naming those that fail while others work, which are then the
    only ones asked."""
    answers = recursive.probe()
    fix = resolver_fix(recursive.from_system)
    failing = {s: why for s, a in answers.items() if (why := resolver_problem(a))}
    if not answers:
        return [Finding(Code.RESOLVER_UNREACHABLE, ERROR, "resolvers",
                        "no recursive resolver is configured", "/etc/resolv.conf lists none",
                        fix)]
    if not failing:
        return []
    rows = "\n".join(f"resolver {server}: {why}\n      {server.dig('.', 'SOA', recurse=True)}"
                     for server, why in sorted(failing.items()))
    working = [s for s in recursive.servers if s not in failing]
    if not working:
        return [Finding(Code.RESOLVER_UNREACHABLE, ERROR, "resolvers",
                        f"no resolver works ({len(failing)} asked): nothing about the zones "
                        "can be known from this host until one does", rows, fix)]
    recursive.keep(working)
    return [Finding(Code.RESOLVER_UNREACHABLE, WARNING, "resolvers",
                    f"{len(failing)} of {len(answers)} resolvers do not work and are left "
                    f"out; asking {', '.join(str(s) for s in working)}", rows,
                    fix)]
