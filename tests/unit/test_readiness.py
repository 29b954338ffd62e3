"""Ready for short lifetimes (doctor --all): schedules read as runs per day, the timers and
cron entries found under a root directory, and the decisions on must-staple,
renew_before_expiry and the renewal schedule."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest

from certbot_dns_autopilot.cli import cadence, readiness, schedule
from certbot_dns_autopilot.cli.renewal import Lineage
from certbot_dns_autopilot.preflight.findings import ERROR, WARNING

DAY = datetime.timedelta(days=1)
LE = "https://acme-v02.api.letsencrypt.org/directory"


@pytest.mark.parametrize(("line", "runs"), [
    ("0 */12 * * *", 2),            # Debian's /etc/cron.d/certbot
    ("17 3 * * *", 1),
    ("0 0,12 * * *", 2),
    ("*/30 * * * *", 48),
    ("0 9-17/4 * * *", 3),          # 9, 13, 17
    ("0 3 * * 1", 1 / 7),
    ("0 3 * * mon-fri", 5 / 7),
    ("0 3 * * 0,7", 1 / 7),         # 0 and 7 are both Sunday
    ("0 3 1 * *", 1 / cadence.MONTH_DAYS),
    ("0 3 * jan *", 1 / 12),
    ("@daily", 1), ("@hourly", 24), ("@weekly", 1 / 7), ("@reboot", 0),
], ids=lambda v: str(v))
def test_cron_schedules_as_runs_per_day(line: str, runs: float) -> None:
    assert cadence.cron_runs_per_day(line) == pytest.approx(runs)


@pytest.mark.parametrize("line", ["0 3 * *", "61 * * * *", "0 25 * * *", "0 3 * * funday",
                                  "@sometimes", "*/0 * * * *"])
def test_a_cron_schedule_that_cannot_be_read_is_none(line: str) -> None:
    assert cadence.cron_runs_per_day(line) is None


@pytest.mark.parametrize(("spec", "runs"), [
    ("*-*-* 00,12:00:00", 2),       # Debian's certbot.timer
    ("daily", 1), ("hourly", 24), ("weekly", 1 / 7), ("minutely", 1440),
    ("*-*-* 03:28", 1),             # a snap's timer, one line of two
    ("*-*-* 0/6:00:00", 4),
    ("*:0/15", 96),
    ("Mon..Fri *-*-* 04:00:00", 5 / 7),
    ("Sat,Sun 04:00", 2 / 7),
    ("*-*-01 04:00:00", 1 / cadence.MONTH_DAYS),
    ("*-*-* 00,12:00:00 Europe/Berlin", 2),
    ("2026-01-01 00:00:00", 0),     # once, not a schedule
], ids=lambda v: str(v))
def test_on_calendar_as_runs_per_day(spec: str, runs: float) -> None:
    assert cadence.calendar_runs_per_day(spec) == pytest.approx(runs)


@pytest.mark.parametrize("spec", ["*-*-* 25:00:00", "*-*~03 04:00", "*-*-* 1:2:3:4"])
def test_on_calendar_that_cannot_be_read_is_none(spec: str) -> None:
    assert cadence.calendar_runs_per_day(spec) is None


@pytest.mark.parametrize(("span", "runs"), [("12h", 2), ("1d", 1), ("6h 30min", 86400 / 23400),
                                             ("43200", 2), ("30 min", 48)])
def test_timer_spans_as_runs_per_day(span: str, runs: float) -> None:
    assert cadence.interval_runs_per_day(span) == pytest.approx(runs)


@pytest.mark.parametrize("span", ["soon", "12 parsecs", "0", ""])
def test_a_span_that_cannot_be_read_is_none(span: str) -> None:
    assert cadence.interval_runs_per_day(span) is None


def tree(root: Path, files: dict[str, str], links: dict[str, str] = {}) -> Path:  # noqa: B006
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for name, target in links.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / name)
    return root


VENV_TIMER = {
    "etc/systemd/system/certbot-renew.timer":
        "[Unit]\nDescription=renew\n[Timer]\nOnCalendar=*-*-* 00,12:00:00\n"
        "RandomizedDelaySec=1h\n[Install]\nWantedBy=timers.target\n",
    "etc/systemd/system/certbot-renew.service":
        "[Service]\nType=oneshot\nExecStart=/opt/certbot/bin/certbot renew -q\n",
}
ENABLED = {"etc/systemd/system/timers.target.wants/certbot-renew.timer":
           "/etc/systemd/system/certbot-renew.timer"}


def test_an_enabled_timer_is_found_with_its_runs(tmp_path: Path) -> None:
    [found] = schedule.find(str(tree(tmp_path, VENV_TIMER, ENABLED)))
    assert found.enabled and found.runs_per_day == 2
    assert found.command == "/opt/certbot/bin/certbot renew -q"
    assert found.where.startswith("certbot-renew.timer")


def test_a_timer_without_its_wants_link_is_not_enabled(tmp_path: Path) -> None:
    [found] = schedule.find(str(tree(tmp_path, VENV_TIMER)))
    assert not found.enabled and "not enabled" in found.why_not


def test_systemctl_decides_where_it_is_asked(tmp_path: Path) -> None:
    root = str(tree(tmp_path, VENV_TIMER))
    asked = []
    [found] = schedule.find(root, systemctl=lambda unit: asked.append(unit) or "enabled")
    assert found.enabled and asked == ["certbot-renew.timer"]
    [found] = schedule.find(root, systemctl=lambda unit: "masked")
    assert not found.enabled and "masked" in found.why_not


def test_two_on_calendar_lines_add_up_and_a_unit_in_etc_hides_the_packaged_one(
        tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "lib/systemd/system/certbot.timer": "[Timer]\nOnCalendar=*-*-* 00,12:00:00\n",
        "lib/systemd/system/certbot.service":
            "[Service]\nExecStart=/usr/bin/certbot -q renew --no-random-sleep-on-renew\n",
        "etc/systemd/system/certbot.timer":
            "[Timer]\nOnCalendar=*-*-* 03:28\nOnCalendar=*-*-* 15:17\n",
        "etc/systemd/system/snap.other.timer": "[Timer]\nOnCalendar=daily\n",
        "etc/systemd/system/snap.other.service": "[Service]\nExecStart=/usr/bin/backup\n",
    }, ENABLED | {"etc/systemd/system/timers.target.wants/certbot.timer": "/x"})
    [found] = schedule.find(str(root))
    assert found.runs_per_day == 2 and found.where.startswith("certbot.timer")
    assert "/etc/systemd/system/" in found.where


def test_cron_entries_system_user_and_run_parts(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "etc/crontab": "SHELL=/bin/sh\n# m h dom mon dow user command\n"
                       "17 * * * * root cd / && run-parts --report /etc/cron.hourly\n",
        "etc/cron.d/certbot": "0 */12 * * * root /opt/certbot/bin/certbot renew -q\n",
        "var/spool/cron/crontabs/root": "30 4 * * * /usr/local/bin/renew-all\n",
        "usr/local/bin/renew-all": "#!/bin/sh\n/opt/certbot/bin/certbot -q renew\n",
        "etc/cron.daily/other": "#!/bin/sh\nlogrotate\n",
    })
    found = {s.where.removeprefix(str(root)): s for s in schedule.find(str(root))}
    assert sorted(found) == ["/etc/cron.d/certbot:1", "/var/spool/cron/crontabs/root:1"]
    assert found["/etc/cron.d/certbot:1"].runs_per_day == 2
    # a wrapper script that runs certbot renew counts (one level)
    assert found["/var/spool/cron/crontabs/root:1"].runs_per_day == 1


def test_debians_cron_line_does_nothing_where_systemd_runs(tmp_path: Path) -> None:
    line = ("0 */12 * * * root test -x /usr/bin/certbot -a \\! -d /run/systemd/system && "
            "perl -e 'sleep int(rand(43200))' && certbot -q renew\n")
    root = tree(tmp_path, {"etc/cron.d/certbot": line})
    [found] = schedule.find(str(root))
    assert found.enabled
    (root / "run/systemd/system").mkdir(parents=True)
    [found] = schedule.find(str(root), systemctl=lambda unit: "")
    assert not found.enabled and "systemd" in found.why_not


def test_a_fifo_named_by_a_cron_line_is_not_read(tmp_path: Path) -> None:
    root = tree(tmp_path, {"etc/cron.d/x": "0 3 * * * root /srv/pipe\n"})
    (root / "srv").mkdir()
    os.mkfifo(root / "srv" / "pipe")
    assert schedule.find(str(root)) == []  # returns instead of blocking on the FIFO


def lineage(**kw: object) -> Lineage:
    return Lineage("a", "/etc/letsencrypt/renewal/a.conf", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("server", "refused"), [
    (LE, True), ("https://acme-staging-v02.api.letsencrypt.org/directory", True),
    ("https://localhost:14000/dir", False), ("https://acme.zerossl.com/v2/DV90", False),
    (None, False)])
def test_must_staple_is_flagged_only_for_a_ca_that_refuses_it(server: str | None,
                                                              refused: bool) -> None:
    found = readiness.must_staple(lineage(server=server, must_staple=True))
    assert bool(found) == refused
    if found:
        assert (found[0].code, found[0].severity) == ("must-staple", ERROR)
        assert "must_staple = True" in found[0].fix
    assert readiness.must_staple(lineage(server=server, must_staple=False)) == []


@pytest.mark.parametrize(("lifetime", "before", "verdict"), [
    (90, 30, None), (90, 90, readiness.EVERY_RUN), (6, 30, readiness.EVERY_RUN),
    (90, 14, readiness.TOO_LATE), (90, 15, None), (45, 7, readiness.TOO_LATE),
    (6, 2, None), (6, 0, readiness.TOO_LATE),
])
def test_renew_before_expiry_against_the_lifetime(lifetime: int, before: int,
                                                  verdict: str | None) -> None:
    assert readiness.window(lifetime * DAY, before * DAY) == verdict


def test_renewal_window_findings_name_the_setting_and_severity() -> None:
    every = readiness.renewal_window(lineage(renew_before_expiry="30 days"), 6 * DAY, 30 * DAY)
    assert [(f.code, f.severity) for f in every] == [("renewal-window", ERROR)]
    assert "renew_before_expiry = 30 days" in every[0].problem
    late = readiness.renewal_window(lineage(renew_before_expiry="2"), 45 * DAY, 2 * DAY)
    assert [(f.code, f.severity) for f in late] == [("renewal-window", WARNING)]
    assert readiness.renewal_window(lineage(), 6 * DAY, 0 * DAY) == []  # certbot decides


def timer(runs: float | None, enabled: bool = True) -> schedule.Schedule:
    return schedule.Schedule("certbot.timer", "certbot renew", runs, enabled)


def test_no_enabled_schedule_is_an_error_for_the_machine() -> None:
    [found] = readiness.schedule_findings([timer(2, enabled=False)], ["a"], [])
    assert (found.code, found.severity, found.name) == ("renewal-schedule", ERROR,
                                                        "this machine")
    assert "certbot.timer" in found.evidence
    assert readiness.schedule_findings([], [], ["a"]) == []  # nothing renews: nothing to run


@pytest.mark.parametrize(("runs", "short", "warned"), [
    ([1], ["a"], True), ([1, 1], ["a"], False), ([2], ["a"], False), ([1], [], False),
    ([None], ["a"], False), ([0.5, None], ["a"], False)])
def test_a_short_lived_lineage_wants_two_runs_a_day(runs: list[float | None],
                                                   short: list[str], warned: bool) -> None:
    found = readiness.schedule_findings([timer(r) for r in runs], ["a", "b"], short)
    assert bool(found) == warned
    if found:
        assert (found[0].code, found[0].severity, found[0].name) == ("renewal-schedule",
                                                                     WARNING, "a")


# --- the certbot a renewal job runs, and whether it has the plugin --------------------------

VENV = {"opt/certbot/pyvenv.cfg": "home = /usr/bin\n",
        "opt/certbot/bin/certbot": "#!/opt/certbot/bin/python3\nfrom certbot.main import main\n",
        "opt/certbot/lib/python3.11/site-packages/certbot_dns_autopilot-1.0.dist-info/RECORD":
            ""}
DEBIAN = {"usr/bin/certbot": "#!/usr/bin/python3\nfrom certbot.main import main\n",
          "usr/lib/python3/dist-packages/certbot-2.1.0.dist-info/RECORD": ""}
DEBIAN_CRON = {"etc/cron.d/certbot": "0 */12 * * * root test -x /usr/bin/certbot && "
               "certbot -q renew\n"}
VENV_CRON = {"etc/cron.d/certbot-renew": "0 0,12 * * * root /opt/certbot/bin/certbot renew -q\n"}


def jobs_and_plugin(root: Path) -> tuple[list, dict]:
    found = schedule.find(str(root), systemctl=lambda unit: "enabled")
    return found, {job: schedule.has_plugin(schedule.certbot_of(job, str(root)) or "",
                                            str(root)) for job in found}


def test_a_bare_certbot_in_cron_is_debians_and_its_python_lacks_the_plugin(
        tmp_path: Path) -> None:
    root = tree(tmp_path, DEBIAN | DEBIAN_CRON | VENV)
    [job], plugin = jobs_and_plugin(root)
    assert schedule.certbot_of(job, str(root)) == "/usr/bin/certbot"
    assert plugin[job] is False
    [finding] = readiness.schedule_findings([job], ["a"], [], plugin, ours=["a"])
    assert (finding.code, finding.severity) == ("renewal-schedule", ERROR)
    assert "every renewal job runs a certbot without dns-autopilot" in finding.problem
    assert "/opt/certbot/bin/certbot renew -q" in finding.fix


def test_the_venvs_certbot_by_its_path_or_a_link_to_it_has_the_plugin(tmp_path: Path) -> None:
    root = tree(tmp_path, VENV | VENV_CRON)
    [job], plugin = jobs_and_plugin(root)
    assert plugin[job] is True
    assert readiness.schedule_findings([job], ["a"], [], plugin, ours=["a"]) == []
    linked = tree(tmp_path / "linked", VENV | {"etc/cron.d/renew": "0 */12 * * * root "
                                               "/usr/local/bin/certbot renew -q\n"},
                  {"usr/local/bin/certbot": "/opt/certbot/bin/certbot"})
    [job], plugin = jobs_and_plugin(linked)
    assert plugin[job] is True


def test_a_second_job_without_the_plugin_beside_one_with_it_is_a_warning(
        tmp_path: Path) -> None:
    root = tree(tmp_path, DEBIAN | DEBIAN_CRON | VENV | VENV_CRON)
    jobs, plugin = jobs_and_plugin(root)
    assert sorted(plugin.values(), key=str) == [False, True]
    [finding] = readiness.schedule_findings(jobs, ["a"], [], plugin, ours=["a"])
    assert finding.severity == WARNING and "another job renews them" in finding.problem
    # Lineages that renew with another plugin do not care which certbot has ours.
    assert readiness.schedule_findings(jobs, ["a"], [], plugin, ours=[]) == []


def test_a_job_whose_certbot_cannot_be_told_is_no_finding(tmp_path: Path) -> None:
    root = tree(tmp_path, {"etc/cron.d/snap": "0 */12 * * * root /snap/bin/certbot.renew\n",
                           "etc/cron.d/wrapper": "0 */12 * * * root /usr/local/sbin/renew.sh\n",
                           "usr/local/sbin/renew.sh": "#!/bin/sh\ncertbot renew -q\n"})
    jobs, plugin = jobs_and_plugin(root)
    assert len(jobs) == 2 and set(plugin.values()) == {None}
    assert readiness.schedule_findings(jobs, ["a"], [], plugin, ours=["a"]) == []


def test_this_test_runs_certbot_has_the_plugin() -> None:
    """On a real environment: the venv the tests run in has dns-autopilot installed (as
    lab/bootstrap.sh installs it), and its certbot script is read as having it."""
    import sys

    assert schedule.has_plugin(str(Path(sys.executable).parent / "certbot"), "/") is True
