"""The RFC 2136 writer: TSIG-signed dynamic updates to a primary (BIND, Knot, PowerDNS…).

Key names match certbot-dns-rfc2136's under our prefix, so a user migrates by renaming
``dns_rfc2136_*`` to ``dns_autopilot_rfc2136_*``.

Every message goes through the DNS door, by functions the writer is given: its questions
(the SOA that names the zone, the TXT read back) through ``exchange``, as the probes'; its
UPDATEs through ``send`` (which can insist on TCP for a large batch). Tests hand it recorded
answers in their place.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update

from .. import dnsio, names
from ..codes import Code
from ..errors import AutopilotError
from . import retry, schema
from .base import Key, Keys, Records, Writer, quote_txt

#: The keys this writer reads (``dns_autopilot_rfc2136_<key>``): what INI validation,
#: secret scrubbing and the docs' key table (checked by the docs test) come from.
KEYS: tuple[Key, ...] = (
    Key('server', required=True, help="the primary's IP address (no host name)"),
    Key('port', default='`53`', help='its port'),
    Key('name', required=True, help="the TSIG key's name"),
    Key('secret', required=True, secret=True,
        help=('the TSIG secret (base64, as `tsig-keygen` prints it)')),
    Key('algorithm', default='`HMAC-SHA512`',
        help=('`HMAC-MD5`, `HMAC-SHA1`, `HMAC-SHA224`, `HMAC-SHA256`, `HMAC-SHA384` or '
              '`HMAC-SHA512`')),
)

logger = logging.getLogger(__name__)

ALGORITHMS = {
    "HMAC-MD5": dns.tsig.HMAC_MD5,
    "HMAC-SHA1": dns.tsig.HMAC_SHA1,
    "HMAC-SHA224": dns.tsig.HMAC_SHA224,
    "HMAC-SHA256": dns.tsig.HMAC_SHA256,
    "HMAC-SHA384": dns.tsig.HMAC_SHA384,
    "HMAC-SHA512": dns.tsig.HMAC_SHA512,
}
DEFAULT_ALGORITHM = "HMAC-SHA512"
TIMEOUT = 5.0
RETRIES = retry.Policy(attempts=3, base=0.5, cap=4.0, budget=10.0)
MAX_UDP_REQUEST = 1232  # the DNS flag day 2020 size: larger requests go over TCP

_TSIG_REJECTIONS = (dns.tsig.PeerBadKey, dns.tsig.PeerBadSignature, dns.tsig.PeerBadTime,
                    dns.tsig.PeerBadTruncation, dns.tsig.BadSignature, dns.tsig.BadTime)


def _key(suffix: str) -> str:
    return f"dns_autopilot_rfc2136_{suffix}"


def _server(settings: schema.Settings, path: str) -> dnsio.Server:
    server_text, port_text = settings["server"] or "", settings["port"] or "53"
    try:
        return dnsio.parse_server(server_text, default_port=int(port_text))
    except ValueError:
        raise AutopilotError(
            Code.BAD_CONFIG,
            f"{_key('server')} = {server_text!r} / {_key('port')} = {port_text!r} in {path} "
            "is not an IP address and port",
            f"set {_key('server')} to the primary's IPv4 or IPv6 address (a host name is "
            f"not allowed) and {_key('port')} to a port number (default 53)") from None


def _algorithm(settings: schema.Settings, path: str) -> str:
    algorithm = (settings["algorithm"] or DEFAULT_ALGORITHM).upper()
    if not algorithm.startswith("HMAC-"):
        algorithm = f"HMAC-{algorithm}"
    if algorithm not in ALGORITHMS:
        raise AutopilotError(
            Code.BAD_CONFIG, f"{_key('algorithm')} in {path} names an unknown TSIG algorithm",
            f"use one of {', '.join(ALGORITHMS)} (the algorithm of the key on the server)")
    return algorithm


def _secret(settings: schema.Settings, path: str) -> str:
    secret = settings["secret"] or ""
    try:
        base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise AutopilotError(
            Code.BAD_CONFIG, f"{_key('secret')} in {path} is not valid base64",
            "copy the secret exactly as `tsig-keygen` printed it (the text between the "
            "quotes of `secret \"…\";`)") from None
    return secret


def _key_name(settings: schema.Settings, path: str) -> str:
    key_name = settings["name"] or ""
    fix = "set it to the key's name as in the server's `key \"…\" { … };` clause"
    if "," in key_name:  # configobj reads an unquoted comma as a list
        raise AutopilotError(
            Code.BAD_CONFIG, f"{_key('name')} in {path} holds a comma (read as a list)", fix)
    try:
        dns.name.from_text(key_name)
    except dns.exception.DNSException:
        raise AutopilotError(
            Code.BAD_CONFIG, f"{_key('name')} = {key_name!r} in {path} is not a key name",
            fix) from None
    return key_name


class RFC2136Writer(Writer):
    """Writes through one primary server with one TSIG key."""

    def __init__(self, server: dnsio.Server, key_name: str, secret: str, algorithm: str, *,
                 exchange: dnsio.Exchange = dnsio.exchange,
                 send: Callable[..., dns.message.Message] = dnsio.send) -> None:
        self.server = server
        self.exchange, self.send = exchange, send
        self.key_name = key_name
        self.algorithm = algorithm
        self._keyring = {dns.name.from_text(key_name): dns.tsig.Key(
            key_name, secret, ALGORITHMS[algorithm])}
        self.label = f"RFC 2136 server {server} (TSIG key {key_name!r}, {algorithm})"

    @classmethod
    def from_credentials(cls, credentials: Keys, path: str) -> RFC2136Writer:
        """Validate the INI keys one by one, each failure naming its key and the fix."""
        settings = schema.read(credentials, "rfc2136", KEYS, path, title="RFC 2136")
        server, algorithm = _server(settings, path), _algorithm(settings, path)
        secret, key_name = _secret(settings, path), _key_name(settings, path)
        return cls(server, key_name, secret, algorithm)

    # -- queries ---------------------------------------------------------------------

    def _send(self, message: dns.message.Message, what: str,
              attempts: list[int] | None = None) -> dns.message.Message:
        """Send with bounded retries (a question through ``exchange``, an UPDATE through
        ``send``); ``attempts``, when given, gets one item per try."""
        def once() -> dns.message.Message:
            if attempts is not None:
                attempts.append(1)
            if message.opcode() != dns.opcode.UPDATE:
                return self.exchange(self.server, message, TIMEOUT)
            large = len(message.to_wire()) > MAX_UDP_REQUEST  # a large batch: TCP, no fragments
            return self.send(message, self.server.address, self.server.port, TIMEOUT,
                             tcp=large)

        def lost(exc: Exception) -> tuple[bool, float | None]:
            # A lost datagram or a dropped connection; re-sending is safe: adding a record
            # that exists, or deleting one that is gone, changes nothing (RFC 2136).
            return isinstance(exc, (dns.exception.Timeout, ConnectionError,
                                    dnsio.Unreachable)), None

        try:
            return retry.call(once, lost, what, self.on_retry, RETRIES)
        except (dns.exception.Timeout, dnsio.Unreachable) as exc:
            how = f": {exc.how}" if isinstance(exc, dnsio.Unreachable) else ""
            raise AutopilotError(
                Code.PROVIDER_UNREACHABLE,
                f"{self.label} did not answer {what} ({RETRIES.attempts} tries of "
                f"{TIMEOUT:.0f} s{how})",
                f"check {_key('server')}/{_key('port')} point at the primary and that it "
                "accepts queries and updates from this host (firewall, listen-on)") from None
        except _TSIG_REJECTIONS as exc:
            raise AutopilotError(
                Code.PERMISSION_DENIED,
                f"{self.label} rejected the TSIG signature of {what} ({type(exc).__name__})",
                f"make {_key('name')}, {_key('secret')} and {_key('algorithm')} match the key "
                "configured on the server (and check this host's clock)") from None
        except (OSError, dns.exception.DNSException) as exc:
            raise AutopilotError(
                Code.PROVIDER_UNREACHABLE, f"{self.label}: {what} failed: {exc}",
                f"check {_key('server')}/{_key('port')} and that the server is running") from None

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
            f"point {_key('server')} at the primary of the zone that holds {name}, or add the "
            "zone to that server")

    def _update(self, zone: str, build, what: str) -> None:
        update = dns.update.UpdateMessage(zone, keyring=self._keyring, keyname=self.key_name)
        build(update)
        attempts: list[int] = []
        try:
            response = self._send(update, what, attempts)
            rcode = response.rcode()
            if rcode != dns.rcode.NOERROR:
                self._refused(zone, rcode, what)
        except AutopilotError as exc:
            # The server's own refusal (an error rcode, a TSIG rejection) of the only try:
            # an UPDATE is atomic, none of it applied. After a lost try, it may have been.
            exc.left_nothing = len(attempts) == 1 and exc.code != Code.PROVIDER_UNREACHABLE
            raise

    def _refused(self, zone: str, rcode: int, what: str) -> None:
        rcode_text = dns.rcode.to_text(rcode)
        if rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH):
            raise AutopilotError(
                Code.PERMISSION_DENIED,
                f"{self.label} answered {rcode_text} to {what} in zone {zone}",
                f"allow the key to update TXT records in {zone}, e.g. in BIND: "
                f"update-policy {{ grant {self.key_name} zonesub TXT; }}; (or one "
                f"`grant {self.key_name} name _acme-challenge.<host>.{zone}. TXT;` per name)")
        raise AutopilotError(
            Code.ZONE_NOT_FOUND if rcode == dns.rcode.NOTZONE else Code.PERMISSION_DENIED,
            f"{self.label} answered {rcode_text} to {what} in zone {zone}",
            f"check that {zone} is a primary zone on that server with dynamic updates enabled")

    def add(self, zone: str, records: Records, ttl: int) -> None:
        def build(update: dns.update.UpdateMessage) -> None:
            for name, values in sorted(records.items()):
                for value in sorted(values):
                    update.add(dns.name.from_text(name), ttl, dns.rdatatype.TXT, quote_txt(value))
        count = sum(len(v) for v in records.values())
        self._update(zone, build, f"the update adding {count} TXT value(s)")
        logger.debug("dns-autopilot: added %d TXT value(s) in %s via %s", count, zone, self.label)

    def remove(self, zone: str, records: Records) -> None:
        def build(update: dns.update.UpdateMessage) -> None:
            for name, values in sorted(records.items()):
                for value in sorted(values):
                    update.delete(dns.name.from_text(name), dns.rdatatype.TXT, quote_txt(value))
        count = sum(len(v) for v in records.values())
        self._update(zone, build, f"the update removing {count} TXT value(s)")
        logger.debug("dns-autopilot: removed %d TXT value(s) in %s via %s", count, zone, self.label)

    def values(self, zone: str, name: str) -> set[str]:
        return set(dnsio.ask(self.server, name, "TXT", exchange=self.exchange).values)


