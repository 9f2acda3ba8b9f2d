"""RQ (Redis) delivering to the sink.

Settings:

* Queue ``deliveries`` on Redis db 15 (``redis://127.0.0.1:6379/15``). The Redis server here runs
  without persistence, so nothing is made durable.
* Workers: K ``rq worker --worker-class rq.worker.SimpleWorker --url URL --logging_level WARNING
  --disable-job-desc-logging deliveries`` commands, K = 1 or 2. An RQ worker runs one job at a
  time; its default ``Worker`` forks a work horse per job (the per-job fork, plus a new
  connection to the sink per job since the horse's session dies with it, costs more than the
  POST). ``SimpleWorker``, documented for exactly that trade-off, runs the job in the worker
  process, so a module-level ``requests.Session`` keeps its keep-alive connection. Measured
  here with 1,000 deliveries (1 / 2 processes): the default ``Worker`` 12 / 20 deliveries/s,
  ``SimpleWorker`` 204 / 384. ``result_ttl=0`` (no result kept) was no faster (160-170 / 300-320
  against 190-220 / 350-450 with the default in interleaved runs). RQ's per-job cost is its Redis
  round trips (dequeue, registries, job hash, heartbeat, result): a profile of a SimpleWorker
  spends ~23 % of its samples in the POST and ~40 % in Redis calls.
* The task POSTs with that session and reads the answer; a non-2xx answer raises.
* Jobs keep RQ's defaults (result kept for 500 s, failure kept, no retry).
* Fill: ``Queue.enqueue_many`` (RQ's batch API, one pipeline) with 1,000 jobs per call.
* remaining = ``len(queue)`` + the intermediate queue (jobs popped but not yet registered as
  started) + ``StartedJobRegistry`` (running).
"""

from __future__ import annotations

import os
from typing import Any

import redis
import requests
from rq import Queue, get_current_job
from rq.registry import StartedJobRegistry

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

REDIS_ENV = "BENCH_RQ_REDIS_URL"
QUEUE = "deliveries"
SIMPLE_WORKER = "rq.worker.SimpleWorker"
DEFAULT_WORKER = "rq.worker.Worker"
BULK_CHUNK = 1000

URL = sink_events_url()
SESSION = requests.Session()


def redis_url() -> str:
    return os.environ.get(REDIS_ENV, common.REDIS_URL)


def deliver(body: dict[str, Any]) -> None:
    job = get_current_job()
    headers = {**HEADERS, "Idempotency-Key": f"rq-job-{job.id if job else 0}"}
    response = SESSION.post(
        URL, data=encode(body), headers=headers, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
    )
    response.raise_for_status()


class RqDelivery(DeliveryHarness):
    name = "rq"
    backend = "redis"
    jobs_scale = 0.25

    def __init__(self, worker_class: str = SIMPLE_WORKER) -> None:
        self.worker_class = worker_class
        self.redis = redis.Redis.from_url(redis_url())
        self.queue = Queue(QUEUE, connection=self.redis)
        self.started = StartedJobRegistry(queue=self.queue)

    @property
    def settings(self) -> str:
        return (
            f"rq {common.package_version('rq')}; workers: K x `rq worker --worker-class"
            f" {self.worker_class} --logging_level WARNING --disable-job-desc-logging {QUEUE}`"
            " (one job at a time per process, no fork per job), module-level requests.Session"
            f" (keep-alive); RQ's default job settings; fill: Queue.enqueue_many ({BULK_CHUNK:,}"
            " per call)"
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
        for start in range(0, n, BULK_CHUNK):
            size = min(BULK_CHUNK, n - start)
            self.queue.enqueue_many([Queue.prepare_data(deliver, (body,)) for _ in range(size)])

    def remaining(self) -> int:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.llen(self.queue.key)
            pipe.llen(self.queue.intermediate_queue_key)
            pipe.zcard(self.started.key)
            counts = pipe.execute()
        return sum(int(c) for c in counts)

    def failures(self) -> int:
        return int(self.queue.failed_job_registry.count)

    def worker_commands(self, processes: int) -> list[list[str]]:
        command = [
            common.venv_script("rq"),
            "worker",
            "--worker-class",
            self.worker_class,
            "--url",
            redis_url(),
            "--logging_level",
            "WARNING",
            "--disable-job-desc-logging",
            QUEUE,
        ]
        return [command] * processes

    def worker_env(self) -> dict[str, str]:
        return {REDIS_ENV: redis_url()}
