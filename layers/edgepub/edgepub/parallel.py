"""Run a function over many items in forked worker processes (local builds).

The workers are forked after the caller has set everything up, so they see
the parent's memory (the planned site model, the parsed articles) without
pickling it; only the items and the results cross the pipes. Where fork is
unavailable, or there is too little work to pay for a process, the function
runs in this process. Lambda functions never use this: one event is one change.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any

# the task of the pool being run; set in the parent just before forking
_task: Callable[[Sequence[Any]], list[Any]] | None = None


def default_workers() -> int:
    env = os.environ.get("EDGEPUB_BUILD_WORKERS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _run(chunk: Sequence[Any]) -> list[Any]:
    assert _task is not None
    return _task(chunk)


def fork_map(
    task: Callable[[Sequence[Any]], list[Any]],
    items: Sequence[Any],
    workers: int,
    min_per_worker: int = 64,
) -> list[Any]:
    """`task(items)`, with the items split into chunks over `workers` forked processes.

    `task` takes a chunk and returns one result per item, in order; the results
    come back in the order of `items`.
    """
    global _task
    workers = min(workers, len(items) // min_per_worker)
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return task(items)
    # small chunks, handed out as workers free up: an uneven chunk does not hold up the rest
    size = max(16, len(items) // (workers * 8))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    _task = task
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return [result for part in pool.imap(_run, chunks) for result in part]
    finally:
        _task = None
