"""The propagation waiter against real servers: lagging secondaries, stopped ones, and a
resolver holding an old answer. The event log is the evidence each test reads."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from labkit import Certbot, Lab, cache_old_value, stopped, wait_absent, when_logged
from netconditions import transfers_held

pytestmark = pytest.mark.lab

REQUIRED = {"ts", "step", "name", "duration_ms", "outcome"}


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


def test_secondary_without_notify_is_waited_for_and_logged(lab: Lab, certbot: Certbot) -> None:
    domain = f"t{uuid.uuid4().hex[:10]}.slow.test"  # slow.test: NOTIFY off, refresh 4-6 s
    name = f"_acme-challenge.{domain}"
    # The secondary's refresh timer runs free: it is held back (its refreshes dropped) until
    # the plugin has found it behind in two rounds, whenever the timer fires; then its own
    # timer (a failed refresh is retried after 2-3 s) brings it up to date, no NOTIFY sent.
    with transfers_held(lab) as release:
        with when_logged(certbot, "authoritative-round", release, times=2):
            run = certbot.certonly(domain)
    assert run.returncode == 0, run.output

    ns2 = [e for e in run.steps("query", phase="authoritative", name=name)
           if e["server"].startswith("ns2.slow.test") or lab.secondary in e["server"]]
    assert ns2[0]["outcome"] == "missing" and ns2[0]["answer"]["rcode"] == "NXDOMAIN"
    assert ns2[-1]["outcome"] == "served"
    assert len(ns2) >= 3, "the secondary was polled until it caught up"
    done = run.steps("authoritative-round", outcome="done")
    assert len(done) == 1

    # Independent evidence, from Unbound's own query log: no resolver was asked for the
    # name before every authoritative server served it.
    asked = lab.resolver_log_times(name)
    assert asked, "the public check and Pebble asked the resolver"
    assert min(asked) >= int(_epoch(done[0]["ts"]) - 0.001)


def test_every_step_is_one_json_event_without_secrets(lab: Lab, certbot: Certbot,
                                                      fresh_name: str) -> None:
    run = certbot.certonly(fresh_name, f"*.{fresh_name}", f"www.{fresh_name}")
    assert run.returncode == 0, run.output
    steps = {e["step"] for e in run.events}
    assert {"plan", "write", "nameservers", "query", "authoritative-round", "public-round",
            "wait-done", "cleanup"} <= steps
    for event in run.events:
        assert REQUIRED <= set(event), event
    for query in run.steps("query"):
        assert query["server"] and query["answer"]["rcode"]
    write = run.steps("write")
    assert len(write) == 1 and write[0]["values"] == 3, "one UPDATE per zone carries every value"
    secret = lab.credentials.read_text().split("secret = ")[1].split()[0]
    raw = (certbot.logs_dir / "dns-autopilot.jsonl").read_text()
    assert secret not in raw and secret not in run.log and secret not in run.output
    assert "dns-autopilot: query _acme-challenge" in run.log  # readable lines in certbot's log


def test_a_stopped_secondary_is_not_waited_on_until_the_timeout(
        lab: Lab, certbot: Certbot, fresh_name: str) -> None:
    with stopped(lab.pid("secondary")):
        run = certbot.certonly(fresh_name, extra=("--dns-autopilot-propagation-timeout", "30",
                                                  "--dns-autopilot-preflight", "false"))
    assert run.returncode == 0, run.output
    [done] = run.steps("wait-done", outcome="ok")
    assert done["authoritative_s"] < 30, "the silent server did not hold the wait to its end"
    assert any(lab.secondary in u for u in done["unverified"])
    rounds = run.steps("authoritative-round")
    assert rounds[-1]["outcome"] == "done" and rounds[-1]["unverified"] == 1
    wait_absent(lab, f"_acme-challenge.{fresh_name}")


def test_a_resolver_holding_an_old_value_is_waited_out(lab: Lab, certbot: Certbot,
                                                       fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    cache_old_value(lab, name, ttl=25)  # outlives the write and authoritative phase
    run = certbot.certonly(fresh_name)
    assert run.returncode == 0, run.output
    waits = run.steps("public-wait", name=name)
    assert waits, "the public phase saw the cached value and waited"
    assert waits[0]["answer"]["values"] == ["old-value-from-last-run"]
    assert 0 < waits[0]["seconds"] <= 26
    assert "waiting out its TTL" in waits[0]["reason"]
    assert run.steps("public-round", outcome="done")
    wait_absent(lab, name)


def test_a_resolver_cache_longer_than_the_timeout_is_explained(lab: Lab, certbot: Certbot,
                                                               fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    cache_old_value(lab, name, ttl=600)
    run = certbot.certonly(fresh_name, extra=("--dns-autopilot-propagation-timeout", "8"))
    assert run.returncode != 0
    assert "dns-autopilot [resolver-disagreement]" in run.output
    assert '"old-value-from-last-run"' in run.output
    assert f"dig @{lab.resolver} {name} TXT" in run.output
    assert "Traceback" not in run.output
    wait_absent(lab, name, values={"old-value-from-last-run"})


def test_public_check_off_skips_the_resolvers(lab: Lab, certbot: Certbot,
                                              fresh_name: str) -> None:
    run = certbot.certonly(fresh_name, extra=("--dns-autopilot-public-check", "false"))
    assert run.returncode == 0, run.output
    assert run.steps("query", phase="authoritative")
    assert not run.steps("query", phase="public")


def test_a_hundred_names_are_one_write_and_one_concurrent_wait(lab: Lab, certbot: Certbot) -> None:
    base = f"t{uuid.uuid4().hex[:8]}.autopilot.test"
    domains = [f"n{i}.{base}" for i in range(100)]
    run = certbot.certonly(*domains)
    assert run.returncode == 0, run.output
    [write] = run.steps("write")
    assert write["values"] == 100 and len(write["names"]) == 100
    rounds = run.steps("authoritative-round")
    assert rounds[0]["total"] == 200, "100 names x 2 nameserver addresses, asked together"
    assert len(rounds) < 30, "rounds poll every name at once, not name after name"
    assert len(run.steps("cleanup")) == 1
