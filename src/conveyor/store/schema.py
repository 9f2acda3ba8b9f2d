"""The schema slice: numbered, forward-only migrations and the version they leave.

The migrations are `sql/<dialect>/migrations/NNNN_name.sql`; the schema they build, all applied,
is checked in as `sql/<dialect>/schema.sql` (a test keeps the two equal); the bookkeeping SQL is
`sql/<dialect>/migrate.sql`. Contract tests: `tests/store/test_schema.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

from ..errors import StoreError

Migration = tuple[int, str, str]  # (version, name, sql)


class SchemaStore(ABC):
    @abstractmethod
    def migrate(self) -> list[str]:
        """Apply pending migrations, in order; return the names applied."""

    @abstractmethod
    def schema_version(self) -> int:
        """The highest migration applied; 0 before the first."""


def pending(available: Sequence[Migration], applied: Mapping[int, str]) -> list[Migration]:
    """The migrations still to apply, in order.

    Refuses one numbered below a migration already applied (a development database that has
    0004 and 0005 but not 0003): applied now it would run against a schema it was not written for
    (0003 on SQLite rebuilds the jobs table), so the database needs a look first.
    """
    todo = [migration for migration in available if migration[0] not in applied]
    if todo and applied:
        newest = max(applied)
        late = [f"{version:04d}_{name}" for version, name, _ in todo if version < newest]
        if late:
            raise StoreError(
                f"migration {', '.join(late)} is not applied, but this database already has "
                f"{newest:04d}_{applied[newest]}: migrations run in order only, so the database "
                "was migrated by another version of Conveyor; restore it or migrate it by hand"
            )
    return todo
