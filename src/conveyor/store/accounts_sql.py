"""The accounts slice on both dialects: the same SQL but for the driver and the lock.

The lock is in the dialect's `account_lock` block: on PostgreSQL a row lock (`FOR UPDATE`), on
SQLite the `BEGIN IMMEDIATE` of every write transaction. Either way `change_account` reads the
row only once the lock is held, so a process that waited sees what the holder stored.
"""

from __future__ import annotations

from dataclasses import asdict

from .accounts import AccountChange, PendingAuthorization, StoredAccount, account_from_row
from .shared import SQLStore


class SQLAccounts(SQLStore):
    def put_account(self, account: StoredAccount) -> None:
        with self._write_one() as cur:
            cur.execute(self._q["account_put"], asdict(account))

    def get_account(self, connection: str, owner: str) -> StoredAccount | None:
        with self._read(records=True) as cur:
            row = cur.execute(
                self._q["account_get"], {"connection": connection, "owner": owner}
            ).fetchone()
        return None if row is None else account_from_row(row)

    def list_accounts(self, connection: str | None = None) -> list[StoredAccount]:
        with self._read(records=True) as cur:
            rows = cur.execute(self._q["account_list"], {"connection": connection}).fetchall()
        return [account_from_row(row) for row in rows]

    def remove_account(self, connection: str, owner: str) -> bool:
        with self._write_one() as cur:
            done = cur.execute(
                self._q["account_remove"], {"connection": connection, "owner": owner}
            )
            return int(done.rowcount) > 0

    def change_account(
        self, connection: str, owner: str, change: AccountChange
    ) -> StoredAccount | None:
        with self._write(records=True) as cur:
            row = cur.execute(
                self._q["account_lock"], {"connection": connection, "owner": owner}
            ).fetchone()
            if row is None:
                return None
            current = account_from_row(row)
            after = change(current)
            if after is None:
                return current
            cur.execute(self._q["account_update"], asdict(after))
        return after

    def put_authorization(self, pending: PendingAuthorization, now: float) -> None:
        with self._write() as cur:
            cur.execute(self._q["authorization_prune"], {"now": now})
            cur.execute(self._q["authorization_put"], asdict(pending))

    def take_authorization(self, state: str) -> PendingAuthorization | None:
        with self._write(records=True) as cur:
            row = cur.execute(self._q["authorization_take"], {"state": state}).fetchone()
        if row is None:
            return None
        return PendingAuthorization(
            row["state"],
            row["connection"],
            row["owner"],
            row["verifier"],
            row["redirect_uri"],
            float(row["expires_at"]),
        )
