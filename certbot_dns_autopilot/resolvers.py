"""The ``resolvers`` option read into servers, for the plugin's run and for doctor.

Apart from `options` because it needs the DNS door (`dnsio.parse_resolver`), which itself
names options in its messages: the options table stays a leaf every module can ask.
"""

from __future__ import annotations

from certbot import errors

from . import dnsio, options


def parse(text: str | None) -> list[dnsio.Server]:
    """Comma-separated ``IP`` / ``IP:PORT`` / ``[IPv6]:PORT`` or DNS-over-HTTPS
    ``https://host[:port]/path``; nothing given: the system's resolvers (an empty list).

    :raises certbot.errors.PluginError: naming the bad item and the accepted forms.
    """
    servers = []
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        try:
            servers.append(dnsio.parse_resolver(item))
        except ValueError as exc:
            why = str(exc) if "://" in item else f"{item!r} is not an address"
            raise errors.PluginError(
                f"{options.flag('resolvers')}: {why}. Give recursive resolvers as IP, "
                "IP:PORT, [IPv6]:PORT or https://host[:port]/path (DNS over HTTPS), separated "
                "by commas (e.g. 9.9.9.9,[2620:fe::fe]:53 or https://1.1.1.1/dns-query)"
            ) from None
    return servers
