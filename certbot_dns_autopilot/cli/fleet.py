"""`dns-autopilot doctor --all`: every lineage certbot renews, checked before its renewal.

A CAA record added by another team, a rotated token, a moved nameserver are otherwise found
when `certbot renew` fails at night. This reads certbot's renewal configurations
(``<config-dir>/renewal/*.conf``), runs doctor's probes for each lineage that renews with
dns-autopilot, with that lineage's own saved options, checks every lineage's renewal
settings and this machine's renewal schedule for short certificate lifetimes
(`readiness`), and reports a table, the findings, an exit status (0/1/2, the Nagios
convention; 3 when the config dir cannot be read) and optionally a node-exporter textfile.
Reading certbot's state is `renewal.py`, the schedule `schedule.py`; rendering here is
pure; `check` and `main` do the I/O.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from certbot import errors

from .. import options, scrub, statefiles
from ..codes import Code
from ..errors import AutopilotError
from ..preflight import account
from ..preflight.findings import ERROR, WARNING, Finding, exit_status
from . import doctor, readiness, renewal, schedule
from .renewal import Lineage

PLUGIN = "dns-autopilot"
#: a lineage doctor cannot read or check (its file, its certificate, its saved credentials)
CODE = Code.RENEWAL_CONFIG



@dataclass
class Report:
    """What doctor found for one lineage."""

    lineage: Lineage
    domains: list[str] = field(default_factory=list)
    not_before: datetime.datetime | None = None
    expires: datetime.datetime | None = None
    renew_now: bool | None = None
    checked: bool = False
    findings: list[Finding] = field(default_factory=list)

    @property
    def status(self) -> int:
        return exit_status(self.findings)

    def days_left(self, now: datetime.datetime) -> float | None:
        if self.expires is None:
            return None
        return (self.expires - now).total_seconds() / 86400

    def worst(self) -> str:
        if not self.checked and not self.findings:
            return f"not checked ({self.lineage.authenticator or 'no authenticator'})"
        if not self.findings:
            return "ok"
        first = min(self.findings, key=lambda f: f.severity != ERROR)
        more = len(self.findings) - 1
        return f"{first.severity} {first.code}" + (f" (+{more})" if more else "")


def lineage_check(lineage: Lineage, domains: Iterable[str], config_dir: str,
                  account_url: str | None = None, no_permission_probe: bool = False,
                  work_dir: str | None = None) -> doctor.Check:
    """doctor's check for one lineage: its names, and each option doctor takes as its
    renewal configuration saved it, read by the options table as a renewal reads it (an
    option only a run uses, such as the propagation timeout, does not matter to doctor), and
    the work dir its renewals lock under (`work_dir_of`)."""
    saved = {o.name: o.read(text) for o in options.OPTIONS if o.doctor
             if (text := lineage.saved.get(o.dest, "")).strip() not in ("", "None")}
    return doctor.Check(tuple(domains), saved, server=lineage.server, config_dir=config_dir,
                        work_dir=work_dir, account=account_url,
                        no_permission_probe=no_permission_probe)


def _problem(lineage: Lineage, problem: str, fix: str) -> Finding:
    return Finding(CODE, ERROR, lineage.name, problem, f"renewal configuration: {lineage.path}",
                   fix)


def work_dir_of(lineage: Lineage, default: str | None) -> str | None:
    """Where `certbot renew` keeps this lineage's locks: its saved work_dir (certbot restores
    it for the renewal), else the one certbot renew is given (``default``)."""
    return lineage.work_dir or default


def check(lineage: Lineage, config_dir: str, no_permission_probe: bool,
          now: datetime.datetime, work_dir: str | None = None) -> Report:
    """One lineage: its certificate, and doctor's probes with its saved options."""
    report = Report(lineage)
    if lineage.problem:
        report.findings.append(_problem(lineage, lineage.problem, "repair or remove the file "
                                        "(`certbot certificates` shows what certbot reads)"))
        return report
    try:
        report.domains, report.not_before, report.expires = renewal.certificate(lineage.cert or "")
    except (OSError, ValueError) as exc:
        report.findings.append(_problem(
            lineage, f"the certificate {lineage.cert or '(none named)'} cannot be read: {exc}",
            "restore the lineage's live/ and archive/ files, or remove the lineage with "
            "`certbot delete`"))
        return report
    report.renew_now = renewal.would_renew(report.not_before, report.expires, now,
                                   lineage.renew_before_expiry, lineage.autorenew)
    report.findings += readiness.must_staple(lineage)
    if lineage.renew_before_expiry and lineage.autorenew:  # certbot renew reads it
        report.findings += readiness.renewal_window(
            lineage, report.expires - report.not_before,
            renewal.interval(lineage.renew_before_expiry, report.not_before))
    if lineage.authenticator != PLUGIN:
        return report
    report.checked = True
    unreadable = _unreadable_option(lineage)
    if unreadable:
        report.findings.append(unreadable)
        return report
    check_ = lineage_check(lineage, report.domains, config_dir,
                           account.url_for_id(config_dir, lineage.server, lineage.account),
                           no_permission_probe, work_dir)
    if not check_.option("credentials"):
        report.findings.append(_problem(
            lineage, f"no {options.flag('credentials', options.RENEWAL)} is saved: the "
            "renewal cannot write records", f"certbot reconfigure --cert-name {lineage.name} "
            f"{options.flag('credentials', options.PLUGIN)} PATH"))
        return report
    try:
        report.findings += doctor.diagnose(check_)[1]
    except AutopilotError as exc:
        report.findings.append(Finding(exc.code, ERROR, lineage.name, exc.problem,
                                       exc.evidence, exc.fix))
    except errors.PluginError as exc:  # the saved credentials file, read as the plugin reads it
        report.findings.append(_problem(
            lineage, str(exc), "correct the file, or save another with `certbot reconfigure "
            f"--cert-name {lineage.name} {options.flag('credentials', options.PLUGIN)} PATH`"))
    except Exception as exc:  # noqa: BLE001 - one lineage must not hide the others' report
        report.findings.append(_problem(
            lineage, f"doctor could not check this lineage ({type(exc).__name__}: {exc})",
            f"run `dns-autopilot doctor -d NAME --credentials PATH` for {lineage.name}'s "
            "names to see the whole error"))
    return report


def _unreadable_option(lineage: Lineage) -> Finding | None:
    """A saved option whose value the plugin would refuse at renewal, named by its key in
    the renewal configuration (where the value is)."""
    for key, value in sorted(lineage.saved.items()):
        option = options.BY_NAME.get(key.replace("_", "-"))
        if option is None or value.strip() in ("", "None"):
            continue
        try:
            option.read(value)
        except ValueError as exc:
            return _problem(lineage, f"{option.spelling(options.RENEWAL)} = {value} in "
                            f"[renewalparams] cannot be read: {exc}", f"{option.fix}: `certbot "
                            f"reconfigure --cert-name {lineage.name} "
                            f"{option.spelling(options.PLUGIN)} VALUE`")
    return None


def check_all(lineages: Sequence[Lineage], config_dir: str, no_permission_probe: bool,
              jobs: int = doctor.DEFAULT_JOBS, now: datetime.datetime | None = None,
              work_dir: str | None = None) -> list[Report]:
    """Every lineage, up to ``jobs`` at once, in the lineages' order, each with the work dir
    its renewals lock under (`work_dir_of`, ``work_dir`` the default): its writers take the
    same locks as its renewals."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if not lineages:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(lineages)))) as pool:
        return list(pool.map(lambda lin: check(lin, config_dir, no_permission_probe, now,
                                               work_dir_of(lin, work_dir)), lineages))


def machine_findings(reports: Sequence[Report], system_root: str) -> list[Finding]:
    """This machine's renewal schedule, for the lineages that renew (`readiness`)."""
    renewing = [r.lineage.name for r in reports if r.lineage.autorenew and r.expires]
    short = [r.lineage.name for r in reports if r.lineage.autorenew and r.expires
             and r.not_before and r.expires - r.not_before < renewal.SHORT_LIVED]
    ours = [r.lineage.name for r in reports if r.lineage.autorenew and r.expires
            and r.lineage.authenticator == PLUGIN]
    found = schedule.find(system_root)
    plugin = {}
    for job in found:
        certbot = schedule.certbot_of(job, system_root)
        plugin[job] = schedule.has_plugin(certbot, system_root) if certbot else None
    return readiness.schedule_findings(found, renewing, short, plugin, ours)


def summary(reports: Sequence[Report], machine: Sequence[Finding] = ()) -> dict[str, object]:
    findings = [f for r in reports for f in r.findings] + list(machine)
    return {"lineages": len(reports), "checked": sum(r.checked for r in reports),
            "not_checked": sum(not r.checked for r in reports),
            "renew_now": sum(bool(r.renew_now) for r in reports),
            "errors": sum(f.severity == ERROR for f in findings),
            "warnings": sum(f.severity == WARNING for f in findings),
            "status": exit_status(findings)}


def as_json(reports: Sequence[Report], now: datetime.datetime,
            machine: Sequence[Finding] = ()) -> dict[str, object]:
    """``{"lineages": [...], "machine": [...], "summary": {...}}`` (documented in
    docs/doctor.md)."""
    rows = []
    for r in reports:
        days = r.days_left(now)
        rows.append({"name": r.lineage.name, "domains": r.domains,
                     "expires": r.expires.isoformat() if r.expires else None,
                     "days_left": None if days is None else round(days, 2),
                     "renew_now": r.renew_now, "authenticator": r.lineage.authenticator,
                     "checked": r.checked, "status": r.status,
                     "findings": [f.as_dict() for f in r.findings]})
    return {"lineages": rows, "machine": [f.as_dict() for f in machine],
            "summary": summary(reports, machine)}


def _names(domains: list[str]) -> str:
    if not domains:
        return "-"
    return domains[0] + (f" +{len(domains) - 1}" if len(domains) > 1 else "")


def table(reports: Sequence[Report], now: datetime.datetime) -> str:
    """One line per lineage: name, names, expiry and days left, renew now, worst finding."""
    head = ("LINEAGE", "NAMES", "EXPIRES", "DAYS", "RENEW NOW", "WORST")
    rows = [head]
    for r in reports:
        days = r.days_left(now)
        rows.append((r.lineage.name, _names(r.domains),
                     r.expires.strftime("%Y-%m-%d %H:%M") if r.expires else "-",
                     "-" if days is None else f"{days:.0f}",
                     {True: "yes", False: "no", None: "-"}[r.renew_now], r.worst()))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
                     + "  " + row[-1] for row in rows)


def text(reports: Sequence[Report], now: datetime.datetime,
         machine: Sequence[Finding] = ()) -> str:
    """The table, then each lineage's findings, this machine's, then one summary line."""
    out = [table(reports, now)]
    for r in reports:
        if r.findings:
            out.append(f"\n== {r.lineage.name} ({', '.join(r.domains) or 'no names'})")
            out += [f.text() for f in r.findings]
    if machine:
        out.append(f"\n== {readiness.MACHINE} (certbot renew)")
        out += [f.text() for f in machine]
    s = summary(reports, machine)
    out.append(f"\n{s['lineages']} lineage(s), {s['checked']} checked, "
               f"{s['not_checked']} not checked; {s['errors']} "
               f"error(s), {s['warnings']} warning(s)")
    return "\n".join(out)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _counts(lineage: str, findings: Sequence[Finding]) -> list[str]:
    counts: dict[tuple[str, str], int] = {}
    for f in findings:
        counts[(f.code, f.severity)] = counts.get((f.code, f.severity), 0) + 1
    return [f'dns_autopilot_findings{{lineage="{_label(lineage)}",code="{_label(code)}",'
            f'severity="{severity}"}} {count}'
            for (code, severity), count in sorted(counts.items())]


def prometheus(reports: Sequence[Report], now: datetime.datetime,
               machine: Sequence[Finding] = ()) -> str:
    """A node-exporter textfile: days left, renew now, worst severity, findings by code
    (this machine's own, such as no renewal timer, under lineage="")."""
    out = ["# HELP dns_autopilot_certificate_days_left Days until the lineage's certificate "
           "expires.", "# TYPE dns_autopilot_certificate_days_left gauge"]
    for r in reports:
        days = r.days_left(now)
        if days is not None:
            out.append(f'dns_autopilot_certificate_days_left{{lineage="{_label(r.lineage.name)}"'
                       f'}} {days:.3f}')
    out += ["# HELP dns_autopilot_renew_now 1 when certbot renew would renew the lineage now.",
            "# TYPE dns_autopilot_renew_now gauge"]
    for r in reports:
        if r.renew_now is not None:
            out.append(f'dns_autopilot_renew_now{{lineage="{_label(r.lineage.name)}"}} '
                       f"{int(r.renew_now)}")
    out += ["# HELP dns_autopilot_lineage_severity Worst doctor finding: 0 healthy, "
            "1 warning, 2 error (lineages renewed with dns-autopilot).",
            "# TYPE dns_autopilot_lineage_severity gauge"]
    for r in reports:
        if r.checked or r.findings:
            out.append(f'dns_autopilot_lineage_severity{{lineage="{_label(r.lineage.name)}"}} '
                       f"{r.status}")
    out += ["# HELP dns_autopilot_findings Doctor findings by code and severity.",
            "# TYPE dns_autopilot_findings gauge"]
    for r in reports:
        out += _counts(r.lineage.name, r.findings)
    out += _counts("", machine)
    out += ["# HELP dns_autopilot_doctor_last_run_timestamp_seconds When doctor --all ran.",
            "# TYPE dns_autopilot_doctor_last_run_timestamp_seconds gauge",
            f"dns_autopilot_doctor_last_run_timestamp_seconds {now.timestamp():.0f}"]
    return "\n".join(out) + "\n"


def write_atomically(path: str, content: str) -> None:
    """Write beside ``path`` and rename over it: node-exporter never reads half a file. The
    textfile directory is often node-exporter's own: nothing there is changed by path.

    :raises statefiles.Unsafe: another user swapped the file while it was written.
    """
    statefiles.write_replacing(path, content.encode("utf-8"), 0o644)


def main(args: argparse.Namespace) -> int:
    """`doctor --all`: prints the table (or JSON); exit 0 healthy, 1 warnings, 2 errors,
    3 when certbot's config dir cannot be read."""
    now = datetime.datetime.now(datetime.timezone.utc)
    config_dir = args.config_dir or doctor.CONFIG_DIR
    try:
        lineages = renewal.read_lineages(config_dir)
    except errors.PluginError as exc:
        print(doctor.said("doctor", exc), file=sys.stderr)
        return doctor.UNKNOWN
    reports = check_all(lineages, config_dir, args.no_permission_probe, args.jobs, now,
                        args.work_dir)
    machine = machine_findings(reports, args.system_root)
    if args.prometheus:
        try:
            write_atomically(args.prometheus, scrub.scrub(prometheus(reports, now, machine),
                                                          patterns=False))
        except (OSError, statefiles.Unsafe) as exc:
            print(f"dns-autopilot doctor: cannot write {args.prometheus}: {exc}. Fix: give "
                  "a writable path (node-exporter's --collector.textfile.directory)",
                  file=sys.stderr)
            return 2
    if args.json:
        json.dump(scrub.scrubbed(as_json(reports, now, machine)), sys.stdout, indent=1)
        print()
    elif reports:
        print(text(reports, now, machine))
    else:
        print(f"no lineages in {os.path.join(config_dir, 'renewal')}")
    return int(summary(reports, machine)["status"])  # type: ignore[call-overload]
