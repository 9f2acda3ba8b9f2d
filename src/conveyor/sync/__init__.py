"""Pull syncs: page through a remote collection into local records (DESIGN.md, built-in task 2).

The pure core lives here (`paths`, `links`, `paging`, `records`): which page comes next, what an
item's id and hash are, what changed. No I/O and no clock, so every rule is testable alone.
"""

from .paging import Cursor, LinkHeader, NextUrl, Offset, PageNumber, PagingError
from .records import Children, SyncStats

__all__ = [
    "Children",
    "Cursor",
    "LinkHeader",
    "NextUrl",
    "Offset",
    "PageNumber",
    "PagingError",
    "SyncStats",
]
