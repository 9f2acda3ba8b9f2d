"""The dashboard over real HTTP (uvicorn in a thread), both backends: login and logout, every
page behind the session, every POST refused without the session's CSRF token (and nothing
changed), every page rendered, no secret on any page, the actions, and the live stream."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from conveyor import Bearer, Conveyor
from conveyor.job import Outcome
from conveyor.web.dashboard import dashboard_app
from conveyor.web.dashboard.dead import BLOCKED_PAGE, GROUPS, connection_groups

from ..conftest import running
from .client import Client

SECRET = "sk_live_never_shown_4242"
PAGES = ["/", "/jobs", "/jobs/1", "/dead", "/blocked", "/connections", "/schedules", "/sync"]
PAGES += ["/batches", "/jobs?state=dead&task=charge&error=declined"]


@dataclass
class Dash:
    app: Conveyor
    base: str
    token: str
    dead: list[int]  # charge jobs 1-3 (key cust-N), each holding its key
    waiting: int  # job 4, behind job 1's key

    def client(self) -> Client:
        client = Client(self.base)
        assert client.login(self.token).status == 303
        return client


@pytest.fixture
def dash(app: Conveyor) -> Iterator[Dash]:
    app.connection("shop", "http://127.0.0.1:9", auth=Bearer(SECRET), check="GET /me")

    @app.task(max_attempts=1)
    def charge(payload: dict[str, int]) -> dict[str, int]:
        return {"charged": payload["order"]}

    app.schedule("nightly", "0 3 * * *", "charge", payload={"order": 0})
    dead = [app.enqueue("charge", {"order": n}, key=f"cust-{n}") for n in range(3)]
    waiting = app.enqueue("charge", {"order": 9}, key="cust-0")
    kill(app, dead, f"card declined (sent {SECRET})")  # a failure that echoed the secret
    token = app.ops.tokens.create("admin")
    with running(app) as base:
        yield Dash(app, base, token, dead, waiting)


def kill(app: Conveyor, ids: list[int], message: str) -> None:
    """End these jobs' one attempt dead, as a worker would (without starting one: faster)."""
    claimed = [job for job in app.store.claim("test", None, 100, 30.0) if job.id in ids]
    error = {"attempt": 1, "type": "RuntimeError", "message": message, "traceback": "..."}
    app.store.complete(
        [Outcome(job.id, job.token, "dead", key=job.key, error=error) for job in claimed]
    )
    assert set(app.ops.states(ids).values()) == {"dead"}


def post_routes() -> list[str]:
    """Every POST route of the dashboard but the login form: one added later is checked too."""
    schema = dashboard_app(Conveyor("sqlite:///:memory:")).openapi()
    paths = [path for path, operations in schema["paths"].items() if "post" in operations]
    return [path for path in paths if path != "/login"]


def pages_redirect_to_the_login_form_without_a_session(dash: Dash) -> None:
    client = Client(dash.base)
    for path in [*PAGES, "/events"]:
        answer = client.get("/dashboard" + path)
        assert answer.status == 303, path
        assert answer.location.startswith("/dashboard/login?next=%2Fdashboard"), path
    deep = client.get("/dashboard/jobs?state=dead&task=charge")  # a link in the weekly digest
    assert (
        deep.location == "/dashboard/login?next=%2Fdashboard%2Fjobs%3Fstate%3Ddead%26task%3Dcharge"
    )
    landed = client.login(dash.token, next="/dashboard/jobs?state=dead&task=charge")
    assert landed.location == "/dashboard/jobs?state=dead&task=charge"
    client.jar.clear()
    forged = Client(dash.base)
    forged.opener.addheaders = [("Cookie", "conveyor_session=YWRtaW4.1.forged")]
    assert forged.get("/dashboard/").status == 303


def login_sets_a_safe_cookie_and_logout_ends_the_session(dash: Dash) -> None:
    client = Client(dash.base)
    refused = client.login("cvr_wrong")
    assert refused.status == 401 and "Unknown or revoked token" in refused.text
    assert client.cookie() is None
    answer = client.login(dash.token, next="/dashboard/dead")
    assert (answer.status, answer.location) == (303, "/dashboard/dead")
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/dashboard/" in cookie
    assert dash.token not in answer.headers["set-cookie"]  # the cookie never carries the token
    away = client.login(dash.token, next="//evil.example/")
    assert away.location == "/dashboard/"
    page = client.get("/dashboard/")
    assert page.status == 200 and "admin" in page.text
    assert page.headers["x-frame-options"] == "DENY"  # its buttons cannot be framed elsewhere
    assert page.headers["cache-control"] == "no-store"
    assert client.post("/dashboard/logout", {"csrf": page.csrf()}).status == 303
    assert client.get("/dashboard/").status == 303


def revoking_the_token_ends_its_sessions(dash: Dash) -> None:
    client = dash.client()
    assert client.get("/dashboard/").status == 200
    dash.app.ops.tokens.revoke("admin")
    assert client.get("/dashboard/").status == 303
    dash.app.ops.tokens.create("admin")  # the same name again: a new token, not the old session
    assert client.get("/dashboard/").status == 303


def observable(app: Conveyor) -> Any:
    jobs = {job.id: (job.state, job.payload) for job in app.ops.list_jobs(limit=1000)}
    return jobs, [(h.name, h.kind) for h in app.ops.holds()]


def test_every_post_is_refused_without_the_sessions_csrf_token(dash: Dash) -> None:
    routes = post_routes()
    assert len(routes) >= 10, routes
    client = dash.client()
    other = dash.client()  # another session's token is a wrong one too
    wrong_token = other.get("/dashboard/").csrf()
    assert wrong_token != client.get("/dashboard/").csrf()
    before = observable(dash.app)
    stranger = Client(dash.base)
    fields = {
        "ids": [str(i) for i in dash.dead],
        "action": "retry",
        "task": "charge",
        "error_class": "RuntimeError",
        "payload": "{}",
        "edit": "1",
    }
    for route in routes:
        path = "/dashboard" + route.replace("{job_id}", str(dash.dead[0])).replace("{name}", "shop")
        for sent in ({}, {"csrf": "wrong"}, {"csrf": wrong_token}):
            answer = client.post(path, {**fields, **sent})
            assert answer.status == 403, (route, sent, answer.status)
            assert "CSRF" in answer.text
        assert stranger.post(path, {**fields, "csrf": wrong_token}).status == 403, route
    assert observable(dash.app) == before
    assert client.get("/dashboard/").status == 200  # the session itself is still good


def every_page_renders_and_no_secret_reaches_one(dash: Dash) -> None:
    client = dash.client()
    csrf = client.get("/dashboard/").csrf()
    dash.app.pause_connection("shop", f"held (key {SECRET})")
    run = dash.app.store.open_run("workflows", "acme", "full", None)
    dash.app.store.finish_run(
        run.id,
        "workflows",
        "acme",
        state="failed",
        stats={"created": 3, "updated": 1},
        errors=[{"message": f"HTTP 500 (sent {SECRET})"}],
        cursor=None,
        delete_unseen=False,
    )
    pages = {path: client.get("/dashboard" + path) for path in PAGES}
    for path, answer in pages.items():
        assert answer.status == 200, (path, answer.text[:500])
        assert SECRET not in answer.text, path
    assert "card declined (sent ***)" in pages["/jobs/1"].text
    assert "token=***" in pages["/connections"].text
    if hasattr(dash.app.ops, "batches"):  # the batches area, where it is merged
        assert "No batch." in pages["/batches"].text
        batch = dash.app.batch([("charge", {"order": 1}), ("charge", {"order": 2})], name="q3")
        shown = client.get("/dashboard/batches").text
        its_jobs = f'<a href="/dashboard/jobs?batch_id={batch.id}" title="its jobs">{batch.id}</a>'
        assert "q3" in shown and its_jobs in shown and 'class="progress"' in shown
    else:
        assert "no batches yet" in pages["/batches"].text
    assert "nightly" in pages["/schedules"].text
    assert "workflows" in pages["/sync"].text and "HTTP 500 (sent ***)" in pages["/sync"].text
    assert re.search(r"charge\s*</span>.*RuntimeError", pages["/dead"].text, re.S)
    assert "cust-0" in pages["/blocked"].text
    tested = client.post("/dashboard/connections/shop/test", {"csrf": csrf})
    assert tested.status == 200 and "connection failed" in tested.text
    assert SECRET not in tested.text
    assert client.get("/dashboard/jobs/999999").status == 404
    assert client.get("/dashboard/jobs?state=lost").status == 400
    for odd in ("/jobs?task=%00", "/jobs?error=a%00", "/sync?source=%00", "/dead?since=99-99"):
        assert client.get("/dashboard" + odd).status == 200, odd  # PostgreSQL refuses a NUL


def jobs_are_filtered_and_paged_by_keyset(dash: Dash) -> None:
    client = dash.client()
    ids = [
        dash.app.enqueue("charge", {"order": 100 + n}, delay=3600, queue="paged") for n in range(55)
    ]
    first = client.get("/dashboard/jobs?state=queued&queue=paged")
    shown = [int(i) for i in re.findall(r'data-job="(\d+)"', first.text)]
    assert shown == sorted(ids, reverse=True)[:50]
    older = re.search(r'href="([^"]+before=\d+)"', first.text)
    assert older
    second = client.get(older.group(1).replace("&amp;", "&"))
    assert [int(i) for i in re.findall(r'data-job="(\d+)"', second.text)] == sorted(ids)[:5][::-1]
    found = client.get("/dashboard/jobs?error=DECLINED")
    assert sorted(set(int(i) for i in re.findall(r'data-job="(\d+)"', found.text))) == dash.dead


def retry_cancel_delete_one_job(dash: Dash) -> None:
    client = dash.client()
    csrf = client.get("/dashboard/").csrf()
    one, two, three = dash.dead
    bad = client.post(f"/dashboard/jobs/{one}/retry", {"csrf": csrf, "edit": "1", "payload": "{"})
    assert "not+JSON" in bad.location and dash.app.get_job(one).state == "dead"
    wrong = {"csrf": csrf, "edit": "1", "payload": '{"order": "forty"}'}
    refused = client.post(f"/dashboard/jobs/{one}/retry", wrong)  # its task's schema says no
    assert "nothing+retried" in refused.location and dash.app.get_job(one).state == "dead"
    edited = {"csrf": csrf, "edit": "1", "payload": '{"order": 41}'}
    done = client.post(f"/dashboard/jobs/{one}/retry", edited)
    assert done.status == 303 and done.location.startswith(f"/dashboard/jobs/{one}?note=Job")
    job = dash.app.get_job(one)
    assert (job.state, job.payload) == ("queued", {"order": 41})
    again = client.post(f"/dashboard/jobs/{one}/retry", {"csrf": csrf})
    assert "only+dead+or+retrying" in again.location
    assert client.post(f"/dashboard/jobs/{two}/cancel", {"csrf": csrf}).status == 303
    assert dash.app.get_job(two).state == "cancelled"
    gone = client.post(f"/dashboard/jobs/{three}/delete", {"csrf": csrf})
    assert gone.location.startswith("/dashboard/jobs?note=Job")
    assert dash.app.ops.states([three]) == {}
    assert client.post("/dashboard/jobs/999999/retry", {"csrf": csrf}).status == 303


def test_bulk_and_group_actions(dash: Dash) -> None:
    client = dash.client()
    csrf = client.get("/dashboard/").csrf()
    one, two, three = dash.dead
    ticked = client.post(
        "/dashboard/dead/selected", {"csrf": csrf, "action": "cancel", "ids": [str(one)]}
    )
    assert "1+job+cancelled" in ticked.location
    later = {"csrf": csrf, "action": "retry", "task": "charge", "error_class": "RuntimeError"}
    none = client.post("/dashboard/dead/group", {**later, "since": "2999-01-01T00:00"})
    assert "0+dead+charge+jobs+retried" in none.location
    assert dash.app.ops.states([two, three]) == {two: "dead", three: "dead"}
    group = client.post("/dashboard/dead/group", {**later, "since": "2000-01-01T00:00"})
    assert "2+dead+charge+jobs+retried" in group.location
    assert dash.app.ops.states([two, three]) == {two: "queued", three: "queued"}
    extra = [dash.app.enqueue("charge", {"order": n}, delay=3600) for n in range(3)]
    matching = {"csrf": csrf, "action": "cancel-matching", "state": "queued", "task": "charge"}
    answer = client.post("/dashboard/jobs/bulk", matching)
    assert "jobs+cancelled" in answer.location
    assert set(dash.app.ops.states(extra).values()) == {"cancelled"}
    unfiltered = client.post("/dashboard/jobs/bulk", {"csrf": csrf, "action": "retry-matching"})
    assert "Choose+a+filter" in unfiltered.location


def test_dead_groups_split_and_filter_by_connection(dash: Dash) -> None:
    @dash.app.task(max_attempts=1, connection=lambda payload: payload["via"])
    def push(payload: dict[str, str]) -> None: ...

    shop = [dash.app.enqueue("push", {"via": "shop", "n": str(n)}) for n in range(2)]
    erp = dash.app.enqueue("push", {"via": "erp"})
    kill(dash.app, [*shop, erp], "HTTP 503")
    client = dash.client()
    shown = client.get("/dashboard/dead").text
    heads = re.findall(r'<h2><span class="mono">(\w+)</span> · <span class="mono connection">'
                       r'([^<]+)</span> · <span class="err">(\w+)', shown)  # fmt: skip
    assert sorted(heads) == [
        ("charge", "(no connection)", "RuntimeError"),
        ("push", "erp", "RuntimeError"),
        ("push", "shop", "RuntimeError"),
    ]
    only = client.get("/dashboard/dead?connection=erp").text
    assert f'/jobs/{erp}"' in only
    assert "charge" not in re.sub(r"<option[^>]*>[^<]*</option>", "", only.split("</form>", 1)[1])
    assert f'/jobs/{shop[0]}"' not in only and 'name="connection" value="erp"' in only
    csrf = client.get("/dashboard/").csrf()
    group = {"csrf": csrf, "action": "cancel", "task": "push", "error_class": "RuntimeError"}
    done = client.post("/dashboard/dead/group", {**group, "connection": "shop"})
    assert "2+dead+push+%28shop%29+jobs+cancelled" in done.location
    assert dash.app.ops.states([*shop, erp]) == {shop[0]: "cancelled", shop[1]: "cancelled",
                                                  erp: "dead"}  # fmt: skip
    none = client.post("/dashboard/dead/group", {**group, "connection": ""})  # push without one
    assert "0+dead+push+jobs+cancelled" in none.location
    assert dash.app.ops.states([erp]) == {erp: "dead"}
    listed = client.get("/dashboard/jobs?state=dead&connection=erp").text
    assert sorted(set(int(i) for i in re.findall(r'data-job="(\d+)"', listed))) == [erp]


def test_the_dead_page_shows_the_largest_groups_and_says_there_are_more(dash: Dash) -> None:
    @dash.app.task(max_attempts=1, connection=lambda payload: payload["via"])
    def push(payload: dict[str, str]) -> None: ...

    ids = [dash.app.enqueue("push", {"via": f"c{n:02d}"}) for n in range(GROUPS)]
    kill(dash.app, ids, "HTTP 503")  # with charge's group: one more than the page shows
    shown = dash.client().get("/dashboard/dead").text
    assert shown.count('<section class="card group">') == GROUPS
    assert "there are others: narrow by connection or time" in shown
    assert "charge" in shown  # the largest group (3 dead jobs) is among them
    fewer = dash.client().get("/dashboard/dead?connection=c07").text
    assert fewer.count('<section class="card group">') == 1 and "there are others" not in fewer


def test_a_connection_s_groups_come_from_the_shared_read_only_when_it_surely_holds_them(
    dash: Dash,
) -> None:
    """The contract of the dead page's shortcut: what it takes from the shared (largest first,
    cut) read is what the store's filtered read answers; where the cut may hide a group, None."""

    @dash.app.task(max_attempts=1, connection=lambda payload: payload["via"])
    def push(payload: dict[str, str]) -> None: ...

    @dash.app.task(max_attempts=1, connection=lambda payload: payload["via"])
    def pull(payload: dict[str, str]) -> None: ...

    made = [("push", "a")] * 3 + [("pull", "a")] * 2 + [("push", "b"), ("pull", "c")]
    kill(dash.app, [dash.app.enqueue(task, {"via": via}) for task, via in made], "HTTP 503")
    ops = dash.app.ops
    full = ops.dead_groups(None, 1000)  # charge (3, no connection), push a 3, pull a 2, b 1, c 1
    assert [(g.task, g.connection, g.count) for g in full[:3]] == [
        ("charge", None, 3), ("push", "a", 3), ("pull", "a", 2)]  # fmt: skip
    for cut in (len(full) + 1, 3):  # the shared read whole, then cut after three groups
        shared = full[:cut]
        for connection in ("a", "b", "c", "none-such"):
            got = connection_groups(shared, connection, page=1, cut=cut)
            if got is not None:
                assert got == ops.dead_groups(None, 2, connection)
            assert (got is None) == (cut == 3 and connection != "a")


def test_the_blocked_page_shows_a_page_of_keys_and_links_the_next(dash: Dash) -> None:
    more = [dash.app.enqueue("charge", {"order": n}, key=f"more-{n}") for n in range(BLOCKED_PAGE)]
    kill(dash.app, more, "declined")  # with the 3 of the fixture: one page and 3 more
    client = dash.client()
    first = client.get("/dashboard/blocked").text
    assert first.count('<section class="card">') == BLOCKED_PAGE and "cust-0" in first
    later = re.search(r'href="(/dashboard/blocked\?after=\d+)" rel="next"', first)
    assert later
    second = client.get(later.group(1)).text
    assert second.count('<section class="card">') == 3 and "cust-0" not in second
    assert 'rel="next"' not in second and 'href="/dashboard/blocked">first' in second
    assert "No blocked key after these" in client.get("/dashboard/blocked?after=99999999").text


def pause_and_resume_a_connection(dash: Dash) -> None:
    client = dash.client()
    csrf = client.get("/dashboard/").csrf()
    paused = client.post("/dashboard/connections/shop/pause", {"csrf": csrf, "reason": "deploy"})
    assert "shop+paused" in paused.location
    [hold] = dash.app.ops.holds()
    assert (hold.name, hold.kind) == ("shop", "paused") and "deploy" in hold.reason
    assert client.post("/dashboard/connections/shop/resume", {"csrf": csrf}).status == 303
    assert dash.app.ops.holds() == []
    unknown = client.post("/dashboard/connections/nope/pause", {"csrf": csrf})
    assert unknown.status == 404


def events(client: Client, path: str) -> Iterator[dict[str, Any]]:
    """The stream's events as they come: each one's JSON data, with its name as `event`."""
    request = urllib.request.Request(client.base + path)
    with client.opener.open(request, timeout=10) as stream:
        event = ""
        for raw in stream:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:") and event:
                data: dict[str, Any] = json.loads(line.partition(":")[2])
                data["event"] = event
                yield data


def first_event(client: Client, path: str) -> dict[str, Any]:
    for data in events(client, path):
        return data
    raise AssertionError("the stream ended without an event")


def the_live_stream_carries_counts_and_the_watched_jobs_states(dash: Dash) -> None:
    client = dash.client()
    one = dash.dead[0]
    update = first_event(client, f"/dashboard/events?ids={one},{dash.waiting},x,999999")
    assert update["event"] == "update"
    assert update["jobs"] == {str(one): "dead", str(dash.waiting): "waiting"}
    assert update["totals"]["dead"] == 3 and update["counts"]["default"]["waiting"] == 1
    dash.app.retry_jobs([one])
    assert first_event(client, f"/dashboard/events?ids={one}")["jobs"] == {str(one): "queued"}


def revoking_the_token_ends_an_open_stream(dash: Dash) -> None:
    stream = events(dash.client(), "/dashboard/events")
    assert next(stream)["event"] == "update"
    dash.app.ops.tokens.revoke("admin")
    assert next(stream)["event"] == "logout"
    assert next(stream, None) is None  # and the stream ends


# One server per test is most of a test's time: the checks that do not disturb each other share
# one, in an order where each leaves what the next needs.


def test_login_logout_and_revocation(dash: Dash) -> None:
    pages_redirect_to_the_login_form_without_a_session(dash)
    login_sets_a_safe_cookie_and_logout_ends_the_session(dash)
    the_login_form_is_refused_from_another_site(dash)
    revoking_the_token_ends_its_sessions(dash)  # last: it replaces the token


def the_login_form_is_refused_from_another_site(dash: Dash) -> None:
    """Login CSRF: another site posting a token of its own (here a valid one) must not log the
    operator in. The form's token is the pre-session cookie's, which that site cannot send."""
    victim = Client(dash.base)
    for fields in (
        {"token": dash.token},  # no login token at all
        {"token": dash.token, "csrf": ""},
        {"token": dash.token, "csrf": Client(dash.base).get("/dashboard/login").csrf()},
    ):
        forged = victim.post("/dashboard/login", {**fields, "next": "/dashboard/dead"})
        assert forged.status == 403 and "sent from another site" in forged.text, forged.text
        assert victim.cookie() is None and "set-cookie" in forged.headers  # a fresh form
        assert 'name="next" value="/dashboard/dead"' in forged.text
        assert victim.get("/dashboard/").status == 303  # still not logged in
    form = victim.get("/dashboard/login")
    cookie = form.headers["set-cookie"].lower()
    assert cookie.startswith("conveyor_login=") and "httponly" in cookie
    assert "samesite=strict" in cookie and "path=/dashboard/login" in cookie
    other = Client(dash.base).get("/dashboard/login").csrf()  # another form's token
    for sent in (other, form.csrf() + "x", "é" * 10):
        answer = victim.post("/dashboard/login", {"token": dash.token, "csrf": sent})
        assert answer.status == 403 and victim.cookie() is None, sent
    fresh = victim.get("/dashboard/login")
    answer = victim.post("/dashboard/login", {"token": dash.token, "csrf": fresh.csrf()})
    assert answer.status == 303 and victim.cookie() is not None
    assert "conveyor_login" not in {c.name for c in victim.jar}  # spent with the login
    page = victim.get("/dashboard/")
    assert victim.post("/dashboard/logout", {"csrf": "é"}).status == 403  # not a 500
    assert victim.get("/dashboard/").status == 200 and page.status == 200


def test_pages_render_without_secrets_and_list_by_keyset(dash: Dash) -> None:
    every_page_renders_and_no_secret_reaches_one(dash)
    jobs_are_filtered_and_paged_by_keyset(dash)


def test_actions_on_one_job_and_on_a_connection(dash: Dash) -> None:
    retry_cancel_delete_one_job(dash)
    pause_and_resume_a_connection(dash)


def test_the_live_stream(dash: Dash) -> None:
    the_live_stream_carries_counts_and_the_watched_jobs_states(dash)
    revoking_the_token_ends_an_open_stream(dash)
