"""Events older than the last one seen for a key are skipped without reading the
source (S3 sequencers, compared after left-padding), and a redelivery of the last
one only finishes what its attempt may have left."""

from __future__ import annotations

from tests.support.sites import Site, md


def test_an_older_event_is_skipped_and_a_newer_one_is_applied() -> None:
    site = Site()
    site.sources.put("content/a.md", md("Alpha", body="One."))
    assert site.publisher.sync("content/a.md", sequencer="0055A1B2C3D4E5F602").action == "published"
    site.sources.put("content/a.md", md("Alpha", body="Two."))
    old = site.publisher.sync("content/a.md", sequencer="0055A1B2C3D4E5F601")  # delivered late
    assert old.action == "ignored" and "is not newer than 0055A1B2C3D4E5F602" in old.reason
    assert "One." in site.html("/a/")  # the late event changed nothing
    shorter = site.publisher.sync("content/a.md", sequencer="55A1B2C3D4E5F6")  # shorter: padded, so older
    assert shorter.action == "ignored"
    newer = site.publisher.sync("content/a.md", sequencer="0055A1B2C3D4E5F603")
    assert newer.action == "published" and "Two." in site.html("/a/")


def test_the_same_event_delivered_again_is_not_applied_twice() -> None:
    site = Site()
    site.sources.put("content/a.md", md("Alpha"))
    site.publisher.sync("content/a.md", sequencer="0A")
    again = site.publisher.sync("content/a.md", sequencer="0A")
    assert again.action == "ignored" and site.index.load().pending_purge == []
