"""Celery (Redis broker, no result backend) delivering to the sink.

Settings:

* ``Celery(broker=redis://127.0.0.1:6379/15)``, no result backend (``task_ignore_result``),
  queue ``deliveries``, Celery's default early acknowledgement and prefetch multiplier (4). The
  Redis server here runs without persistence, so nothing is made durable.
* Workers: Celery's default pool, prefork, where "K worker processes" is what Celery itself
  calls them: ``celery -A bench.delivery_peers.celery_delivery worker --pool prefork
  --concurrency K --without-gossip --without-mingle --without-heartbeat --loglevel WARNING``,
  i.e. one main process consuming from Redis and K pool processes running the task, one task
  at a time each. (The three ``--without-*`` flags are Celery's documented way to drop the
  worker-to-worker chatter a benchmark does not need.)
* Why prefork: measured here with 3,000 deliveries, medians of 3 interleaved runs (1 / 2
  processes): prefork 537 / 620; ``--pool threads`` with one worker per process, 8 threads
  400 / 640 and 16 threads 405 / 630; ``--pool gevent --concurrency 50`` 360 / 650 (2 workers).
  Prefetch multipliers 1, 4, 32 and 64 made no difference. One Celery worker consumes at most
  ~850 no-op tasks/s from Redis here (one BRPOP and one ack per message in its main process),
  so the consumer, not the pool, is the limit; prefork gets the most out of it with one process
  because the task runs outside the consumer's process. As the two are close and this machine
  is noisy, every run measures both prefork and ``--pool threads --concurrency 8`` (one worker
  per process) and reports the better figure for each process count (the notes give both).
* Known wart: now and then a prefork pool process waits up to 30 s at a warm shutdown
  (billiard's ``_ensure_messages_consumed``); the benchmark kills it after 15 s and the notes
  say so (the drain rate is measured before the stop).
* The task is a plain function: ``requests.Session.post`` with one keep-alive session per
  execution thread (a ``threading.local``: per pool process for prefork, per thread for the
  threads pool, per greenlet for gevent), reading the answer; a non-2xx answer raises.
* Fill: ``deliver.apply_async`` per job on one producer (Celery has no batch enqueue).
* remaining = ``LLEN deliveries`` + ``HLEN unacked`` (messages prefetched by a worker but not
  acknowledged yet). With early acknowledgement a running task is already acknowledged, so up to
  one task per pool process is not counted: a constant offset, not a rate change.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import redis
import requests
from celery import Celery, Task  # type: ignore[import-untyped]

from bench.delivery_peers.base import (
    CONNECT_TIMEOUT,
    HEADERS,
    READ_TIMEOUT,
    DeliveryHarness,
    encode,
    event,
    sink_events_url,
)
from bench.peers import common

REDIS_ENV = "BENCH_CELERY_REDIS_URL"
POOL_ENV = "BENCH_CELERY_POOL"
CONCURRENCY_ENV = "BENCH_CELERY_CONCURRENCY"
PREFETCH_ENV = "BENCH_CELERY_PREFETCH_MULTIPLIER"
DEFAULT_PREFETCH = 4
QUEUE = "deliveries"
APP_PATH = "bench.delivery_peers.celery_delivery"
#: pool -> concurrency per worker process (gevent needs `pip install gevent`; not measured by
#: default, see the docstring).
POOLS = {"prefork": 1, "threads": 8, "gevent": 50}
DEFAULT_POOL = "prefork"
THREADS = POOLS["threads"]


def redis_url() -> str:
    return os.environ.get(REDIS_ENV, common.REDIS_URL)


def pool() -> str:
    return os.environ.get(POOL_ENV, DEFAULT_POOL)


def prefetch() -> int:
    return int(os.environ.get(PREFETCH_ENV, DEFAULT_PREFETCH))


app = Celery("bench_delivery", broker=redis_url(), set_as_current=True)
app.conf.update(
    task_ignore_result=True,
    result_backend=None,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_send_task_events=False,
    task_send_sent_event=False,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=prefetch(),
)

URL = sink_events_url()
_local = threading.local()


def _session() -> requests.Session:
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


@app.task(name="deliver", bind=True, ignore_result=True)  # type: ignore[untyped-decorator]
def deliver(self: Task, body: dict[str, Any]) -> None:
    headers = {**HEADERS, "Idempotency-Key": f"celery-task-{self.request.id}"}
    response = _session().post(
        URL, data=encode(body), headers=headers, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
    )
    response.raise_for_status()


class CeleryDelivery(DeliveryHarness):
    name = "celery"
    backend = "redis"
    jobs_scale = 0.5

    def __init__(self, pool_name: str | None = None, concurrency: int | None = None) -> None:
        self.pool = pool_name or pool()
        env_concurrency = os.environ.get(CONCURRENCY_ENV)
        self.concurrency = concurrency or int(env_concurrency or POOLS[self.pool])
        self.prefetch = prefetch()
        self.redis = redis.Redis.from_url(redis_url())

    @property
    def settings(self) -> str:
        return (
            f"celery {common.package_version('celery')} (kombu"
            f" {common.package_version('kombu')}); Redis broker, no result backend"
            " (task_ignore_result), default early ack and prefetch multiplier 4; workers: "
            + self._workers()
            + "".join(f", or {v._workers()}" for _, v in self._variant_configs())
            + "; requests.Session per execution thread (keep-alive); fill: apply_async per job"
        )

    def _workers(self) -> str:
        flags = "--without-gossip --without-mingle --without-heartbeat --loglevel WARNING"
        if self.pool == "prefork":
            return (
                f"`celery -A {APP_PATH} worker --pool prefork --concurrency K {flags}`"
                " (K pool processes)"
            )
        return (
            f"K x `celery -A {APP_PATH} worker --pool {self.pool} --concurrency"
            f" {self.concurrency} {flags}`"
        )

    def setup(self) -> None:
        self.redis.flushdb()

    def teardown(self) -> None:
        self.redis.flushdb()
        self.redis.close()

    def reset(self) -> None:
        self.redis.flushdb()

    def fill(self, n: int) -> None:
        body = event()
        with app.producer_or_acquire() as producer:
            for _ in range(n):
                deliver.apply_async((body,), producer=producer)

    def remaining(self) -> int:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.llen(QUEUE)
            pipe.hlen("unacked")
            queued, unacked = pipe.execute()
        return int(queued) + int(unacked)

    @property
    def label(self) -> str:
        if self.pool == "prefork":
            return "prefork"
        return f"{self.pool} x{self.concurrency}"

    def _variant_configs(self) -> list[tuple[str, CeleryDelivery]]:
        if self.pool == "prefork":  # redis-py connects on first use: building one is free
            threads = CeleryDelivery("threads", THREADS)
            return [(threads.label, threads)]
        return []

    def variants(self) -> list[tuple[str, DeliveryHarness]]:
        return list(self._variant_configs())

    def worker_commands(self, processes: int) -> list[list[str]]:
        """threads/gevent: one Celery worker per process, each with C threads/greenlets;
        prefork: one Celery worker whose pool has ``processes`` worker processes."""
        if self.pool == "prefork":
            return [self._command(0, processes)]
        return [self._command(i, self.concurrency) for i in range(processes)]

    def _command(self, index: int, concurrency: int) -> list[str]:
        return [
            common.venv_script("celery"),
            "-A",
            APP_PATH,
            "worker",
            "--pool",
            self.pool,
            "--concurrency",
            str(concurrency),
            "--queues",
            QUEUE,
            "--hostname",
            f"bench{index}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ]

    def worker_env(self) -> dict[str, str]:
        return {REDIS_ENV: redis_url(), POOL_ENV: self.pool, PREFETCH_ENV: str(self.prefetch)}
