"""One subject's sync, run in a process of its own so its peak memory is its own:
`python -m bench.sync_peers.subjects SUBJECT URL` prints one JSON line.

conveyor-sqlite / conveyor-postgres: `app.sync_now` of a source with `PageNumber(per_page=100,
has_more="hasMore")`, a full sync then an unchanged re-sync. dlt-postgres / dlt-filesystem: dlt's
`rest_api` source with `PageNumberPaginator(total_path="total_pages")` (the same requests),
`primary_key="id"`; into PostgreSQL with `write_disposition="merge"` (dlt's upsert), into a local
filesystem destination (jsonl) with "replace" (the filesystem destination cannot merge). Both
run twice, the second time over unchanged data.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.peers import common

PG_DB = "bench_sync"


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def conveyor(backend: str, url: str, folder: Path) -> dict[str, Any]:
    from conveyor import Conveyor, PageNumber

    if backend == "sqlite":
        database = f"sqlite:///{folder / 'sync.db'}"
    else:
        common.recreate_pg_database(PG_DB)
        database = common.pg_dsn(PG_DB)
    app = Conveyor(database)
    app.migrate()
    app.connection("bench", url, breaker=False)
    app.source(
        "items",
        connection="bench",
        path="/items",
        items="data",
        paginate=PageNumber(page="page", size="per_page", per_page=100, has_more="hasMore"),
    )
    started = time.perf_counter()
    first = app.sync_now("items", "bench", mode="full")
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    again = app.sync_now("items", "bench", mode="full")
    resync_seconds = time.perf_counter() - started
    app.close()
    return {
        "records": first.stats["total"],
        "first_seconds": first_seconds,
        "resync_seconds": resync_seconds,
        "created": first.stats["created"],
        "unchanged": again.stats["unchanged"],
    }


def dlt_run(destination: str, url: str, folder: Path) -> dict[str, Any]:
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    os.environ["DLT_DATA_DIR"] = str(folder / "dlt-data")
    import dlt
    from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator
    from dlt.sources.rest_api import rest_api_source

    if destination == "postgres":
        common.recreate_pg_database(PG_DB)
        # dlt insists on a password; the local server trusts, so any will do.
        dsn = common.pg_dsn(PG_DB).replace("postgresql://postgres@", "postgresql://postgres:x@")
        target = dlt.destinations.postgres(credentials=dsn)
        disposition = "merge"
    else:
        target = dlt.destinations.filesystem(bucket_url=(folder / "files").as_uri())
        disposition = "replace"

    def source() -> Any:
        return rest_api_source(
            {
                "client": {
                    "base_url": url,
                    "paginator": PageNumberPaginator(
                        base_page=1, page_param="page", total_path="total_pages"
                    ),
                },
                "resource_defaults": {"primary_key": "id", "write_disposition": disposition},
                "resources": [
                    {
                        "name": "items",
                        "endpoint": {
                            "path": "items",
                            "params": {"per_page": 100},
                            "data_selector": "data",
                        },
                    }
                ],
            }
        )

    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{destination}",
        destination=target,
        dataset_name="bench",
        pipelines_dir=str(folder / "pipelines"),
    )
    kwargs: dict[str, Any] = {"loader_file_format": "jsonl"} if destination != "postgres" else {}
    started = time.perf_counter()
    pipeline.run(source(), **kwargs)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    pipeline.run(source(), **kwargs)
    resync_seconds = time.perf_counter() - started
    with pipeline.sql_client() if destination == "postgres" else _nothing() as client:
        records = None
        if client is not None:
            records = client.execute_sql("SELECT count(*) FROM items")[0][0]
    return {"records": records, "first_seconds": first_seconds, "resync_seconds": resync_seconds}


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def main() -> None:
    subject, url = sys.argv[1], sys.argv[2]
    folder = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    try:
        if subject.startswith("conveyor-"):
            result = conveyor(subject.removeprefix("conveyor-"), url, folder)
        else:
            result = dlt_run(subject.removeprefix("dlt-"), url, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if "postgres" in subject:
            common.drop_pg_database(PG_DB)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
