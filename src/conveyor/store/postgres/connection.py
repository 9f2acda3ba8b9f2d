"""The PostgreSQL connection pool and the dialect's side of the shared seam (`SQLStore`).

Pooled connections run in autocommit: a single statement is its own transaction (one round trip);
several run in `conn.transaction()`. A call never hangs on a server that went away: it waits at
most `wait_timeout` for a connection, or `OUTAGE_WAIT` while the server is known to be down.
"""

from __future__ import annotations

import logging
import re
import select
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, cast
from urllib.parse import urlsplit

import psycopg
from psycopg.pq import ConnStatus
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ...errors import ConfigurationError, StoreError, StoreUnavailable
from ...job import Job
from ...workers import WorkerRecord
from .. import queries
from ..base import with_schema_hint
from ..common import job_from_row, worker_from_row
from ..shared import Cursor, SQLStore

# While the server is unreachable a call waits this long for a connection, not the full
# `wait_timeout`: each call is one connection attempt, so work resumes within about this long
# (plus the worker's backoff) of the server answering again.
OUTAGE_WAIT = 0.5
LISTEN_RETRY_MAX = 1.0  # seconds between attempts to re-open the LISTEN connection
CHECK_AFTER_IDLE = 1.0  # seconds: a pooled connection idle longer is tested before use

# Advisory lock classes: pg_advisory_xact_lock(class, key), held until the transaction ends. The
# values are those every deployed version takes: changing one would let an old and a new worker
# (a rolling deploy) hold "the same" lock at once.
KEY_LOCK = 1668247126  # key hashtext(ordering key): enqueue and release of one key, serialised
MIGRATE_LOCK = 1668247126  # key 0: one migrating process at a time (shares the keys' class)
BREAKER_LOCK = 1668247127  # key hashtext(breaker name): one change of a breaker at a time
HOLD_LOCK = 1668247128  # key hashtext(connection name): one change of a connection's hold


class PostgresConnection(SQLStore):
    dialect = "postgres"

    def __init__(
        self,
        url: str,
        pool_size: int = 4,
        connect_timeout: float = 5.0,
        wait_timeout: float = 5.0,
    ) -> None:
        """`wait_timeout`: the longest a call waits for a pooled connection before it raises
        `StoreUnavailable` (a call never hangs on a server that went away)."""
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigurationError(f"not a PostgreSQL URL: {url!r}")
        self.url = url
        self.wait_timeout = wait_timeout
        self._reachable = True  # False from a lost connection until a call succeeds again
        self._used: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )
        self._q = queries.load("postgres")
        self._own_identity: tuple[str, str] | None = None
        self._identities: weakref.WeakKeyDictionary[psycopg.Connection[Any], tuple[str, str]] = (
            weakref.WeakKeyDictionary()
        )
        timeout = max(1, int(connect_timeout))
        self._connect_timeout = timeout
        _quiet_pool_logs()
        try:  # one direct connection first: the pool would only report "incomplete" after 5 s
            psycopg.connect(url, connect_timeout=timeout).close()
        except psycopg.ProgrammingError as error:  # malformed URL or unknown option
            raise ConfigurationError(
                f"bad PostgreSQL URL {safe_url(url)}: {reason(error)}"
            ) from None
        except psycopg.Error as error:
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {safe_url(url)}: {reason(error)}"
            ) from error
        try:
            self._pool = ConnectionPool(
                url,
                min_size=1,
                max_size=pool_size,
                kwargs={"autocommit": True, "connect_timeout": timeout},
                configure=_serial_plans,
                open=False,
                name="conveyor",
                # After a restart every pooled connection is dead: a dead one is replaced,
                # never handed out (see `_check`).
                check=self._check,
                timeout=wait_timeout,
                # The pool's own reconnection backs off exponentially for up to this long; at 0
                # it gives up at once and each call that needs a connection tries anew, so
                # connections come back as soon as the server does, not minutes later.
                reconnect_timeout=0,
                reconnect_failed=self._unreachable,
            )
            self._pool.open(wait=True, timeout=connect_timeout)
        except (PoolTimeout, psycopg.Error) as error:
            self._pool.close()
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {safe_url(url)}: {reason(error)}"
            ) from error

    # -- connections ------------------------------------------------------------------------

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection(timeout=self._wait()) as conn:
                try:
                    yield conn
                finally:
                    self._used[conn] = time.monotonic()
        except (PoolTimeout, psycopg.Error) as error:
            raise self._failure(error) from error
        self._reachable = True

    def _fetch_one(self, query: str, params: Sequence[Any]) -> Any:
        """The first row of one autocommit statement: what `_conn` does, without its two context
        managers (the single enqueue's hot path, where each microsecond counts per job)."""
        try:
            conn = self._pool.getconn(timeout=self._wait())
        except PoolTimeout as error:
            raise self._failure(error) from error
        try:
            row = conn.execute(query, params).fetchone()
        except psycopg.Error as error:
            raise self._failure(error) from error
        finally:
            self._used[conn] = time.monotonic()
            self._pool.putconn(conn)
        self._reachable = True
        return row

    def _wait(self) -> float:
        return self.wait_timeout if self._reachable else min(self.wait_timeout, OUTAGE_WAIT)

    def _failure(self, error: Exception) -> Exception:
        """The store's error for a pool's or the driver's."""
        if isinstance(error, PoolTimeout):
            return StoreUnavailable(f"PostgreSQL pool exhausted or unreachable: {error}")
        if isinstance(error, psycopg.errors.TransactionRollback):  # deadlock, serialisation
            return StoreError(f"PostgreSQL (transient, safe to retry): {reason(error)}")
        if isinstance(error, psycopg.OperationalError):  # the server went away (AdminShutdown)
            self._reachable = False
            return StoreUnavailable(f"PostgreSQL: {reason(error)}")
        return StoreError(with_schema_hint(f"PostgreSQL: {reason(error)}"))

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's check before handing a connection out: `check_connection` (an empty
        round trip) when there is cause to doubt the connection. A session the server ended
        (restart, `pg_terminate_backend`) has sent its error and EOF, so its socket is readable
        while idle; one idle for over a second may have lost its peer silently. A connection
        in use all the time skips the round trip: ~45 us per claim and per outcome batch."""
        idle = time.monotonic() - self._used.get(conn, 0.0)
        if idle > CHECK_AFTER_IDLE or conn.pgconn.status != ConnStatus.OK or _readable(conn):
            ConnectionPool.check_connection(conn)

    def _unreachable(self, pool: ConnectionPool[Any]) -> None:
        """The pool failed to open a connection: calls stop waiting the full `wait_timeout`."""
        self._reachable = False

    @contextmanager
    def _tx(self, records: bool = False) -> Iterator[psycopg.Cursor[Any]]:
        with self._conn() as conn, conn.transaction(), _cursor(conn, records) as cur:
            yield cur

    @contextmanager
    def _auto(self, records: bool = False) -> Iterator[psycopg.Cursor[Any]]:
        with self._conn() as conn, _cursor(conn, records) as cur:
            yield cur

    # -- the seam ---------------------------------------------------------------------------

    def _read(self, records: bool = False) -> AbstractContextManager[psycopg.Cursor[Any]]:
        return self._auto(records)

    def _write(self, records: bool = False) -> AbstractContextManager[psycopg.Cursor[Any]]:
        return self._tx(records)

    def _write_one(self) -> AbstractContextManager[psycopg.Cursor[Any]]:
        """Autocommit: the statement is its own transaction, one round trip."""
        return self._auto()

    def _array(self, values: Iterable[Any]) -> list[Any]:
        return list(values)

    def _with_now(self, params: dict[str, Any]) -> dict[str, Any]:
        """The SQL takes the database's clock (now())."""
        return params

    def _job(self, row: Any) -> Job:
        return job_from_row(row)

    def _worker(self, row: Any) -> WorkerRecord:
        return worker_from_row(row)

    def _notify(self, cur: Cursor) -> None:
        cur.execute(self._q["notify"])

    def _lock_migrations(self, cur: Cursor) -> None:
        cur.execute(self._q["migrate_lock"], {"lock": MIGRATE_LOCK})

    def _run_script(self, cur: Cursor, sql: str) -> None:
        # bytes: a migration is a script, never a query of ours with parameters
        cast("psycopg.Cursor[Any]", cur).execute(sql.encode())

    def _lock_keys(self, cur: psycopg.Cursor[Any], keys: list[str]) -> None:
        """Serialise enqueue and release of these (sorted) keys with other transactions."""
        cur.execute(self._q["lock_keys"], {"keys": keys, "lock": KEY_LOCK})

    def close(self) -> None:
        self._pool.close()


def _cursor(conn: psycopg.Connection[Any], records: bool) -> psycopg.Cursor[Any]:
    return conn.cursor(row_factory=dict_row) if records else conn.cursor()


def _serial_plans(conn: psycopg.Connection[Any]) -> None:
    """No parallel workers for Conveyor's statements. Only the operator's aggregates over a big
    backlog get a parallel plan, and on a machine the workers share it took three backends for
    the same time as one (700,000 queued jobs: 153 against 154 ms for the live counts, 251
    against 222 ms for the runnable ones): a dashboard's refresh should not take every core."""
    conn.execute("SET max_parallel_workers_per_gather = 0")


def _quiet_pool_logs() -> None:
    """psycopg's pool logs every failed connection attempt, through the logging module's
    last-resort handler (stderr) when the application configured none: during an outage that is
    lines per second, while the worker already logs the outage once."""
    pool_logger = logging.getLogger("psycopg.pool")
    if not any(isinstance(h, logging.NullHandler) for h in pool_logger.handlers):
        pool_logger.addHandler(logging.NullHandler())


def _readable(conn: psycopg.Connection[Any]) -> bool:
    """Something arrived on an idle connection: nothing should, unless the server ended it."""
    try:
        fd = conn.fileno()
    except psycopg.Error:  # closed
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


def reason(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not even a URL: hide anything that looks like a password
        return re.sub(r":[^:@/]*@", ":***@", url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
