"""The RFC 2136 writer: TSIG-signed dynamic updates to a primary (BIND, Knot, PowerDNS…).

Key names match certbot-dns-rfc2136's under our prefix, so a user migrates by renaming
``dns_rfc2136_*`` to ``dns_autopilot_rfc2136_*``.

Every message goes through the DNS door, by functions the writer is given: its questions
(the SOA that names the zone, the TXT read back) through ``exchange``, as the probes'; its
UPDATEs through ``send`` (which can insist on TCP for a large batch). Tests hand it recorded
answers in their place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.update

from .. import dnsio, names
from ..codes import Code
from ..errors import AutopilotError
from . import retry, tsig
from .schema import Key, Settings
from .sections import SectionKeys
from .txt import quote_txt
from .writer import Context, Records, Writer

logger = logging.getLogger(__name__)

TIMEOUT = 5.0
RETRIES = retry.Policy(attempts=3, base=0.5, cap=4.0, budget=10.0)


class RFC2136Writer(Writer):
    """Writes through one primary server with one TSIG key."""

    title = "RFC 2136"
    page = "quickstart"
    KEYS = (
        Key('server', required=True, help="the primary's IP address (no host name)"),
        Key('port', default='`53`', help='its port'),
        Key('name', required=True, help="the TSIG key's name"),
        Key('secret', required=True, secret=True,
            help='the TSIG secret (base64, as `tsig-keygen` prints it)'),
        Key('algorithm', default='`HMAC-SHA512`',
            help=('`HMAC-MD5`, `HMAC-SHA1`, `HMAC-SHA224`, `HMAC-SHA256`, `HMAC-SHA384` or '
                  '`HMAC-SHA512`')),
    )

    def __init__(self, server: dnsio.Server, key_name: str, secret: str, algorithm: str, *,
                 exchange: dnsio.Exchange = dnsio.exchange,
                 send: Callable[..., dns.message.Message] = dnsio.send,
                 context: Context | None = None) -> None:
        super().__init__(context)
        self.server, self.key_name, self.algorithm = server, key_name, algorithm
        self.exchange, self.send = exchange, send
        self._keyring = tsig.keyring(key_name, secret, algorithm)
        self.label = f"RFC 2136 server {server} (TSIG key {key_name!r}, {algorithm})"

    # -- configuration ---------------------------------------------------------------

    @classmethod
    def from_credentials(cls, keys: SectionKeys, context: Context | None = None
                         ) -> RFC2136Writer:
        settings, where = cls.settings(keys), keys.where
        server = cls._server(settings, where)
        try:
            algorithm = tsig.algorithm(settings["algorithm"])
            secret, key_name = tsig.secret(settings["secret"]), tsig.key_name(settings["name"])
        except tsig.Unusable as exc:
            raise cls.bad_config(f"{cls.key(exc.part)}{exc.shown} in {where} {exc.problem}",
                                 exc.fix) from None
        return cls(server, key_name, secret, algorithm, context=context)

    @classmethod
    def _server(cls, settings: Settings, where: str) -> dnsio.Server:
        server, port = settings["server"] or "", settings["port"] or "53"
        try:
            return dnsio.parse_server(server, default_port=int(port))
        except ValueError:
            raise cls.bad_config(
                f"{cls.key('server')} = {server!r} / {cls.key('port')} = {port!r} in {where} "
                "is not an IP address and port",
                f"set {cls.key('server')} to the primary's IPv4 or IPv6 address (a host name "
                f"is not allowed) and {cls.key('port')} to a port number (default 53)") from None

    # -- messages --------------------------------------------------------------------

    def _send(self, message: dns.message.Message, what: str,
              attempts: list[int] | None = None) -> dns.message.Message:
        """Send with bounded retries (a question through ``exchange``, an UPDATE through
        ``send``); ``attempts``, when given, gets one item per try."""
        def once() -> dns.message.Message:
            if attempts is not None:
                attempts.append(1)
            if message.opcode() != dns.opcode.UPDATE:
                return self.exchange(self.server, message, TIMEOUT)
            large = len(message.to_wire()) > dnsio.UDP_SIZE  # a large batch: TCP, no fragments
            return self.send(message, self.server.address, self.server.port, TIMEOUT,
                             tcp=large)

        def lost(exc: Exception) -> tuple[bool, float | None]:
            # A lost datagram or a dropped connection; re-sending is safe: adding a record
            # that exists, or deleting one that is gone, changes nothing (RFC 2136).
            return isinstance(exc, (dns.exception.Timeout, ConnectionError,
                                    dnsio.Unreachable)), None

        server = f"{self.key('server')}/{self.key('port')}"
        try:
            return retry.call(once, lost, what, self.on_retry, RETRIES)
        except (dns.exception.Timeout, dnsio.Unreachable) as exc:
            how = f": {exc.how}" if isinstance(exc, dnsio.Unreachable) else ""
            raise AutopilotError(
                Code.PROVIDER_UNREACHABLE,
                f"{self.label} did not answer {what} ({RETRIES.attempts} tries of "
                f"{TIMEOUT:.0f} s{how})",
                f"check {server} point at the primary and that it accepts queries and "
                "updates from this host (firewall, listen-on)") from None
        except tsig.REJECTIONS as exc:
            raise AutopilotError(
                Code.PERMISSION_DENIED,
                f"{self.label} rejected the TSIG signature of {what} ({type(exc).__name__})",
                f"make {self.key('name')}, {self.key('secret')} and {self.key('algorithm')} "
                "match the key configured on the server (and check this host's clock)"
            ) from None
        except (OSError, dns.exception.DNSException) as exc:
            raise AutopilotError(
                Code.PROVIDER_UNREACHABLE, f"{self.label}: {what} failed: {exc}",
                f"check {server} and that the server is running") from None

    def find_zone(self, name: str) -> str:
        """Ask the primary itself, authoritatively, for the SOA: the answer names the zone
        (in the answer at an apex, in the authority section below it)."""
        for candidate in names.ancestors(name):
            query = dns.message.make_query(candidate, dns.rdatatype.SOA)
            query.flags &= ~dns.flags.RD
            query.use_tsig(self._keyring, keyname=self.key_name)
            response = self._send(query, f"the SOA query for {candidate}")
            if (response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)
                    and response.flags & dns.flags.AA):
                for rrset in response.answer + response.authority:
                    if rrset.rdtype == dns.rdatatype.SOA:
                        zone = names.normalize(rrset.name.to_text())
                        if names.within(candidate, zone):
                            return zone
        raise AutopilotError(
            Code.ZONE_NOT_FOUND,
            f"{self.label} is not authoritative for any zone enclosing {name}",
            f"point {self.key('server')} at the primary of the zone that holds {name}, or add "
            "the zone to that server")

    def _update(self, zone: str, records: Records, ttl: int | None) -> None:
        """One UPDATE adding each value (with ``ttl``) or, without one, deleting each: applied
        whole or not at all (RFC 2136), so the server's refusal of the only try left
        nothing."""
        update = dns.update.UpdateMessage(zone, keyring=self._keyring, keyname=self.key_name)
        for name, values in sorted(records.items()):
            owner = dns.name.from_text(name)
            for value in sorted(values):
                if ttl is None:
                    update.delete(owner, dns.rdatatype.TXT, quote_txt(value))
                else:
                    update.add(owner, ttl, dns.rdatatype.TXT, quote_txt(value))
        count = sum(len(v) for v in records.values())
        what = f"the update {'removing' if ttl is None else 'adding'} {count} TXT value(s)"
        attempts: list[int] = []
        try:
            rcode = self._send(update, what, attempts).rcode()
            if rcode != dns.rcode.NOERROR:
                raise self._refused(zone, rcode, what)
        except AutopilotError as exc:
            # After a lost try, the UPDATE may have been applied after all.
            exc.left_nothing = len(attempts) == 1 and exc.code != Code.PROVIDER_UNREACHABLE
            raise
        logger.debug("dns-autopilot: %s in %s via %s", what, zone, self.label)

    def _refused(self, zone: str, rcode: int, what: str) -> AutopilotError:
        said = f"{self.label} answered {dns.rcode.to_text(rcode)} to {what} in zone {zone}"
        if rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH):
            return AutopilotError(
                Code.PERMISSION_DENIED, said,
                f"allow the key to update TXT records in {zone}, e.g. in BIND: "
                f"update-policy {{ grant {self.key_name} zonesub TXT; }}; (or one "
                f"`grant {self.key_name} name _acme-challenge.<host>.{zone}. TXT;` per name)")
        return AutopilotError(
            Code.ZONE_NOT_FOUND if rcode == dns.rcode.NOTZONE else Code.PERMISSION_DENIED, said,
            f"check that {zone} is a primary zone on that server with dynamic updates enabled")

    def add(self, zone: str, records: Records, ttl: int) -> None:
        self._update(zone, records, ttl)

    def remove(self, zone: str, records: Records) -> None:
        self._update(zone, records, None)

    def values(self, zone: str, name: str) -> set[str]:
        return set(dnsio.ask(self.server, name, "TXT", exchange=self.exchange).values)
