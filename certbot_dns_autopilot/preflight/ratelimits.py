"""Let's Encrypt's issuance limits, counted from this machine's own certbot lineages.

Only production Let's Encrypt counts (staging and other CAs have their own limits): 50
certificates per registered domain and 5 duplicate certificates (the same set of names)
per 7 days. certbot keeps every certificate it obtained under ``<config>/archive``; their
``notBefore`` and names are the local history. Other machines' issuances are invisible
here, so the finding is a warning near the limit, not a block.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .. import names
from ..codes import Code
from .findings import WARNING, Finding

PRODUCTION = ("acme-v02.api.letsencrypt.org",)
PER_DOMAIN, DUPLICATES = 50, 5
WINDOW = timedelta(days=7)
NEAR = 0.8  # warn from 80 % of a limit


@dataclass(frozen=True)
class Issued:
    not_before: datetime
    names: frozenset[str]


def is_production(server: str | None) -> bool:
    return bool(server) and any(host in str(server) for host in PRODUCTION)


def history(config_dir: str) -> list[Issued]:
    """Every certificate certbot stored under ``config_dir/archive``."""
    from cryptography import x509  # certbot's dependency; imported on use

    issued = []
    for path in glob.glob(os.path.join(config_dir, "archive", "*", "cert*.pem")):
        try:
            with open(path, "rb") as handle:
                cert = x509.load_pem_x509_certificate(handle.read())
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (OSError, ValueError, x509.ExtensionNotFound):
            continue
        issued.append(Issued(cert.not_valid_before_utc,
                             frozenset(n.lower() for n in san.get_values_for_type(x509.DNSName))))
    return issued


def findings(requested: Iterable[str], issued: list[Issued], registered_domain,
             now: datetime | None = None) -> list[Finding]:
    """Warnings for limits this request would come near, from the local history alone."""
    now = now or datetime.now(timezone.utc)
    recent = [i for i in issued if now - i.not_before <= WINDOW]
    names = frozenset(n.lower() for n in requested)
    found = []
    duplicates = sum(1 for i in recent if i.names == names)
    if duplicates + 1 >= DUPLICATES * NEAR:
        found.append(Finding(
            Code.RATE_LIMITED, WARNING, ", ".join(sorted(names)),
            f"this would be certificate {duplicates + 1} of at most {DUPLICATES} with exactly "
            "these names in 7 days",
            f"{duplicates} issued from this machine since {(now - WINDOW):%Y-%m-%d %H:%M} UTC",
            "use --dry-run (staging) while iterating; renew only when due"))
    domains = {registered_domain(n.removeprefix("*.")) for n in names} - {None}
    for domain in sorted(domains):
        count = sum(1 for i in recent if any(registered_domain(n.removeprefix("*.")) == domain
                                             for n in i.names))
        if count + 1 >= PER_DOMAIN * NEAR:
            found.append(Finding(
                Code.RATE_LIMITED, WARNING, domain,
                f"this would be certificate {count + 1} of at most {PER_DOMAIN} for {domain} "
                "in 7 days", f"{count} issued from this machine in the last 7 days",
                "use --dry-run (staging) while iterating; combine names into fewer "
                "certificates"))
    return found


def probe(domains: list[str], server: str | None, config_dir: str | None
                ) -> list[Finding]:
    """Let's Encrypt production limits, from certbot's own archive on this machine."""
    if not is_production(server) or not config_dir:
        return []
    return findings(domains, history(config_dir), names.public_suffix_list().privatesuffix)
