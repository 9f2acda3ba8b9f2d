"""Per-key order holds across worker processes, with failures and retries in the mix."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from itertools import pairwise
from typing import Any

import pytest

from .apps import Run
from .conftest import Harness, wait_for

pytestmark = pytest.mark.slow

KEYS = 20
PER_KEY = 10
UNKEYED = 40
SEED = 20_240_611


def plan(rng: random.Random) -> list[dict[str, Any]]:
    """Payloads in enqueue order: keys interleaved at random; ~25% fail once or twice first."""
    slots: list[str | None] = [f"customer:{k}" for k in range(KEYS) for _ in range(PER_KEY)]
    slots += [None] * UNKEYED
    rng.shuffle(slots)
    seqs: Counter[str | None] = Counter()
    payloads = []
    for key in slots:
        payload: dict[str, Any] = {
            "seq": seqs[key],
            "sleep": rng.uniform(0.002, 0.008),
            "fail": rng.choices([0, 1, 2], weights=[75, 20, 5])[0],
        }
        if key is not None:
            payload["key"] = key
        seqs[key] += 1
        payloads.append(payload)
    return payloads


def test_each_key_runs_in_enqueue_order_across_worker_processes(harness: Harness) -> None:
    workers = [harness.worker(f"worker-{n}", concurrency=4, ready=False) for n in (1, 2)]
    for worker in workers:
        wait_for(f"{worker.name} to start", worker.started, 20, worker.tail)
    payloads = plan(random.Random(SEED))
    ids = [harness.app.enqueue("step", payload) for payload in payloads]

    harness.wait_final(ids, timeout=30)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        assert worker.wait(10) == 0, worker.tail()

    jobs = {job_id: harness.job(job_id) for job_id in ids}
    unfinished = {i: (j.state, j.last_error) for i, j in jobs.items() if j.state != "succeeded"}
    assert not unfinished, f"jobs that did not succeed (seed {SEED})"

    runs = harness.log.runs()
    by_job: dict[int, list[Run]] = defaultdict(list)
    for run in runs:
        by_job[run.job_id].append(run)
    for job_id, payload in zip(ids, payloads, strict=True):
        fails = payload["fail"]
        attempts = [(r.attempt, r.outcome) for r in by_job[job_id]]
        assert attempts == [(n, "failed") for n in range(1, fails + 1)] + [(fails + 1, "ok")], (
            f"job {job_id} {payload}: each attempt once, the planned failures first"
        )
        assert jobs[job_id].attempts == fails + 1
        assert [e["attempt"] for e in jobs[job_id].errors] == list(range(1, fails + 1))

    by_key: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if run.key is not None:
            by_key[run.key].append(run)
    assert len(by_key) == KEYS
    for key, key_runs in by_key.items():
        key_runs.sort(key=lambda r: r.started)
        for before, after in pairwise(key_runs):
            assert before.finished is not None
            assert after.started >= before.finished, f"{key}: {after} overlapped {before}"
            assert after.seq >= before.seq, f"{key}: {after} ran before the earlier {before}"
        succeeded = [r.seq for r in key_runs if r.outcome == "ok"]
        assert succeeded == list(range(PER_KEY)), f"{key}: jobs succeeded out of order"

    ran_in = Counter(run.pid for run in runs)
    assert set(ran_in) == {worker.pid for worker in workers}, f"attempts per pid: {ran_in}"


def test_a_batch_mixing_idempotency_keys_runs_in_enqueue_order(harness: Harness) -> None:
    key = "customer:5"
    jobs = [
        harness.app.build_job(
            "step", {"key": key, "seq": n}, idempotency_key=f"once-{n}" if n % 2 else None
        )
        for n in range(6)
    ]
    ids = harness.app.store.enqueue(jobs)
    worker = harness.worker("worker", burst=True, ready=False)
    assert worker.wait(20) == 0, worker.tail()

    assert set(harness.app.store.states(ids).values()) == {"succeeded"}
    runs = sorted(harness.log.runs(), key=lambda r: r.started)
    assert [(r.job_id, r.seq) for r in runs] == list(zip(ids, range(6), strict=True))
