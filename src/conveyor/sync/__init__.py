"""Pull syncs: page through a remote collection into local records (DESIGN.md, built-in task 2).

The pure core is `paths`, `links`, `paging` and `records` (which page comes next, what an item's
id and hash are, what changed: no I/O, no clock); `source` declares a source, `runner` runs one
owner's sync, `registry` is `app.sources` and its `conveyor.sync` task, `operations` the
operators' side (runs, records, re-extraction).
"""

from ..errors import PagingError, SyncFailed
from .paging import Cursor, LinkHeader, NextUrl, Offset, PageNumber
from .records import Children, SyncStats
from .source import Incremental, Source

__all__ = [
    "Children",
    "Cursor",
    "Incremental",
    "LinkHeader",
    "NextUrl",
    "Offset",
    "PageNumber",
    "PagingError",
    "Source",
    "SyncFailed",
    "SyncStats",
]
