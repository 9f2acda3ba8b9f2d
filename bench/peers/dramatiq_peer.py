"""Dramatiq peer benchmark with the Redis broker (Redis db 15, flushed before each metric).

Settings:

* ``RedisBroker(url=redis://127.0.0.1:6379/15)`` with Dramatiq's default middleware
  (AgeLimit, TimeLimit, ShutdownNotifications, Callbacks, Pipelines, Retries), no result
  backend.  The Redis server here runs without persistence (no AOF, no RDB snapshots), so
  unlike the PostgreSQL and SQLite peers nothing is made durable.
* Workers: ``dramatiq bench.peers.dramatiq_peer --processes K --threads 8`` (8 threads is
  Dramatiq's default) with two of Dramatiq's documented environment variables set:
  ``dramatiq_queue_prefetch=100`` and ``dramatiq_worker_timeout=100``.  The CLI's master
  process forks K worker processes, each with 8 worker threads and one consumer thread per
  queue.
* Why the prefetch: with the default prefetch of ``2 * threads`` = 16, the Redis consumer
  finds its prefetch window full, sleeps its 5-10 ms poll back-off, and throughput is
  capped at about prefetch / back-off, i.e. proportional to the thread count: ~260, 530,
  1,070, 2,100, 3,700 and 4,900 jobs/s (process_1) with 1, 2, 4, 8, 16 and 32 threads.
  With 8 threads and a prefetch of 100 the consumer no longer starves: ~4.5-5.7k
  (process_1) and ~6.5-7.3k (process_2) jobs/s; 200 and 500 were no better.  The run also
  measures process_1 with Dramatiq's defaults (see notes).
* Why the worker timeout: an idle consumer polls Redis with an exponential back-off
  (5 ms doubling, with jitter) capped at ``dramatiq_worker_timeout`` (default 1,000 ms).
  After the latency test's 0.5 s idle period the consumer is often in a 160-640 ms sleep
  when the first job arrives, and the ~15 jobs enqueued meanwhile all wait for it: p99 was
  ~30 ms or ~250-380 ms depending on that draw.  Capping the back-off at 100 ms (as for
  huey's ``--max-delay``) gives p99 ~30-55 ms; it does not affect a full queue.
* Producer: ``actor.send()`` (one Lua-script round trip per message).  Dramatiq has no
  batch enqueue (``group(...).run()`` sends the messages one by one), so enqueue_bulk is
  null and the process_N fill uses single sends too.
* remaining = ``HLEN dramatiq:default.msgs``: the broker keeps a message's body in that
  hash from enqueue until the worker acks it (after the actor ran), so it counts queued,
  prefetched and running messages.
"""

from __future__ import annotations

import os

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from bench.peers import common

PEER = "dramatiq"
BACKEND = "redis"
REDIS_ENV = "BENCH_DRAMATIQ_REDIS_URL"
THREADS = 8
# Read by dramatiq.worker at import time, in the worker processes.
PREFETCH_ENV = "dramatiq_queue_prefetch"
PREFETCH = 100
WORKER_TIMEOUT_ENV = "dramatiq_worker_timeout"
WORKER_TIMEOUT_MS = 100
QUEUE = "default"
SINGLE_JOBS = 2000


def redis_url() -> str:
    return os.environ.get(REDIS_ENV, common.REDIS_URL)


broker = RedisBroker(url=redis_url())  # type: ignore[no-untyped-call]
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name="noop", queue_name=QUEUE)
def noop(tag: str | None = None) -> None:
    if tag:
        common.report_start(tag)


@dramatiq.actor(actor_name="append", queue_name=QUEUE)
def append() -> None:
    common.append_line()


SETTINGS = (
    f"dramatiq {common.package_version('dramatiq')}; RedisBroker, default middleware; "
    f"workers: `{PREFETCH_ENV}={PREFETCH} {WORKER_TIMEOUT_ENV}={WORKER_TIMEOUT_MS} "
    f"dramatiq bench.peers.dramatiq_peer --processes K "
    f"--threads {THREADS}`; producer: actor.send() (no batch enqueue)"
)


class DramatiqHarness(common.Harness):
    bulk_unsupported = "Dramatiq has no batch enqueue API (group().run() sends one by one)"

    def __init__(self) -> None:
        self.redis = redis.Redis.from_url(redis_url())
        self.msgs_key = f"{broker.namespace}:{QUEUE}.msgs"

    def close(self) -> None:
        self.redis.close()

    def reset(self) -> None:
        self.redis.flushdb()

    def remaining(self) -> int:
        return int(self.redis.hlen(self.msgs_key))

    def enqueue_single(self, n: int) -> None:
        send = noop.send
        for _ in range(n):
            send()

    def fill(self, n: int) -> None:
        self.enqueue_single(n)

    def enqueue_tagged(self, tag: str) -> None:
        noop.send(tag)

    def worker_commands(self, processes: int) -> list[list[str]]:
        return [
            [
                common.venv_script("dramatiq"),
                "bench.peers.dramatiq_peer",
                "--processes",
                str(processes),
                "--threads",
                str(THREADS),
            ]
        ]


def run(jobs: int, *, variants: bool = True) -> common.PeerResult:
    result = common.new_result(PEER, BACKEND, SETTINGS)
    harness = DramatiqHarness()
    try:
        with common.UdpCollector() as collector:
            env = common.worker_env({REDIS_ENV: redis_url(), **collector.env()})
            env.pop(PREFETCH_ENV, None)
            env.pop(WORKER_TIMEOUT_ENV, None)
            tuned = {PREFETCH_ENV: str(PREFETCH), WORKER_TIMEOUT_ENV: str(WORKER_TIMEOUT_MS)}
            common.run_standard(
                result,
                harness,
                jobs=jobs,
                env={**env, **tuned},
                collector=collector,
                single_jobs=SINGLE_JOBS,
            )
            if variants:
                common.measure_variant(
                    result,
                    f"Dramatiq's defaults (prefetch 2 x {THREADS} threads, worker timeout 1 s)",
                    harness=harness,
                    jobs=jobs,
                    worker_commands=harness.worker_commands(1),
                    env=env,
                )
    finally:
        harness.reset()
        harness.close()
    return result
