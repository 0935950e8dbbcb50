"""Similar posts: the batch ranking (feature index) and the one-entry ranking
(`rank_key`) agree, and incremental planning reaches the same blocks as a
rebuild from scratch."""

from __future__ import annotations

import random
from dataclasses import replace

from edgepub.plan import Layout, plan
from edgepub.site import Entry, SiteModel, similar_for, top_similar


def random_model(n: int, seed: int, tags: int = 2) -> SiteModel:
    rng = random.Random(seed)
    model = SiteModel()
    for i in range(n):
        model.entries[f"e{i}"] = Entry(
            slug=f"e{i}",
            source_key=f"content/e{i}.md",
            title=f"E{i}",
            date=f"2026-01-{1 + i % 28:02d}T00:00:00",
            tags=tuple(rng.sample(list("abcdefghijklmn")[: max(6, tags + 2)], rng.randint(0, tags))),
            stack=tuple(rng.sample(["redis", "s3", "nginx"], rng.randint(0, 1))),
            tools=tuple(rng.sample(["curl", "git", "logs", "wrk"], rng.randint(0, 2))),
            entities=tuple(rng.sample(["cdn", "db"], rng.randint(0, 1))),
        )
    return model


def test_batch_and_single_rankings_agree():
    for seed in range(5):
        model = random_model(120, seed)
        batch = similar_for(model, list(model.entries), 5)
        for slug, entry in model.entries.items():
            assert batch[slug] == top_similar(model, entry, 5), (seed, slug)


def test_batch_and_single_rankings_agree_with_many_tags():
    # up to 12 tags: every level of shared tags, and the counting path for more than 8
    for seed in range(3):
        model = random_model(150, seed, tags=12)
        assert any(len(e.tags) > 8 for e in model.entries.values())
        batch = similar_for(model, list(model.entries), 5)
        for slug, entry in model.entries.items():
            assert batch[slug] == top_similar(model, entry, 5), (seed, slug)


def test_incremental_plan_matches_a_rebuild():
    layout = Layout(similar_count=4)
    rng = random.Random(3)
    before = plan(SiteModel(), dict(random_model(80, 11).entries), layout).after
    for step in range(30):
        slug = f"e{rng.randrange(90)}"
        if slug in before.entries and rng.random() < 0.3:
            change: dict[str, Entry | None] = {slug: None}
        else:
            source = random_model(90, 100 + step).entries[slug]
            change = {slug: source}
        after = plan(before, change, layout).after
        expected = similar_for(after, [s for s, e in after.entries.items() if e.live], 4)
        assert {s: e.similar for s, e in after.entries.items()} == expected, step
        before = after


def test_incremental_plans_of_several_changes_match_a_rebuild():
    # more tags (every level of shared tags), several changes at once, drafts going in and out
    layout = Layout(similar_count=5)
    rng = random.Random(5)
    before = plan(SiteModel(), dict(random_model(120, 21, tags=4).entries), layout).after
    for step in range(120):
        change: dict[str, Entry | None] = {}
        for _ in range(rng.randint(1, 3)):
            slug = f"e{rng.randrange(130)}"
            roll = rng.random()
            if slug in before.entries and roll < 0.2:
                change[slug] = None
            else:
                source = random_model(130, 1000 + step, tags=4).entries[slug]
                change[slug] = replace(source, status="draft") if roll > 0.9 else source
        after = plan(before, change, layout).after
        expected = similar_for(after, [s for s, e in after.entries.items() if e.live], 5)
        assert {s: e.similar for s, e in after.entries.items() if e.live} == expected, step
        # the feature index brought forward from `before` is the one built from scratch
        assert after._by_feature == SiteModel(entries=dict(after.entries))._by_feature, step
        assert "_by_feature" in before.__dict__ or step == 0
        before = after


def test_few_entries_ranked_with_the_feature_index_built_first_agree_too():
    for seed, tags in ((0, 2), (1, 4), (2, 12)):
        model = random_model(150, seed, tags=tags)
        assert "_by_feature" not in model.__dict__
        model.candidates(model.entries["e0"])  # the feature index built first, as planning one change does
        slugs = list(model.entries)
        for start in range(0, len(slugs), 50):
            for slug, similar in similar_for(model, slugs[start : start + 50], 5).items():
                assert similar == top_similar(model, model.entries[slug], 5), (seed, slug)
