"""Convergence after a crash at any external call (see harness.py).

For each scenario: a clean run, then one run per external call of the clean run
with a crash right after that call, retries as SQS would make them, and the end
state compared with the clean run's."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from edgepub import jobs, ops
from edgepub.aws import SqsPublishQueue
from edgepub.errors import OperatorError
from moto import mock_aws

from tests.crashpoints.harness import Calls, Scenario, World, describe, forked, later, play, run
from tests.support.sites import md

pytestmark = pytest.mark.crashpoints


def base(world: World) -> None:
    """Three live articles over two tags, published one by one."""
    for name, data in (
        ("a.md", md("Alpha", date="2026-01-01", tags=("cache",), body="Alpha body.")),
        ("b.md", md("Beta", date="2026-01-02", tags=("cache", "edge"), body="Beta body.")),
        ("c.md", md("Gamma", date="2026-01-03", tags=("edge",), body="Gamma body.")),
    ):
        world.publisher.sync(world.upload(name, data))


class Sync:
    """An editor uploads `data` as `name` (or deletes it, when None), once; then the S3
    notification reaches the publish function: the step that may crash and be redelivered."""

    def __init__(self, name: str, data: bytes | None = None) -> None:
        self.name, self.data = name, data
        self.event = ""  # its S3 sequencer, given when the editor's change is made
        self.__name__ = f"sync({name})"

    def prepare(self, world: World) -> None:
        if self.data is None:
            world.remove(self.name)
        else:
            world.upload(self.name, self.data)
        self.event = world.sequencer(self.name)  # each process (fork) sets its own

    def __call__(self, world: World) -> None:
        world.publisher.sync(f"content/{self.name}", sequencer=self.event)


sync = Sync


class Editor(Sync):
    """Only the editor's upload: its notification is not delivered (yet)."""

    def __call__(self, world: World) -> None:
        pass


class Event(Sync):
    """Only the notification of the editor's first change to `name`, delivered late."""

    def prepare(self, world: World) -> None:
        self.event = world.uploads[self.name][0]


def with_rollback_history(world: World) -> None:
    base(world)
    world.notes["first"] = world.pages.versions("a/index.html")[0]["version_id"]
    world.publisher.sync(world.upload("a.md", md("Alpha", date="2026-01-01", tags=("cache",), body="Alpha, v2.")))


def one_article(world: World) -> None:
    world.publisher.sync(world.upload("c.md", md("Gamma", date="2026-01-03", tags=("edge",), body="Gamma body.")))


def unpublish_b(world: World) -> None:
    """An operator's `edgepub unpublish b`; run again after a crash, it may find b unpublished already."""
    try:
        ops.unpublish(world.publisher, "b")
    except OperatorError as error:
        assert "is not published" in str(error)


def rollback_a(world: World) -> None:
    """`edgepub rollback a --to <first version>`: with the version named, running it again changes nothing more."""
    ops.rollback(world.publisher, world.pages, "a", to_version=world.notes["first"])


def republish_everything(world: World) -> None:
    """`edgepub republish --all`: one publish-queue message per source and one for the site's own pages."""
    ops.republish(world.publisher, SqsPublishQueue(world.settings, sqs=world.sqs), everything=True)


def with_a_lost_notification(world: World) -> None:
    base(world)
    world.upload("d.md", NEW_D)  # its notification never came


def reconcile(world: World) -> None:
    """`edgepub reconcile`: sources the index does not know are queued for the publish function."""
    ops.reconcile(world.publisher, SqsPublishQueue(world.settings, sqs=world.sqs))


def drain(world: World) -> None:
    world.drain()


class RerenderInSmallSteps:
    """`edgepub rerender` after a setting every page shows changed, with the knobs turned so
    that a tiny site takes every path a large one does: chunks of 2 articles, pages stored
    in parallel past 1, and the site's own pages 4 a lease, one chunk per message."""

    __name__ = "rerender"

    def prepare(self, world: World) -> None:
        import edgepub.publisher
        import edgepub.service

        edgepub.publisher.PARALLEL_WRITES_OVER = 1
        edgepub.publisher.REFRESH_CHUNK = 4
        edgepub.service.SITE_PAGES_SECONDS = 1e-9
        world.settings = replace(world.settings, site_title="Renamed")
        world.new_process()

    def __call__(self, world: World) -> None:
        from edgepub import rerender

        rerender.start(world.publisher, SqsPublishQueue(world.settings, sqs=world.sqs), size=2)


def in_the_older_layout(world: World) -> None:
    """The base site, its index as an edgepub before the partial layout wrote it."""
    from tests.support.tables import to_older_layout

    base(world)
    to_older_layout(world.dynamodb.Table(world.settings.articles_table))


def migrate_index(world: World) -> None:
    """`edgepub migrate-index` (run again by the operator when it failed)."""
    world.index.migrate()


class ThemeChange:
    """An editor uploads a new edgepub.toml, a template override and a stylesheet; the
    notification of the last reaches the publish function, which checks the theme,
    stores the stylesheet and fans the re-render out through the publish queue."""

    __name__ = "theme change"

    def prepare(self, world: World) -> None:
        world.upload_site_file("edgepub.toml", b'title = "Renamed"\nfooter = "Field notes."\n')
        world.upload_site_file(
            "theme/templates/article.html",
            b'{% extends "builtin/article.html" %}{% block title %}Read: {{ a.title }}{% endblock %}',
        )
        world.upload_site_file("theme/static/site.css", b"body{color:#222}")

    def __call__(self, world: World) -> None:
        from edgepub.s3events import SourceChange
        from edgepub.service import fan_out

        publisher = world.publisher
        publisher.fanout = lambda: fan_out(publisher, SqsPublishQueue(world.settings, sqs=world.sqs))
        publisher.apply(SourceChange(world.settings.sources_bucket, "theme/static/site.css", "ObjectCreated:Put"))


class BundleSync(Sync):
    """A page bundle: its image is uploaded, then its index.md, whose notification is delivered."""

    def prepare(self, world: World) -> None:
        world.upload("d/diagram.png", PNG)
        super().prepare(world)


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # bytes enough: the file is stored, not decoded


def out_of_date_order(world: World) -> None:
    """The three articles published newest first: their archive pages run against their dates."""
    for name, data in (
        ("c.md", md("Gamma", date="2026-01-03", tags=("edge",), body="Gamma body.")),
        ("b.md", md("Beta", date="2026-01-02", tags=("cache", "edge"), body="Beta body.")),
        ("a.md", md("Alpha", date="2026-01-01", tags=("cache",), body="Alpha body.")),
    ):
        world.publisher.sync(world.upload(name, data))


def relayout(world: World) -> None:
    """`edgepub relayout`: every listing laid out again in date order; run again, it changes nothing."""
    ops.relayout(world.publisher)


def with_schedule(world: World) -> None:
    base(world)
    world.publisher.sync(
        world.upload("d.md", md("Delta", date="2026-01-04", tags=("edge",), publish_date="2026-11-25"))
    )
    world.publisher.sync(world.upload("e.md", md("Epsilon", date="2026-01-05", expiry_date="2026-11-24")))


def transitions(world: World) -> None:
    later(world, 5)
    jobs.run_transitions(world.publisher, world.index, world.now)


def with_drift(world: World) -> None:
    base(world)
    world.s3.delete_object(Bucket=world.settings.site_bucket, Key="beta/index.html")
    stray = {"Key": "stray/index.html", "Body": b"<p>left behind</p>", "Metadata": {"content-hash": "0" * 64}}
    world.s3.put_object(Bucket=world.settings.site_bucket, **stray)  # edgepub's, for an article now gone
    world.s3.put_object(Bucket=world.settings.site_bucket, Key="favicon.ico", Body=b"an operator's file")


def drift(world: World) -> None:
    for _ in range(5):  # a run per batch, until the bucket was listed to the end
        if jobs.repair_drift(world.publisher, world.index, batch=50).done:
            return


def with_a_and_b_waiting(world: World) -> None:
    base(world)


A_AGAIN = md("Alpha", date="2026-01-01", tags=("cache",), body="Alpha body.")
NEW_D = md("Delta", date="2026-01-04", tags=("edge", "new"), body="Delta body.")
B_TAKES_A = md("Alpha by B", date="2026-01-06", tags=("edge",), body="B now.", slug="a")

SCENARIOS = [
    Scenario("new article", base, [sync("d.md", NEW_D)]),
    Scenario("body edit", base, [sync("a.md", md("Alpha", date="2026-01-01", tags=("cache",), body="Edited."))]),
    Scenario(
        "tag change", base, [sync("b.md", md("Beta", date="2026-01-02", tags=("edge", "ops"), body="Beta body."))]
    ),
    Scenario(
        "slug rename",
        base,
        [sync("a.md", md("Alpha", date="2026-01-01", tags=("cache",), body="Alpha body.", slug="alpha-renamed"))],
    ),
    Scenario(
        "alias added",
        base,
        [sync("c.md", md("Gamma", date="2026-01-03", tags=("edge",), body="Gamma body.", aliases="[/old-gamma/]"))],
    ),
    Scenario("delete", base, [sync("b.md", None)]),
    Scenario("unpublish", base, [unpublish_b]),
    Scenario("rollback", with_rollback_history, [rollback_a]),
    Scenario("scheduled publish and expiry", with_schedule, [transitions]),
    Scenario("republish everything through the publish queue", base, [republish_everything, drain]),
    Scenario("reconcile a lost notification", with_a_lost_notification, [reconcile, drain]),
    Scenario("drift repair", with_drift, [drift]),
    Scenario("relayout of a site published out of date order", out_of_date_order, [relayout]),
    Scenario("theme change fanned out through the publish queue", one_article, [ThemeChange(), drain]),
    Scenario("full re-render in chunks, pages stored in parallel", base, [RerenderInSmallSteps(), drain]),
    Scenario("index moved from the older layout", in_the_older_layout, [migrate_index]),
    Scenario("page bundle with an image", base, [BundleSync("d/index.md", NEW_D + b"\n![Diagram](diagram.png)\n")]),
    Scenario("slug handover, delete first", base, [sync("a.md", None), sync("z.md", B_TAKES_A)]),
    Scenario("slug handover, upload first", base, [sync("z.md", B_TAKES_A), sync("a.md", None)]),
    Scenario(
        "publish redelivered after its source was deleted",
        base,
        [sync("d.md", NEW_D), sync("d.md", None)],
        redeliver_last=True,
        # the publish took effect before the crash, or it did not: either is a clean history
        also=[[Editor("d.md", NEW_D), sync("d.md", None), Event("d.md")]],
    ),
]


def outcome(world: World) -> dict[str, Any]:
    """What a run left: the state, what it did not purge, its orphans, the calls it made."""
    state = world.state()
    return {"state": state, "unpurged": world.unpurged(), "orphans": world.orphans(state), "calls": world.calls.log}


def compare(state: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    parts = ("entries", "rows", "counters", "hashes", "pending_purge", "dirty", "meta_left")
    problems = [p for p in parts if state[p] != expected[p]]
    # what each source key published (a deleted key's last slug is bookkeeping, not state)
    records = {k: v if v[1] != "deleted" else ("", "deleted") for k, v in state["records"].items()}
    wanted = {k: v if v[1] != "deleted" else ("", "deleted") for k, v in expected["records"].items()}
    if records != wanted:
        problems.append(f"records {sorted(set(records.items()) ^ set(wanted.items()))[:3]}")
    if state["pages"] != expected["pages"]:
        differ = sorted(set(state["pages"]) ^ set(expected["pages"])) or sorted(
            key for key in state["pages"] if state["pages"][key] != expected["pages"][key]
        )
        problems.append(f"pages {differ[:5]}")
    return problems


def diverges(result: dict[str, Any], alternatives: list[dict[str, Any]]) -> list[str]:
    """How a run's outcome differs from the nearest clean end state, what it left unpurged, its orphans."""
    problems = min((compare(result["state"], alt) for alt in alternatives), key=len)
    problems += [f"unpurged {result['unpurged'][:5]}"] if result["unpurged"] else []
    problems += [f"orphans {result['orphans'][:5]}"] if result["orphans"] else []
    return problems


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_crash_point_converges_to_the_clean_run(scenario: Scenario) -> None:
    with mock_aws():
        world = World()
        with world.quiet():
            scenario.setup(world)
        # every run below starts from this world as it is now, in a forked copy of this process
        histories = [scenario.steps, *scenario.also]
        cleans = forked(lambda steps: outcome(play(world, scenario, steps)), histories)
        for result in cleans:
            assert result[0] == "ok", result[1]
        clean = cleans[0][1]
        expected = clean["state"]
        assert expected["pending_purge"] == [] and expected["dirty"] == []
        disagree = expected["rows"][:5]
        assert disagree == [], f"the clean run's derived items disagree with its entries: {disagree}"
        assert clean["unpurged"] == [], f"the clean run left {clean['unpurged']} unpurged"
        assert clean["orphans"] == [], f"the clean run left orphans {clean['orphans']}"
        calls = len(clean["calls"])
        assert calls > 5, f"{scenario.name}: only {calls} external calls counted"
        alternatives = [c[1]["state"] for c in cleans]
        runs = forked(lambda k: outcome(play(world, scenario, scenario.steps, crash_at=k)), list(range(1, calls + 1)))
    diverged = []
    for k, (status, result) in enumerate(runs, start=1):
        if status != "ok":
            diverged.append(f"crash after call {k} ({clean['calls'][k - 1]}): the retries failed:\n{result}")
            continue
        problems = diverges(result, alternatives)
        if problems:
            diverged.append(f"crash after call {k} ({clean['calls'][k - 1]}): {', '.join(problems)}")
    assert not diverged, (
        f"{scenario.name}: {len(diverged)} of {calls} crash points diverge:\n"
        + "\n".join(diverged[:15])
        + "\nclean: "
        + describe(expected)
    )


@pytest.mark.parametrize("first", ["delete first", "upload first"])
def test_a_slug_handed_over_ends_with_the_new_source_in_either_event_order(first: str) -> None:
    scenario = next(s for s in SCENARIOS if s.name == f"slug handover, {first}")
    with mock_aws():
        world, _ = run(scenario)
        state = world.state()
    assert state["entries"]["a"].source_key == "content/z.md" and state["entries"]["a"].title == "Alpha by B"
    assert b"Alpha by B" in state["pages"]["a/index.html"]
    assert state["records"]["content/z.md"][1] == "published"


def test_a_writer_stalled_past_its_lease_loses_no_update_at_any_call() -> None:
    """Writer 1 publishes d; after each of its calls in turn it stalls past its lease
    while writer 2 publishes e. Both end on every page that should show them, exactly
    as when the two ran one after the other: the stalled writer's commits are refused
    (fenced) and it starts again from fresh state."""
    first, second = Sync("d.md", NEW_D), Sync("e.md", md("Epsilon", date="2026-01-05", tags=("edge",)))

    def writer_two(world: World) -> None:
        second.prepare(world)
        world.other_process().sync("content/e.md")

    with mock_aws():
        world = World()
        with world.quiet():
            base(world)
        plain = Scenario("stalled writer", base, [first])
        cleans = forked(lambda steps: outcome(play(world, plain, steps)), [[first, second], [second, first]])
        assert all(status == "ok" for status, _ in cleans), cleans
        calls = len(forked(lambda _: outcome(play(world, plain, [first])), [0])[0][1]["calls"])

        def stalled(k: int) -> dict[str, Any]:
            world.events.clear()
            world.calls = Calls()
            world.stall(k, writer_two)
            first.prepare(world)
            first(world)
            return outcome(world)

        runs = forked(stalled, list(range(1, calls + 1)))
    alternatives = [c[1]["state"] for c in cleans]
    assert {"d", "e"} <= set(alternatives[0]["entries"])
    diverged = []
    for k, (status, result) in enumerate(runs, start=1):
        if status != "ok":
            diverged.append(f"stalled after call {k}: {result}")
            continue
        problems = diverges(result, alternatives)
        if problems:
            diverged.append(f"stalled after call {k}: {', '.join(problems)}")
    assert not diverged, f"{len(diverged)} of {calls} stall points lose an update:\n" + "\n".join(diverged[:10])


@pytest.mark.embedded
def test_a_scenario_swept_in_full_over_http_on_the_embedded_stack(stack: Any) -> None:
    """The same sweep through the embedded stack's moto server over HTTP (each run in
    its own buckets, table and queue), for the scenario the issue found diverging at
    every crash point: a publish redelivered after its source was deleted."""
    scenario = next(s for s in SCENARIOS if s.name == "publish redelivered after its source was deleted")
    scenario = replace(scenario, setup=one_article)  # a smaller site: every run sets it up over HTTP
    alternatives = []
    for number, steps in enumerate([scenario.steps, *scenario.also]):
        world, calls = run(replace(scenario, steps=steps), endpoint_url=stack.endpoint_url, prefix=f"clean{number}")
        alternatives.append(outcome(world))
    calls = len(alternatives[0]["calls"])
    assert calls > 20 and alternatives[0]["unpurged"] == [] and alternatives[0]["orphans"] == []
    diverged = []
    for k in range(1, calls + 1):
        world, _ = run(scenario, crash_at=k, endpoint_url=stack.endpoint_url, prefix=f"crash{k}")
        result = outcome(world)
        problems = diverges(result, [alt["state"] for alt in alternatives])
        if problems:
            diverged.append(f"crash after call {k} ({result['calls'][k - 1]}): {', '.join(problems)}")
    assert not diverged, f"{len(diverged)} of {calls} crash points diverge over HTTP:\n" + "\n".join(diverged[:10])
