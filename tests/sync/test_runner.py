"""Syncs against a real paginated server (tests/sync/remote.py), on every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from conveyor import AccountRejected, Conveyor, SyncFailed
from conveyor.accounts import generate_key
from conveyor.errors import ConfigurationError
from conveyor.sync import Children, Cursor, Incremental, LinkHeader, NextUrl, Offset, PageNumber
from tests.connections.conftest import run_burst
from tests.sync.remote import Remote

PROCESS = "process_workflow"


def declare(app: Conveyor, remote: Remote, **overrides: Any) -> None:
    app.connection("zuora", remote.url)

    @app.task(name=PROCESS)
    def process(payload: dict[str, Any]) -> None:
        pass

    settings: dict[str, Any] = {
        "connection": "zuora",
        "path": "/workflows",
        "items": "data",
        "paginate": PageNumber(page="page", size="page_length", per_page=2, has_more="hasMore"),
        "detail": "/workflows/{id}/export",
        "children": {"tasks": Children("tasks", id="id")},
        "owner_param": "customer",
        "process": PROCESS,
    }
    settings.update(overrides)
    app.source("workflows", **settings)


def fill(remote: Remote, count: int, owner: str = "acme") -> None:
    for i in range(count):
        remote.put(owner, f"w{i}", tasks=[{"id": f"t{i}a"}, {"id": f"t{i}b"}])


def live_ids(app: Conveyor, kind: str = "") -> list[str]:
    return sorted(r.external_id for r in app.records("workflows", kind=kind, limit=1000))


def process_jobs(app: Conveyor) -> list[Any]:
    return app.list_jobs(task=PROCESS, limit=1000)


def test_a_first_sync_and_an_unchanged_resync(app: Conveyor, remote: Remote) -> None:
    declare(app, remote)
    fill(remote, 5)
    run = app.sync_now("workflows", "acme")
    assert run.state == "succeeded"
    assert run.stats == {
        "created": 5,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "total": 5,
        "errors": 0,
    }
    assert live_ids(app) == [f"w{i}" for i in range(5)]
    assert len(live_ids(app, "tasks")) == 10
    assert len(remote.paths("/workflows/")) == 5  # one export each
    assert len(process_jobs(app)) == 5
    record = app.records("workflows", limit=1)[0]
    assert record.data == {"id": "w0", "name": "w0", "tasks": [{"id": "t0a"}, {"id": "t0b"}]}

    remote.hits.clear()
    again = app.sync_now("workflows", "acme")
    assert again.stats["unchanged"] == 5 and again.stats["created"] == again.stats["updated"] == 0
    assert remote.paths("/workflows/") == []  # unchanged: no export downloaded again
    assert len(process_jobs(app)) == 5


def test_changes_deletions_and_children(app: Conveyor, remote: Remote) -> None:
    declare(app, remote)
    fill(remote, 4)
    app.sync_now("workflows", "acme")
    remote.put("acme", "w1", name="renamed", tasks=[{"id": "t1a"}])  # t1b is gone
    remote.remove("acme", "w3")
    run = app.sync_now("workflows", "acme")
    assert run.stats["updated"] == 1 and run.stats["deleted"] == 1 and run.stats["unchanged"] == 2
    assert live_ids(app) == ["w0", "w1", "w2"]
    deleted = [r.external_id for r in app.records("workflows", deleted=True)]
    assert deleted == ["w3"]
    gone_tasks = sorted(r.external_id for r in app.records("workflows", kind="tasks", deleted=True))
    assert gone_tasks == ["t1b", "t3a", "t3b"]
    assert len(process_jobs(app)) == 5  # 4 created + 1 updated, each once
    app.sync_now("workflows", "acme")
    assert len(process_jobs(app)) == 5


def test_a_failed_page_deletes_nothing_and_the_next_sync_resumes(
    app: Conveyor, remote: Remote
) -> None:
    declare(app, remote, page_retries=1)
    fill(remote, 6)
    app.sync_now("workflows", "acme")
    remote.remove("acme", "w5")
    for _ in range(2):  # more than the in-place retries
        remote.fail("page=2&", 500)
    remote.hits.clear()
    with pytest.raises(SyncFailed, match="HTTP 500"):
        app.sync_now("workflows", "acme")
    failed = app.sync_runs("workflows", "acme", limit=1)[0]
    assert failed.state == "failed" and failed.errors and failed.checkpoint is not None
    assert "w5" in live_ids(app)  # a partial scan deletes nothing

    remote.hits.clear()
    resumed = app.sync_now("workflows", "acme")
    assert resumed.id == failed.id and resumed.state == "succeeded"
    listing = [p for p in remote.paths("/workflows?")]
    assert not any("page=1&" in p for p in listing)  # resumed at the failed page
    assert live_ids(app) == [f"w{i}" for i in range(5)]


def test_a_429_mid_scan_is_waited_out(app: Conveyor, remote: Remote) -> None:
    declare(app, remote)
    fill(remote, 4)
    remote.fail("page=2&", 429, **{"Retry-After": "1"})
    run = app.sync_now("workflows", "acme")
    assert run.state == "succeeded" and run.stats["created"] == 4
    page2 = [h for h in remote.hits if "page=2&" in h.path_qs]
    assert len(page2) == 2 and page2[1].at - page2[0].at >= 0.95


@pytest.mark.parametrize(
    ("style", "settings"),
    [
        ("offset", {"items": "results", "paginate": Offset(per_page=2, total="count")}),
        ("cursor", {"items": "items", "paginate": Cursor(next="meta.next", param="after")}),
        ("link", {"items": None, "paginate": LinkHeader()}),
        ("next", {"items": "items", "paginate": NextUrl("next")}),
    ],
)
def test_every_pagination_style(
    app: Conveyor, remote: Remote, style: str, settings: dict[str, Any]
) -> None:
    remote.style = style
    declare(app, remote, **settings)
    fill(remote, 7)
    progress: list[Any] = []
    run = app.sync_now("workflows", "acme", progress=progress.append)
    assert run.stats["created"] == 7 and live_ids(app) == [f"w{i}" for i in range(7)]
    assert progress[-1].items == 7
    if style == "link":
        assert progress[-1].total == 7


def test_owners_are_kept_apart(app: Conveyor, remote: Remote) -> None:
    declare(app, remote)
    fill(remote, 3, "acme")
    fill(remote, 2, "globex")
    app.sync_now("workflows", "acme")
    app.sync_now("workflows", "globex")
    remote.remove("globex", "w0")
    app.sync_now("workflows", "globex")
    assert len(app.records("workflows", owner="acme")) == 3
    assert [r.external_id for r in app.records("workflows", owner="globex")] == ["w1"]


def test_a_sync_job_runs_on_a_worker(app: Conveyor, remote: Remote) -> None:
    declare(app, remote)
    fill(remote, 3)
    job_id = app.sync("workflows", "acme", mode="full")
    job = app.get_job(job_id)
    assert job.queue == "sync" and job.key == "sync:workflows:acme"
    run_burst(app, queues=["sync"])
    assert app.get_job(job_id).state == "succeeded"
    assert app.sync_runs("workflows")[0].stats["created"] == 3
    assert len(process_jobs(app)) == 3
    run_burst(app)
    assert all(j.state == "succeeded" for j in process_jobs(app))


def test_a_sync_job_can_run_on_another_queue_and_be_enqueued_once(
    app: Conveyor, remote: Remote
) -> None:
    declare(app, remote, max_attempts=4)
    fill(remote, 2)
    built = app.sources.sync_job("workflows", "globex", queue="init")  # checked, not stored
    assert (built.queue, built.key, built.max_attempts) == ("init", "sync:workflows:globex", 4)
    assert app.list_jobs(task="conveyor.sync") == []
    job_id = app.sync("workflows", "acme", mode="full", queue="init", idempotency_key="init:acme")
    job = app.get_job(job_id)
    assert job.queue == "init" and job.key == "sync:workflows:acme" and job.max_attempts == 4
    assert app.sync("workflows", "acme", queue="init", idempotency_key="init:acme") == job_id
    run_burst(app, queues=["sync"])
    assert app.get_job(job_id).state == "queued"  # the source's own pool does not take it
    run_burst(app, queues=["init"])
    assert app.get_job(job_id).state == "succeeded"
    assert app.sync_runs("workflows")[0].stats["created"] == 2
    record = app.record("workflows", "acme", "w1")  # what a process= job reads
    assert record is not None and record.data["id"] == "w1"
    assert app.record("workflows", "acme", "w9") is None
    with pytest.raises(ConfigurationError, match="unknown source"):
        app.record("nope", "acme", "w1")


def test_a_next_link_to_another_host_fails_the_run(app: Conveyor, remote: Remote) -> None:
    remote.style = "next"
    declare(app, remote, items="items", paginate=NextUrl("next"))
    fill(remote, 5)
    remote.next_base = remote.url.replace("127.0.0.1", "localhost")
    with pytest.raises(SyncFailed, match="not under the connection"):
        app.sync_now("workflows", "acme")


def test_bad_input_is_refused_with_one_line(app: Conveyor, remote: Remote) -> None:
    declare(app, remote)
    with pytest.raises(ConfigurationError, match="unknown source 'nope'"):
        app.sync("nope", "acme")
    with pytest.raises(ConfigurationError, match="owner"):
        app.sync("workflows", "")
    with pytest.raises(ConfigurationError, match="declared twice"):
        app.source("workflows", connection="zuora", path="/x")
    with pytest.raises(ConfigurationError, match="paginate"):
        app.source("other", connection="zuora", path="/x", paginate="page")
    with pytest.raises(ConfigurationError, match="detail"):
        app.source("other", connection="zuora", path="/x", detail="/items")
    with pytest.raises(ConfigurationError, match="page_retries"):
        app.source("other", connection="zuora", path="/x", page_retries=-1)
    assert app.list_jobs() == []  # nothing was enqueued by the refused calls


def test_incremental_syncs_send_the_cursor_and_only_full_scans_delete(
    app: Conveyor, remote: Remote
) -> None:
    declare(app, remote, incremental=Incremental(field="updated_at", param="updated_since"))
    for i, day in enumerate(("2026-01-01", "2026-01-03", "2026-01-02")):
        remote.put("acme", f"w{i}", updated=day)
    first = app.sync_now("workflows", "acme")
    assert first.stats["created"] == 3 and first.cursor == "2026-01-03"
    assert "updated_since" not in remote.paths("/workflows?")[0]

    remote.put("acme", "w0", name="changed", updated="2026-01-05")
    remote.remove("acme", "w2")
    remote.hits.clear()
    second = app.sync_now("workflows", "acme")
    assert "updated_since=2026-01-03" in remote.paths("/workflows?")[0]
    assert second.stats["updated"] == 1 and second.stats["total"] == 1
    assert second.stats["deleted"] == 0 and second.cursor == "2026-01-05"
    assert live_ids(app) == ["w0", "w1", "w2"]  # an incremental listing is partial

    remote.hits.clear()
    full = app.sync_now("workflows", "acme", mode="full")
    assert "updated_since" not in remote.paths("/workflows?")[0]
    assert full.stats["deleted"] == 1 and live_ids(app) == ["w0", "w1"]
    assert full.cursor == "2026-01-05"

    remote.hits.clear()
    since = app.sync_now("workflows", "acme", mode="since", since="2025-12-31")
    assert "updated_since=2025-12-31" in remote.paths("/workflows?")[0]
    assert since.stats["unchanged"] == 2 and since.stats["deleted"] == 0
    with pytest.raises(ConfigurationError, match="since"):
        app.sync_now("workflows", "acme", mode="since")
    with pytest.raises(ConfigurationError, match="ISO date"):
        app.sync("workflows", "acme", mode="since", since="last week")


def test_bad_items_are_counted_as_errors_and_kept(app: Conveyor, remote: Remote) -> None:
    declare(app, remote)
    fill(remote, 3)
    app.sync_now("workflows", "acme")
    del remote.exports["w1"]  # its export now answers 404
    remote.put("acme", "w1", name="changed")
    del remote.exports["w1"]
    run = app.sync_now("workflows", "acme", mode="full")
    assert run.stats["errors"] == 1 and run.stats["unchanged"] == 2
    assert run.errors[-1]["id"] == "w1" and run.errors[-1]["status"] == 404
    assert live_ids(app) == ["w0", "w1", "w2"]  # not seen whole, so not deleted


def test_a_page_whose_detail_failed_is_judged_again_next_time(
    app: Conveyor, remote: Remote
) -> None:
    declare(app, remote)
    fill(remote, 4)
    saved = remote.exports.pop("w1")  # its export answers 404 this time
    first = app.sync_now("workflows", "acme")
    assert first.stats["errors"] == 1 and "w1" not in live_ids(app)
    remote.exports["w1"] = saved
    again = app.sync_now("workflows", "acme")
    assert again.stats["created"] == 1 and "w1" in live_ids(app)  # page 1 was not skipped
    assert again.stats["unchanged"] == 3


def test_only_the_pages_that_changed_are_read_item_by_item(app: Conveyor, remote: Remote) -> None:
    declare(app, remote)
    fill(remote, 6)
    app.sync_now("workflows", "acme")
    remote.put("acme", "w3", name="renamed", tasks=[{"id": "t3a"}, {"id": "t3b"}])
    looked_up: list[int] = []
    original = type(app.store).known_hashes

    def counting(store: object, source: str, owner: str, ids: list[str]) -> dict[str, Any]:
        looked_up.append(len(ids))
        return original(store, source, owner, ids)  # type: ignore[arg-type]

    type(app.store).known_hashes = counting  # type: ignore[method-assign]
    try:
        run = app.sync_now("workflows", "acme")
    finally:
        type(app.store).known_hashes = original  # type: ignore[method-assign]
    assert run.stats["updated"] == 1 and run.stats["unchanged"] == 5
    assert looked_up == [2]  # the page holding w2 and w3 only


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = generate_key()
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", key)
    return key


def per_owner(app: Conveyor, remote: Remote, **overrides: Any) -> None:
    app.connection("zuora", remote.url, check="GET /me", identity="customer")

    @app.task(name=PROCESS)
    def process(payload: dict[str, Any]) -> None:
        pass

    settings: dict[str, Any] = {
        "connection": "zuora",
        "path": "/workflows",
        "items": "data",
        "paginate": PageNumber(page="page", size="page_length", per_page=2, has_more="hasMore"),
        "owner_param": "customer",
    }
    settings.update(overrides)
    app.source("workflows", **settings)


def test_a_sync_calls_with_the_owners_own_credentials(
    app: Conveyor, remote: Remote, secret_key: str
) -> None:
    per_owner(app, remote)
    remote.keys = {"acme": "key-acme", "globex": "key-globex"}
    fill(remote, 3, "acme")
    app.add_account("zuora", "acme", api_key="key-acme")
    run = app.sync_now("workflows", "acme")
    assert run.state == "succeeded" and run.stats["created"] == 3
    assert remote.paths()[0] == "/me"  # the credential check came first
    assert app.ops.sync.owners("workflows") == ["acme"]  # --all: owners with an account


def test_a_refused_credential_fails_before_any_page(
    app: Conveyor, remote: Remote, secret_key: str
) -> None:
    per_owner(app, remote)
    remote.keys = {"acme": "key-acme"}
    fill(remote, 3, "acme")
    app.add_account("zuora", "acme", api_key="an-old-key")
    with pytest.raises(AccountRejected, match="refused the credentials of owner 'acme'"):
        app.sync_now("workflows", "acme")
    assert remote.paths("/workflows") == []  # no page fetched
    job_id = app.sync("workflows", "acme")
    run_burst(app, queues=["sync"])
    job = app.get_job(job_id)
    assert job.state == "dead" and job.attempts == 1  # retrying cannot fix a credential


def test_an_unreachable_credential_check_is_a_try_retry_after_apart(
    app: Conveyor, remote: Remote, secret_key: str
) -> None:
    per_owner(app, remote, retry_after=45)
    remote.keys = {"acme": "key-acme"}
    fill(remote, 3, "acme")
    app.add_account("zuora", "acme", api_key="key-acme")
    remote.fail("/me", 500)
    job_id = app.sync("workflows", "acme")
    run_burst(app, queues=["sync"])
    job = app.get_job(job_id)
    assert (job.state, job.attempts) == ("retrying", 1)
    assert 40 < (job.run_at - datetime.now(UTC)).total_seconds() <= 45
    assert "the check GET /me failed" in (job.last_error or "")
    assert remote.paths("/workflows") == []


def test_owner_credentials_required_but_missing(app: Conveyor, remote: Remote) -> None:
    per_owner(app, remote, owner_credentials=True)
    with pytest.raises(ConfigurationError, match="has no account on connection 'zuora'"):
        app.sync_now("workflows", "acme")
    assert remote.hits == []


def test_a_historical_initialisation_pages_through_windows_and_resumes(
    app: Conveyor, remote: Remote
) -> None:
    history = Incremental(
        field="updated_at", param="updated_since", until_param="updated_before", window="20d"
    )
    declare(app, remote, incremental=history, page_retries=0)
    for i, moment in enumerate(
        ("2026-01-02T10:00:00Z", "2026-01-15T10:00:00Z", "2026-02-03T10:00:00Z", "2026-03-10")
    ):
        remote.put("acme", f"w{i}", updated=moment)
    remote.fail("updated_since=2026-01-21T00", 500)  # the second window fails once
    with pytest.raises(SyncFailed):
        app.sync_now("workflows", "acme", mode="since", since="2026-01-01")
    listings = remote.paths("/workflows?")
    assert "updated_since=2026-01-01T00:00:00Z" in listings[0]
    assert "updated_before=2026-01-21T00:00:00Z" in listings[0]
    assert live_ids(app) == ["w0", "w1"]  # the first window is stored

    remote.hits.clear()
    run = app.sync_now("workflows", "acme", mode="since", since="2026-01-01")
    assert run.state == "succeeded" and run.stats["created"] == 4
    again = remote.paths("/workflows?")
    assert "updated_since=2026-01-21T00" in again[0]  # resumed at the failed window
    assert not any("updated_since=2026-01-01T00" in path for path in again)
    assert live_ids(app) == ["w0", "w1", "w2", "w3"]
    assert run.stats["deleted"] == 0  # a historical initialisation marks no deletions


def test_a_window_needs_its_end_parameter() -> None:
    with pytest.raises(ConfigurationError, match="until_param"):
        Incremental(field="updated_at", param="since", window="30d")
    with pytest.raises(ConfigurationError, match="window"):
        Incremental(field="updated_at", param="since", until_param="until", window="soon")
