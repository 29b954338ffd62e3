"""certbot's renewal state, read only: each lineage's renewal configuration, its certificate,
and whether `certbot renew` would renew it now.

certbot keeps one ``<config-dir>/renewal/NAME.conf`` per lineage (configobj; the
authenticator and every plugin option under ``[renewalparams]``, ``cert`` naming the
current certificate, ``renew_before_expiry`` when the lineage sets its own). Nothing here
writes to certbot's directories; `fleet.py` (``doctor --all``) uses it. A file or directory
another user could change is refused: doctor --all acts, as root, on the credentials file
each configuration names.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field

from .. import statefiles
from ..codes import Code
from ..errors import AutopilotError

#: What the plugin's options are saved under in ``[renewalparams]``: dns_autopilot_<option>.
SAVED_PREFIX = "dns_autopilot_"
#: certbot renews a certificate this short-lived at half its lifetime, others at two thirds
SHORT_LIVED = datetime.timedelta(days=10)


@dataclass(frozen=True)
class Lineage:
    """One renewal configuration, as certbot saved it."""

    name: str
    path: str
    authenticator: str | None = None
    cert: str | None = None
    server: str | None = None
    account: str | None = None
    renew_before_expiry: str | None = None
    autorenew: bool = True
    must_staple: bool = False
    #: certbot's work dir for this lineage's renewals, when saved (``--work-dir`` given)
    work_dir: str | None = None
    #: the saved dns_autopilot_* options, without the prefix
    saved: dict[str, str] = field(default_factory=dict)
    #: why the file could not be read, if it could not
    problem: str | None = None


def read_lineage(path: str) -> Lineage:
    """One ``renewal/NAME.conf`` (configobj, interpolation off, as certbot reads it), when
    it is a file root may act on (`statefiles.check_trusted`): it names the credentials
    file, and so the keys and commands doctor --all uses."""
    import configobj

    name = os.path.basename(path).removesuffix(".conf")
    try:
        statefiles.check_trusted(path)
    except statefiles.Unsafe as exc:
        return Lineage(name, path, problem=f"refusing certbot's renewal configuration {path}: "
                       f"{exc.path}: {exc.why}")
    except OSError:
        pass  # configobj reports it, below
    try:
        conf = configobj.ConfigObj(path, encoding="utf-8", default_encoding="utf-8",
                                   interpolation=False, file_error=True)
    except (OSError, configobj.ConfigObjError, UnicodeError) as exc:
        return Lineage(name, path, problem=f"certbot's renewal configuration {path} cannot "
                       f"be read: {exc}")
    params = conf.get("renewalparams")
    if not isinstance(params, dict):
        return Lineage(name, path, cert=conf.get("cert"),
                       problem=f"{path} has no [renewalparams] section")
    # A comma-separated value written without quotes (by hand) reads back as a list.
    saved = {key.removeprefix(SAVED_PREFIX): ",".join(value) if isinstance(value, list) else value
             for key, value in params.items()
             if key.startswith(SAVED_PREFIX) and isinstance(value, str | list)}
    autorenew = not _false(params.get("autorenew", "True"))
    before = conf.get("renew_before_expiry")
    return Lineage(name, path, authenticator=params.get("authenticator"),
                   cert=conf.get("cert"), server=params.get("server"),
                   account=params.get("account"),
                   renew_before_expiry=str(before) if before else None,
                   autorenew=autorenew, must_staple=not _false(params.get("must_staple", "")),
                   saved=saved, work_dir=params.get("work_dir")
                   if isinstance(params.get("work_dir"), str) else None)


def _false(value: object) -> bool:
    """A saved boolean that is off (certbot writes True/False; a hand edit may say no)."""
    return str(value).strip().lower() in ("", "false", "no", "off", "0", "none")


def read_lineages(config_dir: str) -> list[Lineage]:
    """Every ``<config-dir>/renewal/*.conf``, sorted by lineage name.

    :raises AutopilotError: (``renewal-config``) the directory cannot be listed, or
        another user could change what it holds (`statefiles.check_trusted`).
    """
    directory = os.path.join(config_dir, "renewal")
    try:
        statefiles.check_trusted(directory)
    except statefiles.Unsafe as exc:
        raise AutopilotError(
            Code.RENEWAL_CONFIG, f"refusing certbot's renewal configurations in {directory}: "
            f"{exc.path}: {exc.why}", "run doctor --all as the user who owns certbot's config "
            "directory (its renewals run as that user), or chown it to root and chmod go-w"
        ) from None
    except OSError:
        pass  # listing it says why, below
    try:
        files = sorted(f for f in os.listdir(directory) if f.endswith(".conf"))
    except OSError as exc:
        raise AutopilotError(
            Code.RENEWAL_CONFIG, f"certbot's renewal configurations cannot be listed: {exc}",
            "give certbot's config directory with --config-dir (default /etc/letsencrypt), "
            "and run as a user who can read it") from None
    return [read_lineage(os.path.join(directory, f)) for f in files]


def certificate(path: str) -> tuple[list[str], datetime.datetime, datetime.datetime]:
    """The names, notBefore and notAfter of a PEM certificate file."""
    from cryptography import x509

    with open(path, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = list(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = []
    return names, cert.not_valid_before_utc, cert.not_valid_after_utc


def interval(text: str, base: datetime.datetime) -> datetime.timedelta:
    """A renew_before_expiry as certbot reads it ("30 days", "2 weeks", a bare number of
    days); text it cannot read is no time at all, as for certbot."""
    from certbot._internal.storage import add_time_interval

    return add_time_interval(base, text) - base


def would_renew(not_before: datetime.datetime, expires: datetime.datetime,
                now: datetime.datetime, renew_before_expiry: str | None,
                autorenew: bool = True) -> bool:
    """Whether `certbot renew` would renew now, as certbot 5 decides without ARI: never
    when autorenew is off; the lineage's renew_before_expiry when set; else once 2/3 of
    the lifetime has passed (1/2 for certificates shorter than 10 days)."""
    if not autorenew:
        return False
    if renew_before_expiry:
        return expires < now + interval(renew_before_expiry, now)
    lifetime = expires - not_before
    share = 1 / 2 if lifetime < SHORT_LIVED else 2 / 3
    return now > not_before + lifetime * share
