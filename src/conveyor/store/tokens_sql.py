"""The tokens slice on both dialects: the same SQL but for the driver's parameter style."""

from __future__ import annotations

from .shared import SQLStore
from .tokens import TokenRecord, TokenStore, token_from_row, token_hash


class SQLTokens(SQLStore, TokenStore):
    def create_token(self, name: str, token: str, now: float) -> bool:
        with self._write_one() as cur:
            done = cur.execute(
                self._q["token_create"], {"name": name, "hash": token_hash(token), "now": now}
            )
            return int(done.rowcount) > 0

    def list_tokens(self) -> list[TokenRecord]:
        with self._read(records=True) as cur:
            return [token_from_row(row) for row in cur.execute(self._q["token_list"]).fetchall()]

    def revoke_token(self, name: str) -> bool:
        with self._write_one() as cur:
            return int(cur.execute(self._q["token_revoke"], {"name": name}).rowcount) > 0

    def token_digest(self, name: str) -> str | None:
        with self._read() as cur:
            row = cur.execute(self._q["token_digest"], {"name": name}).fetchone()
        return None if row is None else str(row[0])

    def check_token(self, token: str, now: float) -> str | None:
        with self._write_one() as cur:
            row = cur.execute(
                self._q["token_check"], {"hash": token_hash(token), "now": now}
            ).fetchone()
        return None if row is None else str(row[0])
