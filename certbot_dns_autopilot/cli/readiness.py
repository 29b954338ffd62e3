"""Ready for short certificate lifetimes: what `doctor --all` checks beside the DNS.

Let's Encrypt refuses OCSP Must-Staple since May 2025, offers a 6-day ``shortlived``
profile, and lowers its default lifetime to 64 days in February 2027 and 45 days in
February 2028 (authorization reuse falls to 7 hours, so nearly every renewal runs DNS-01).
A renewal setting made for 90-day certificates then renews on every run or too late, and a
renewal timer that runs once a day leaves a 6-day certificate little slack. Pure decisions
on what `renewal` read (a lineage's settings, its certificate's dates) and what `schedule`
found (the timers and cron entries that run ``certbot renew``).
"""

from __future__ import annotations

import datetime
import urllib.parse
from collections.abc import Mapping, Sequence

from ..codes import Code
from ..preflight.findings import ERROR, WARNING, Finding
from .renewal import SHORT_LIVED, Lineage
from .schedule import Schedule

#: ACME directory hosts of CAs that refuse OCSP Must-Staple: Let's Encrypt's production and
#: staging endpoints (since May 2025)
REFUSE_MUST_STAPLE = frozenset({"acme-v02.api.letsencrypt.org",
                                "acme-staging-v02.api.letsencrypt.org"})
#: a short-lived certificate wants `certbot renew` at least this often a day
SHORT_LIVED_RUNS = 2
#: a fixed renew_before_expiry under this share of the lifetime leaves too little time
LEAST_SHARE = 1 / 6
EVERY_RUN, TOO_LATE = "every-run", "too-late"
MACHINE = "this machine"


def _days(span: datetime.timedelta) -> str:
    days = round(span.total_seconds() / 86400, 1)
    return f"{days:g} day" + ("" if days == 1 else "s")


def refuses_must_staple(server: str | None) -> bool:
    """The lineage's ACME directory is one of a CA that refuses Must-Staple."""
    host = urllib.parse.urlsplit(server or "").hostname or ""
    return host.lower() in REFUSE_MUST_STAPLE


def must_staple(lineage: Lineage) -> list[Finding]:
    """A renewal that asks for OCSP Must-Staple from a CA that refuses it fails."""
    if not (lineage.must_staple and refuses_must_staple(lineage.server)):
        return []
    return [Finding(
        Code.MUST_STAPLE, ERROR, lineage.name,
        "the renewal asks for OCSP Must-Staple (must_staple = True), which Let's Encrypt "
        "refuses since May 2025: the renewal will fail",
        f"renewal configuration: {lineage.path}\nserver = {lineage.server}",
        f"remove the line must_staple = True from [renewalparams] in {lineage.path} "
        "(certbot has no flag that turns it off again); Let's Encrypt's certificates no "
        "longer name an OCSP responder, so there is nothing to staple")]


def window(lifetime: datetime.timedelta, before: datetime.timedelta) -> str | None:
    """A fixed renew_before_expiry against the certificate's lifetime: `EVERY_RUN` when it
    is the whole lifetime or more, `TOO_LATE` under a sixth of it, else None."""
    if before >= lifetime:
        return EVERY_RUN
    if before < lifetime * LEAST_SHARE:
        return TOO_LATE
    return None


def renewal_window(lineage: Lineage, lifetime: datetime.timedelta,
                   before: datetime.timedelta) -> list[Finding]:
    """The lineage's own renew_before_expiry (``before``, read as certbot reads it)."""
    verdict = window(lifetime, before) if lineage.renew_before_expiry else None
    if verdict is None:
        return []
    setting = f"renew_before_expiry = {lineage.renew_before_expiry}"
    evidence = (f"renewal configuration: {lineage.path}\n{setting} (read as "
                f"{_days(before)}); the certificate is valid for {_days(lifetime)}")
    default = ("or delete the line: certbot then renews when the CA's renewal information "
               "(ARI) says, else after two thirds of the lifetime (half, under 10 days)")
    if verdict == EVERY_RUN:
        return [Finding(
            Code.RENEWAL_WINDOW, ERROR, lineage.name,
            f"{setting} is at least the certificate's lifetime ({_days(lifetime)}): every "
            "`certbot renew` renews it again, until the CA's rate limits refuse",
            evidence, f"set it well below {_days(lifetime)} in {lineage.path}, {default}")]
    return [Finding(
        Code.RENEWAL_WINDOW, WARNING, lineage.name,
        f"{setting} leaves under a sixth of the certificate's lifetime ({_days(lifetime)}): "
        "after one failed renewal there is little time to notice and repair it",
        evidence, f"raise it to about a third of the lifetime ({_days(lifetime / 3)}) in "
        f"{lineage.path}, {default}")]


def _where(schedules: Sequence[Schedule]) -> str:
    return "\n".join(f"{s.where}: {s.command}" + (f" ({s.why_not})" if s.why_not else "")
                     for s in schedules)


def without_plugin(running: Sequence[Schedule], plugin: Mapping[Schedule, bool | None],
                   ours: Sequence[str]) -> list[Finding]:
    """A renewal job whose certbot has no dns-autopilot (Debian's /usr/bin/certbot, which
    cron's PATH finds for a bare ``certbot``) fails every lineage that renews with it: an
    error when no running job has the plugin, a warning when another one does (that one
    renews them; this one fails for them at each run)."""
    lacking = [s for s in running if plugin.get(s) is False]
    if not (ours and lacking):
        return []
    rows = "\n".join(f"{s.where}: {s.command} (its certbot's Python has no dns-autopilot)"
                     for s in lacking)
    fix = ("run the certbot that has dns-autopilot by its full path (e.g. /opt/certbot/bin/"
           "certbot renew -q, as the install page shows) and disable the other job (Debian's: "
           "systemctl disable --now certbot.timer)")
    if any(plugin.get(s) for s in running):
        return [Finding(Code.RENEWAL_SCHEDULE, WARNING, MACHINE,
                        f"{len(lacking)} renewal job(s) run a certbot without dns-autopilot: "
                        f"they fail to renew {len(ours)} lineage(s) at every run (another "
                        "job renews them)", rows, fix)]
    return [Finding(Code.RENEWAL_SCHEDULE, ERROR, MACHINE,
                    f"every renewal job runs a certbot without dns-autopilot: the "
                    f"{len(ours)} lineage(s) that renew with it fail at their next renewal",
                    rows, fix)]


def schedule_findings(schedules: Sequence[Schedule], renewing: Sequence[str],
                      short_lived: Sequence[str],
                      plugin: Mapping[Schedule, bool | None] | None = None,
                      ours: Sequence[str] = ()) -> list[Finding]:
    """Whether `certbot renew` runs on this machine for the lineages that renew
    (``renewing``), often enough for the short-lived ones (``short_lived``), and with a
    certbot that has the plugin for those that renew with it (``ours``; ``plugin``: each
    job's certbot has it, lacks it, or cannot be told)."""
    if not renewing:
        return []
    running = [s for s in schedules if s.enabled]
    found = without_plugin(running, plugin or {}, ours) if running else []
    return found + _schedule_runs(schedules, running, renewing, short_lived)


def _schedule_runs(schedules: Sequence[Schedule], running: Sequence[Schedule],
                   renewing: Sequence[str], short_lived: Sequence[str]) -> list[Finding]:
    """Whether any job runs `certbot renew` at all, and often enough for the short-lived."""
    if not running:
        found = _where(schedules) or "no timer or cron entry mentions certbot renew"
        return [Finding(
            Code.RENEWAL_SCHEDULE, ERROR, MACHINE,
            f"no enabled systemd timer or cron entry runs `certbot renew`: {len(renewing)} "
            "lineage(s) expire unless renewed by hand",
            f"{found}\nlooked in: systemd timers (/etc/systemd/system, /lib/systemd/system), "
            "/etc/crontab, /etc/cron.d, /etc/cron.{hourly,daily,weekly,monthly}, "
            "/var/spool/cron",
            "enable the timer that runs certbot renew (systemctl enable --now NAME.timer), or "
            "add a timer or cron entry for the certbot that has dns-autopilot, as the install "
            "page shows; if renewals run on another host or in a container, run doctor --all "
            "there")]
    if not short_lived or any(s.runs_per_day is None for s in running):
        return []
    runs = sum(s.runs_per_day or 0 for s in running)
    if runs >= SHORT_LIVED_RUNS:
        return []
    return [Finding(
        Code.RENEWAL_SCHEDULE, WARNING, ", ".join(short_lived),
        f"`certbot renew` runs {runs:.2g} time(s) a day, and these certificates live under "
        f"{SHORT_LIVED.days} days: certbot renews them with half their lifetime left, and "
        "each missed run costs a large share of it", _where(running),
        "run certbot renew at least twice a day: OnCalendar=*-*-* 00,12:00:00 with "
        "RandomizedDelaySec=1h in the timer, or 0 */12 * * * in cron")]
