"""Write-through to the lab's BIND primary: what a provider emulator stores, BIND serves.

The emulators keep their own records (ids, metadata) and mirror every TXT change here with a
TSIG-signed RFC 2136 update, using the lab's own key (from the lab's credentials file).
"""

from __future__ import annotations

import configparser
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update

TIMEOUT, TRIES = 3.0, 3


class ZoneBackend:
    """TXT records of the lab's zones, read and changed at the primary."""

    def __init__(self, credentials: Path) -> None:
        parser = configparser.ConfigParser()
        parser.read_string("[x]\n" + Path(credentials).read_text())
        keys = parser["x"]
        self.server = keys["dns_autopilot_rfc2136_server"]
        self.key_name = keys["dns_autopilot_rfc2136_name"]
        self.keyring = {dns.name.from_text(self.key_name): dns.tsig.Key(
            self.key_name, keys["dns_autopilot_rfc2136_secret"], dns.tsig.HMAC_SHA512)}

    def _update(self, zone: str) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(zone, keyring=self.keyring, keyname=self.key_name)

    def _exchange(self, message: dns.message.Message) -> dns.message.Message:
        """Over TCP, sent again after a timeout (a busy primary under load; adding or deleting
        one value twice changes nothing), within 9 s: less than an SDK's read timeout, so
        an emulator answers its client before the client gives up and retries."""
        for attempt in range(TRIES):
            try:
                return dns.query.tcp(message, self.server, timeout=TIMEOUT)
            except dns.exception.Timeout:
                if attempt == TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _send(self, update: dns.update.UpdateMessage) -> None:
        response = self._exchange(update)
        if response.rcode() != dns.rcode.NOERROR:
            raise RuntimeError(f"BIND answered {dns.rcode.to_text(response.rcode())}")

    def add(self, zone: str, name: str, value: str, ttl: int = 60) -> None:
        update = self._update(zone)
        update.add(dns.name.from_text(name), ttl, "TXT", _quoted(value))
        self._send(update)

    def remove(self, zone: str, name: str, value: str) -> None:
        update = self._update(zone)
        update.delete(dns.name.from_text(name), "TXT", _quoted(value))
        self._send(update)

    def values(self, name: str) -> set[str]:
        query = dns.message.make_query(name, dns.rdatatype.TXT)
        response = self._exchange(query)
        return {b"".join(r.strings).decode() for rrset in response.answer
                if rrset.rdtype == dns.rdatatype.TXT for r in rrset}


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
