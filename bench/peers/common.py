"""Shared helpers for the job-queue benchmarks (peers now, Conveyor later).

Nothing in here knows about a particular queue library; every peer module (and later
Conveyor's own bench) plugs in callables:

* :class:`UdpCollector` / :func:`report_start` -- the uniform side channel for job start
  times.  The benchmark opens a UDP socket on 127.0.0.1 and exports its port in the
  ``BENCH_UDP_PORT`` environment variable of the worker processes; a job whose payload
  carries a tag calls ``report_start(tag)`` first thing, which sends the datagram
  ``b"<tag> <time.time()>"``.
* :func:`measure_drain` -- the 90 %-to-10 % drain-rate measurer.  It polls a
  ``remaining()`` callable (number of jobs not finished yet, read from the peer's own
  storage) every ~50 ms and returns (jobs finished between the first sample with
  ``remaining <= 0.9 N`` and the first sample with ``remaining <= 0.1 N``) / (time between
  those two samples).  Worker start-up and the tail are thereby excluded.
* :class:`WorkerGroup` -- starts worker processes as a user would (a CLI or a small
  script), each in its own session/process group, and stops them cleanly, escalating to
  SIGKILL of the whole group and checking that no process of the group survives.
* :func:`measure_processing`, :func:`measure_latency`, :func:`measure_enqueue` -- the
  shared methods for the ``process_N``, ``latency_*`` and ``enqueue_*`` metrics.
* :class:`Harness` + :func:`run_standard` -- a queue implements the harness (reset,
  remaining, enqueue single/bulk/tagged, worker command lines) and ``run_standard`` fills
  every metric of a :class:`PeerResult`; :func:`measure_variant` adds an extra
  ``process_N`` figure (e.g. with out-of-the-box settings) to the notes.
* :func:`new_result` / :func:`write_results` -- the JSON result format.

Method notes that every bench must follow to stay comparable:

* ``enqueue_single``: 2,000 jobs, one enqueue call each (its own commit / round trip).
  ``enqueue_bulk``: N jobs through the queue's batch API (null when it has none).
* ``process_N``: reset storage, bulk-enqueue N no-op jobs with no worker running, run
  ``analyze()`` if the backend has planner statistics (PostgreSQL: ``ANALYZE`` the queue
  tables, so the workers see the steady-state plan instead of the one for an empty table),
  check ``remaining() == N``, start N worker processes, measure the drain, stop them
  (graceful signal, SIGKILL of the process group after 15 s; unclean stops end up in the
  notes).  ``remaining()`` counts queued and running jobs.
* ``latency``: one idle worker process; warm it up with a few tagged jobs until one is
  seen, let it idle for 0.5 s, then enqueue 200 tagged jobs one at a time on a fixed 20 ms
  schedule.  latency = start time reported by the job - ``time.time()`` taken just before
  the enqueue call.  p50 and p99 use linear interpolation (:func:`percentile`).
"""

from __future__ import annotations

import abc
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypedDict, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[2]

UDP_PORT_ENV = "BENCH_UDP_PORT"
UDP_HOST = "127.0.0.1"

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("BENCH_PG_ADMIN_DB", "test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

DRAIN_POLL_INTERVAL = 0.05


# --------------------------------------------------------------------------- results


class PeerResult(TypedDict):
    """One row of the JSON written by ``bench.peers.run`` (and later Conveyor's bench)."""

    peer: str
    backend: str
    enqueue_single: float | None
    enqueue_bulk: float | None
    process_1: float | None
    process_2: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    notes: str
    settings: str


def new_result(peer: str, backend: str, settings: str = "") -> PeerResult:
    return PeerResult(
        peer=peer,
        backend=backend,
        enqueue_single=None,
        enqueue_bulk=None,
        process_1=None,
        process_2=None,
        latency_p50_ms=None,
        latency_p99_ms=None,
        notes="",
        settings=settings,
    )


def add_note(result: PeerResult, note: str) -> None:
    """Append a sentence to ``result["notes"]``."""
    note = note.strip()
    if note and note[-1] not in ".!?":
        note += "."
    result["notes"] = f"{result['notes']} {note}" if result["notes"] else note


def write_results(path: Path, results: Sequence[Mapping[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(results), indent=2) + "\n", encoding="utf-8")


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 <= q <= 100) with linear interpolation (numpy's default)."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within [0, 100], got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# --------------------------------------------------------------------------- the task body

APPEND_FILE_ENV = "BENCH_APPEND_FILE"


def append_line() -> None:
    """The task-kinds benchmark's job body, the same for every system: append one short line
    to the file named by ``BENCH_APPEND_FILE`` (opened and closed per job), so no system is
    measured on an empty function."""
    with open(os.environ.get(APPEND_FILE_ENV, os.devnull), "a") as out:
        out.write("done\n")


# --------------------------------------------------------------------------- UDP side channel

_report_socket: socket.socket | None = None
_report_port: int | None = None


def report_start(tag: str) -> None:
    """Send ``b"<tag> <time.time()>"`` to the benchmark's collector.  Call first thing in a job.

    A no-op when ``BENCH_UDP_PORT`` is not set, so jobs can run outside a benchmark.
    """
    now = time.time()
    global _report_socket, _report_port
    if _report_port is None:
        port = os.environ.get(UDP_PORT_ENV)
        if not port:
            return
        _report_port = int(port)
    if _report_socket is None:
        _report_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    _report_socket.sendto(f"{tag} {now!r}".encode(), (UDP_HOST, _report_port))


class UdpCollector:
    """Receives ``<tag> <timestamp>`` datagrams on 127.0.0.1 in a background thread.

    Use as a context manager; ``port`` is the port to export in ``BENCH_UDP_PORT`` (see
    :meth:`env`).  The first timestamp received for a tag wins.
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self._sock.bind((UDP_HOST, 0))
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self._times: dict[str, float] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="udp-collector", daemon=True)
        self.malformed = 0

    def env(self) -> dict[str, str]:
        return {UDP_PORT_ENV: str(self.port)}

    def __enter__(self) -> UdpCollector:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._sock.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(512)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                tag, stamp = data.decode().split()
                value = float(stamp)
            except ValueError:
                self.malformed += 1
                continue
            with self._cond:
                self._times.setdefault(tag, value)
                self._cond.notify_all()

    def get(self, tag: str) -> float | None:
        with self._cond:
            return self._times.get(tag)

    def wait_for(self, tags: Collection[str], timeout: float) -> dict[str, float]:
        """Wait until every tag was reported or ``timeout`` elapsed; return those seen."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                missing = [t for t in tags if t not in self._times]
                left = deadline - time.monotonic()
                if not missing or left <= 0:
                    return {t: self._times[t] for t in tags if t in self._times}
                self._cond.wait(timeout=min(left, 0.1))


# --------------------------------------------------------------------------- worker processes


class WorkerError(RuntimeError):
    """A worker process died, or the workers made no progress."""


def venv_script(name: str) -> str:
    """Path of a console script installed next to the running interpreter (the venv's bin)."""
    candidate = Path(sys.executable).with_name(name)
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"console script {name!r} not found")
    return found


def worker_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for worker processes: ours, plus the repo root on PYTHONPATH."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    # This checkout's code, not whichever one the venv has installed (a worktree's bench).
    ours = os.pathsep.join(str(p) for p in (REPO_ROOT / "src", REPO_ROOT) if p.is_dir())
    env["PYTHONPATH"] = f"{ours}{os.pathsep}{path}" if path else ours
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class WorkerGroup:
    """Worker processes started from command lines, each in its own process group.

    ``stop_signal`` is the signal the peer documents for a graceful shutdown; it is sent to
    each command's leader process.  After ``stop_timeout`` the whole process group is
    SIGKILLed, and in any case every group is checked to be empty afterwards.  Anything
    unclean (a leader that needed SIGKILL or exited non-zero, a surviving child) is
    appended to ``problems`` so the caller can report it.
    """

    commands: Sequence[Sequence[str]]
    env: Mapping[str, str]
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = 15.0
    cwd: Path = REPO_ROOT
    problems: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list, init=False)
    log_paths: list[Path] = field(default_factory=list, init=False)
    _log_dir: Path | None = field(default=None, init=False)

    def start(self) -> None:
        self._log_dir = Path(tempfile.mkdtemp(prefix="bench-workers-"))
        for i, cmd in enumerate(self.commands):
            log_path = self._log_dir / f"worker-{i}.log"
            self.log_paths.append(log_path)
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    list(cmd),
                    cwd=self.cwd,
                    env=dict(self.env),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.procs.append(proc)

    def __enter__(self) -> WorkerGroup:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, chars: int = 600) -> str:
        parts = []
        for path in self.log_paths:
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace")
                parts.append(f"[{path.name}] {text[-chars:]}")
        return "\n".join(parts)

    def check(self) -> None:
        """Raise :class:`WorkerError` if a worker process has exited."""
        for proc in self.procs:
            code = proc.poll()
            if code is not None:
                raise WorkerError(
                    f"worker {proc.args!r} exited with code {code}:\n{self.log_tail()}"
                )

    def stop(self) -> None:
        """Graceful stop, then SIGKILL of any process group member that is left."""
        running = [proc for proc in self.procs if proc.poll() is None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(self.stop_signal)
        deadline = time.monotonic() + self.stop_timeout
        for proc in running:
            try:
                code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.problems.append(
                    f"{_short(proc.args)} ignored {self.stop_signal.name} for "
                    f"{self.stop_timeout:.0f}s and was killed"
                )
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
                continue
            if code not in (0, -self.stop_signal):
                self.problems.append(
                    f"{_short(proc.args)} exited with code {code} after {self.stop_signal.name}"
                )
        # Leaders are gone; make sure none of their children (forked workers) survives.
        for proc in self.procs:
            group_deadline = time.monotonic() + 5
            while _group_alive(proc.pid) and time.monotonic() < group_deadline:
                time.sleep(0.05)
            if _group_alive(proc.pid):
                self.problems.append(f"{_short(proc.args)} left processes behind; killed")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                time.sleep(0.2)
                if _group_alive(proc.pid):
                    raise WorkerError(f"process group {proc.pid} survives SIGKILL")
        self.procs.clear()
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None
            self.log_paths.clear()


def _short(args: object) -> str:
    if isinstance(args, list | tuple):
        return " ".join(Path(str(a)).name if i == 0 else str(a) for i, a in enumerate(args))
    return str(args)


# --------------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class DrainMeasurement:
    rate: float  # jobs/s between the two thresholds
    jobs: int  # jobs finished between the two threshold samples
    seconds: float  # time between the two threshold samples
    total_seconds: float  # from the first poll to the end threshold (includes start-up)
    samples: int


def measure_drain(
    remaining: Callable[[], int],
    total: int,
    *,
    start_fraction: float = 0.9,
    end_fraction: float = 0.1,
    interval: float = DRAIN_POLL_INTERVAL,
    timeout: float = 300.0,
    stall_timeout: float = 30.0,
    check: Callable[[], None] | None = None,
) -> DrainMeasurement:
    """Poll ``remaining()`` every ``interval`` s until it drops to ``end_fraction * total``.

    Each sample is timestamped at the midpoint of the ``remaining()`` call.  The rate is
    ``(r_a - r_b) / (t_b - t_a)`` where ``a`` is the first sample with
    ``remaining <= start_fraction * total`` and ``b`` the first with
    ``remaining <= end_fraction * total``.  ``check`` (e.g. :meth:`WorkerGroup.check`) is
    called at each poll and may raise.  Raises :class:`WorkerError` when the count does not
    move for ``stall_timeout`` s or the end threshold is not reached within ``timeout`` s.
    """
    start_level = start_fraction * total
    end_level = end_fraction * total
    first = time.perf_counter()
    last_change = first
    last_value: int | None = None
    mark_a: tuple[float, int] | None = None
    samples = 0
    next_poll = first
    while True:
        if check is not None:
            check()
        before = time.perf_counter()
        value = remaining()
        after = time.perf_counter()
        stamp = (before + after) / 2
        samples += 1
        if value != last_value:
            last_value = value
            last_change = after
        if mark_a is None and value <= start_level:
            mark_a = (stamp, value)
        if mark_a is not None and value <= end_level:
            seconds = stamp - mark_a[0]
            done = mark_a[1] - value
            if seconds <= 0 or done <= 0:
                raise WorkerError(
                    f"drain too fast to measure with a {interval}s poll "
                    f"({total} jobs): use more jobs"
                )
            return DrainMeasurement(
                rate=done / seconds,
                jobs=done,
                seconds=seconds,
                total_seconds=stamp - first,
                samples=samples,
            )
        if after - last_change > stall_timeout:
            raise WorkerError(f"no progress for {stall_timeout}s (remaining={value}/{total})")
        if after - first > timeout:
            raise WorkerError(f"drain not finished after {timeout}s (remaining={value}/{total})")
        next_poll += interval
        delay = next_poll - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            next_poll = time.perf_counter()


def measure_enqueue(count: int, enqueue: Callable[[int], None]) -> float:
    """Rate (jobs/s) of ``enqueue(count)``, a callable that enqueues ``count`` jobs."""
    start = time.perf_counter()
    enqueue(count)
    return count / (time.perf_counter() - start)


def measure_processing(
    *,
    jobs: int,
    reset: Callable[[], None],
    fill: Callable[[int], None],
    remaining: Callable[[], int],
    worker_commands: Sequence[Sequence[str]],
    env: Mapping[str, str],
    analyze: Callable[[], None] | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
    timeout: float = 300.0,
    problems: list[str] | None = None,
    interval: float = DRAIN_POLL_INTERVAL,
) -> DrainMeasurement:
    """The ``process_N`` method: fill with no worker running, start workers, measure drain.

    Unclean worker shutdowns are appended to ``problems`` (see :class:`WorkerGroup`).
    """
    reset()
    fill(jobs)
    if analyze is not None:
        analyze()
    found = remaining()
    if found != jobs:
        raise WorkerError(f"expected {jobs} queued jobs before starting workers, found {found}")
    group = WorkerGroup(
        worker_commands, env, stop_signal=stop_signal, problems=[] if problems is None else problems
    )
    with group:
        return measure_drain(remaining, jobs, check=group.check, timeout=timeout, interval=interval)


@dataclass(frozen=True)
class LatencyMeasurement:
    p50_ms: float
    p99_ms: float
    max_ms: float
    received: int
    sent: int


def measure_latency(
    *,
    enqueue: Callable[[str], None],
    collector: UdpCollector,
    worker_commands: Sequence[Sequence[str]],
    env: Mapping[str, str],
    reset: Callable[[], None] | None = None,
    count: int = 200,
    spacing: float = 0.02,
    stop_signal: signal.Signals = signal.SIGTERM,
    startup_timeout: float = 30.0,
    idle_before: float = 0.5,
    problems: list[str] | None = None,
) -> LatencyMeasurement:
    """Enqueue→start latency with one idle worker process already running.

    ``enqueue(tag)`` must enqueue one job carrying ``tag``; the job must call
    :func:`report_start` with it.  ``env`` must include ``collector.env()``.
    """
    if reset is not None:
        reset()
    run_id = f"{os.getpid()}-{time.monotonic_ns()}"
    group = WorkerGroup(
        worker_commands, env, stop_signal=stop_signal, problems=[] if problems is None else problems
    )
    with group:
        # Warm-up: the worker is started (imports, connects) and has run a job.
        deadline = time.monotonic() + startup_timeout
        seen = False
        attempt = 0
        while not seen:
            group.check()
            if time.monotonic() > deadline:
                raise WorkerError(f"worker ran no warm-up job in {startup_timeout}s")
            tag = f"warm-{run_id}-{attempt}"
            attempt += 1
            enqueue(tag)
            seen = bool(collector.wait_for([tag], timeout=1.0))
        time.sleep(idle_before)

        sent: dict[str, float] = {}
        begin = time.perf_counter()
        for i in range(count):
            target = begin + i * spacing
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            tag = f"lat-{run_id}-{i}"
            sent[tag] = time.time()
            enqueue(tag)
        started = collector.wait_for(list(sent), timeout=30.0)
        group.check()
    latencies = [(started[t] - sent[t]) * 1000 for t in sent if t in started]
    if not latencies:
        raise WorkerError("no latency sample received")
    return LatencyMeasurement(
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        max_ms=max(latencies),
        received=len(latencies),
        sent=len(sent),
    )


# --------------------------------------------------------------------------- backends


def _scoped(dbname: str) -> str:
    """A benchmark database's name with `BENCH_DB_SUFFIX` appended, so two checkouts can run
    benchmarks on one server at once without dropping each other's databases."""
    if dbname == PG_ADMIN_DB:
        return dbname
    return dbname + os.environ.get("BENCH_DB_SUFFIX", "")


def pg_dsn(dbname: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{_scoped(dbname)}"


def recreate_pg_database(name: str) -> None:
    """DROP (forcing out sessions) and CREATE a PostgreSQL database."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(pg_dsn(PG_ADMIN_DB), autocommit=True) as conn:
        ident = sql.Identifier(_scoped(name))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))


def drop_pg_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(pg_dsn(PG_ADMIN_DB), autocommit=True) as conn:
        ident = sql.Identifier(_scoped(name))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


T = TypeVar("T")


def attempt(result: PeerResult, label: str, fn: Callable[[], T]) -> T | None:
    """Return ``fn()``; on failure return None and record the error in ``result["notes"]``.

    One metric failing must not prevent the others from being measured.
    """
    try:
        return fn()
    except Exception as exc:
        add_note(result, f"{label} failed: {type(exc).__name__}: {exc}"[:2000])
        return None


# --------------------------------------------------------------------------- the standard run


class Harness(abc.ABC):
    """What a queue must provide for :func:`run_standard` (one instance per benchmark run).

    ``enqueue_*`` and ``fill`` run in the benchmark process with no worker running unless
    stated; ``worker_commands(k)`` returns the command lines that start ``k`` worker
    processes the way a user would.
    """

    stop_signal: signal.Signals = signal.SIGTERM
    #: Set to a reason when the queue has no batch enqueue API (enqueue_bulk is then null).
    bulk_unsupported: str | None = None

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Empty the queue storage (called before each metric)."""

    def analyze(self) -> None:  # noqa: B027 - optional hook
        """Refresh planner statistics after a fill (PostgreSQL: ANALYZE)."""

    @abc.abstractmethod
    def remaining(self) -> int:
        """Jobs enqueued but not finished, read from the queue's storage."""

    @abc.abstractmethod
    def enqueue_single(self, n: int) -> None:
        """Enqueue ``n`` no-op jobs, one per call (its own commit / round trip)."""

    def enqueue_bulk(self, n: int) -> None:
        """Enqueue ``n`` no-op jobs with the batch API."""
        raise NotImplementedError

    def fill(self, n: int) -> None:
        """Enqueue ``n`` no-op jobs as fast as possible before a drain measurement."""
        self.enqueue_bulk(n)

    @abc.abstractmethod
    def enqueue_tagged(self, tag: str) -> None:
        """Enqueue one job whose code calls ``report_start(tag)``."""

    @abc.abstractmethod
    def worker_commands(self, processes: int) -> list[list[str]]:
        """Command lines that start ``processes`` worker processes."""


def run_standard(
    result: PeerResult,
    harness: Harness,
    *,
    jobs: int,
    env: Mapping[str, str],
    collector: UdpCollector,
    single_jobs: int = 2000,
    process_counts: Sequence[int] = (1, 2),
) -> None:
    """Measure every metric of ``result`` with ``harness``; a failing metric stays None."""
    problems: list[str] = []
    harness.reset()
    single = attempt(
        result, "enqueue_single", lambda: measure_enqueue(single_jobs, harness.enqueue_single)
    )
    result["enqueue_single"] = rounded(single)
    if harness.bulk_unsupported:
        add_note(result, f"enqueue_bulk: null, {harness.bulk_unsupported}")
    else:
        harness.reset()
        result["enqueue_bulk"] = rounded(
            attempt(result, "enqueue_bulk", lambda: measure_enqueue(jobs, harness.enqueue_bulk))
        )

    def drain(processes: int) -> float:
        return measure_processing(
            jobs=jobs,
            reset=harness.reset,
            fill=harness.fill,
            analyze=harness.analyze,
            remaining=harness.remaining,
            worker_commands=harness.worker_commands(processes),
            env=env,
            stop_signal=harness.stop_signal,
            problems=problems,
        ).rate

    if 1 in process_counts:
        result["process_1"] = rounded(attempt(result, "process_1", lambda: drain(1)))
    if 2 in process_counts:
        result["process_2"] = rounded(attempt(result, "process_2", lambda: drain(2)))

    latency = attempt(
        result,
        "latency",
        lambda: measure_latency(
            enqueue=harness.enqueue_tagged,
            collector=collector,
            worker_commands=harness.worker_commands(1),
            env=env,
            reset=harness.reset,
            stop_signal=harness.stop_signal,
            problems=problems,
        ),
    )
    for problem in dict.fromkeys(problems):
        add_note(result, f"unclean worker stop: {problem}")
    if latency is not None:
        result["latency_p50_ms"] = rounded(latency.p50_ms, 2)
        result["latency_p99_ms"] = rounded(latency.p99_ms, 2)
        if latency.received < latency.sent:
            add_note(result, f"latency: {latency.sent - latency.received} jobs never reported")


def measure_variant(
    result: PeerResult,
    label: str,
    *,
    harness: Harness,
    jobs: int,
    worker_commands: Sequence[Sequence[str]],
    env: Mapping[str, str],
    processes: int = 1,
) -> None:
    """Measure one extra ``process_N`` configuration and record it in ``result["notes"]``.

    Used to show what a peer does with its out-of-the-box settings next to the tuned ones.
    """
    problems: list[str] = []
    drain = attempt(
        result,
        f"variant ({label})",
        lambda: measure_processing(
            jobs=jobs,
            reset=harness.reset,
            fill=harness.fill,
            analyze=harness.analyze,
            remaining=harness.remaining,
            worker_commands=worker_commands,
            env=env,
            stop_signal=harness.stop_signal,
            problems=problems,
        ),
    )
    for problem in dict.fromkeys(problems):
        add_note(result, f"unclean worker stop: {problem}")
    if drain is not None:
        add_note(
            result,
            f"process_{processes} with {label}: {drain.rate:.0f} jobs/s",
        )
