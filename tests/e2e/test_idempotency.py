"""Processes racing to enqueue the same idempotency keys store one job per key."""

from __future__ import annotations

import json

import pytest

from .conftest import Harness, wait_for

pytestmark = pytest.mark.slow

PROCESSES = 4
KEYS = 50
KEYED = 20  # when keyed, items k0..k19 also carry an ordering key (ord0..ord4)


@pytest.mark.parametrize(
    ("batch", "keyed"),
    [(1, KEYED), (10, KEYED), (25, 0)],
    ids=["one-by-one", "batches", "unkeyed-batches"],
)
def test_concurrent_enqueues_of_one_idempotency_key_make_one_job(
    harness: Harness, batch: int, keyed: int
) -> None:
    sync = harness.folder / "sync"
    sync.mkdir()
    enqueuers = [
        harness.spawn(
            "enqueue",
            harness.url,
            f"--keys={KEYS}",
            f"--keyed={keyed}",
            f"--batch={batch}",
            f"--seed={n}",
            f"--sync={sync}",
            name=f"enqueuer-{n}",
        )
        for n in range(PROCESSES)
    ]
    ready = [sync / f"ready-{n}" for n in range(PROCESSES)]

    def all_ready() -> bool:
        for process in enqueuers:
            if process.popen.poll() is not None:
                pytest.fail(f"{process.name} exited early\n{process.tail()}")
        return all(path.exists() for path in ready)

    wait_for("the enqueuers to be ready", all_ready, 20, harness.explain)
    (sync / "go").touch()
    for process in enqueuers:
        assert process.wait(30) == 0, process.tail()

    jobs = harness.app.list_jobs(limit=10 * KEYS)
    assert len(jobs) == KEYS
    ids = {job.idempotency_key: job.id for job in jobs}
    assert sorted(ids) == sorted(f"k{i}" for i in range(KEYS))
    for process in enqueuers:
        assert json.loads(process.stdout()) == ids, f"{process.name} got other ids"

    for n in range(5 if keyed else 0):
        line = sorted((job.id, job.state) for job in jobs if job.key == f"ord{n}")
        assert len(line) == keyed // 5
        assert [state for _, state in line] == ["queued"] + ["waiting"] * (len(line) - 1), (
            f"ord{n}: one head, the lowest id; the rest waiting"
        )
