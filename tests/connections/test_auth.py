"""Auth kinds and request signing, checked on the receiving side of a real HTTP server."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from conveyor import ApiKey, Basic, Bearer, Conveyor, OAuth2ClientCredentials
from tests.connections.conftest import Drain, sqlite_only
from tests.http_sink import Response, Sink

# Headers, tokens and signatures: nothing here depends on the backend.
pytestmark = sqlite_only

RetryIn = Callable[[float], None]
TOKEN_PATH = "/oauth/token"


def basic_credentials(header: str) -> str:
    scheme, _, encoded = header.partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(encoded).decode()


# -- static credentials -------------------------------------------------------------------------


def test_bearer_token_from_the_environment(
    app: Conveyor, sink: Sink, drain: Drain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_TEST_SHOP_TOKEN", "tok-from-env-81f3")
    app.connection("shop", sink.url, auth=Bearer("env:CONVEYOR_TEST_SHOP_TOKEN"))
    job_id = app.deliver("shop", "/contacts", {"a": 1})
    drain(app)
    assert sink.requests[0].headers["Authorization"] == "Bearer tok-from-env-81f3"
    assert app.get_job(job_id).state == "succeeded"


def test_the_environment_is_read_when_the_request_is_built(
    app: Conveyor, sink: Sink, drain: Drain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rotated secret is picked up without redeclaring the connection."""
    app.connection("shop", sink.url, auth=Bearer("env:CONVEYOR_TEST_SHOP_TOKEN"))
    for value in ("first-token", "rotated-token"):
        monkeypatch.setenv("CONVEYOR_TEST_SHOP_TOKEN", value)
        app.deliver("shop", "/contacts", {"a": 1})
        drain(app)
    assert [r.headers["Authorization"] for r in sink.requests] == [
        "Bearer first-token",
        "Bearer rotated-token",
    ]


def test_basic_auth(app: Conveyor, sink: Sink, drain: Drain) -> None:
    app.connection("shop", sink.url, auth=Basic("shop-user", "pa:ss wörd"))
    app.deliver("shop", "/contacts", {"a": 1})
    drain(app)
    assert basic_credentials(sink.requests[0].headers["Authorization"]) == "shop-user:pa:ss wörd"


def test_api_key_in_a_custom_header(app: Conveyor, sink: Sink, drain: Drain) -> None:
    app.connection("shop", sink.url, auth=ApiKey("key-123", header="X-Shop-Key"))
    app.connection("other", sink.url, auth=ApiKey("key-456"))
    app.deliver("shop", "/a", {"a": 1})
    app.deliver("other", "/b", {"a": 1})
    drain(app)
    [a], [b] = sink.requests_to("/a"), sink.requests_to("/b")
    assert a.headers["X-Shop-Key"] == "key-123" and "Authorization" not in a.headers
    assert b.headers["X-API-Key"] == "key-456"


# -- OAuth2 client credentials ------------------------------------------------------------------


def oauth_connection(
    app: Conveyor,
    sink: Sink,
    *,
    secret: str = "s3cret",
    expires_in: int | None = 3600,
    **options: Any,
) -> OAuth2ClientCredentials:
    token_url = sink.oauth(
        TOKEN_PATH, client_id="shop", client_secret="s3cret", expires_in=expires_in, protect=["*"]
    )
    auth = OAuth2ClientCredentials(token_url, "shop", secret, **options)
    app.connection("shop", sink.url, auth=auth)
    return auth


def api_requests(sink: Sink) -> list[int]:
    return [r.status for r in sink.requests if r.path != TOKEN_PATH]


def test_one_token_for_many_concurrent_jobs(app: Conveyor, sink: Sink, drain: Drain) -> None:
    oauth_connection(app, sink, scope="contacts:write")
    sink.default("/contacts", Response(200, json={"ok": True}, delay=0.05))
    ids = [app.deliver("shop", "/contacts", {"n": n}) for n in range(20)]
    drain(app, concurrency=10)
    assert sink.tokens_issued == 1
    [token_request] = sink.requests_to(TOKEN_PATH)
    assert token_request.form == {"grant_type": "client_credentials", "scope": "contacts:write"}
    assert basic_credentials(token_request.headers["Authorization"]) == "shop:s3cret"
    contacts = sink.requests_to("/contacts")
    assert len(contacts) == 20
    assert {r.headers["Authorization"] for r in contacts} == {"Bearer tok-1"}
    assert {app.get_job(i).state for i in ids} == {"succeeded"}


def test_client_credentials_in_the_form(app: Conveyor, sink: Sink, drain: Drain) -> None:
    oauth_connection(app, sink, in_body=True)
    job_id = app.deliver("shop", "/contacts", {"a": 1})
    drain(app)
    [token_request] = sink.requests_to(TOKEN_PATH)
    assert "Authorization" not in token_request.headers
    assert token_request.form["client_secret"] == "s3cret"
    assert app.get_job(job_id).state == "succeeded"


def test_a_revoked_token_is_refreshed_once_and_the_request_resent(
    app: Conveyor, sink: Sink, drain: Drain
) -> None:
    oauth_connection(app, sink)
    first = app.deliver("shop", "/contacts", {"n": 1})
    drain(app)
    sink.expire_token()
    second = app.deliver("shop", "/contacts", {"n": 2})
    drain(app)
    assert sink.tokens_issued == 2
    contacts = sink.requests_to("/contacts")
    assert [(r.status, r.headers["Authorization"]) for r in contacts] == [
        (200, "Bearer tok-1"),
        (401, "Bearer tok-1"),
        (200, "Bearer tok-2"),
    ]
    assert len({r.headers["Idempotency-Key"] for r in contacts[1:]}) == 1
    for job_id in (first, second):
        job = app.get_job(job_id)
        assert (job.state, job.attempts, job.errors) == ("succeeded", 1, [])


def test_many_jobs_that_see_a_401_share_one_refresh(
    app: Conveyor, sink: Sink, drain: Drain
) -> None:
    oauth_connection(app, sink)
    app.run_now("conveyor.deliver", {"connection": "shop", "path": "/warm-up"})
    assert sink.tokens_issued == 1
    sink.expire_token()
    sink.default("/contacts", Response(200, delay=0.05))
    ids = [app.deliver("shop", "/contacts", {"n": n}) for n in range(10)]
    drain(app, concurrency=10)
    assert sink.tokens_issued == 2
    assert {app.get_job(i).attempts for i in ids} == {1}
    assert {app.get_job(i).state for i in ids} == {"succeeded"}
    contacts = sink.requests_to("/contacts")
    assert sum(r.status == 200 for r in contacts) == 10
    assert all(r.headers["Authorization"] == "Bearer tok-2" for r in contacts if r.status == 200)


def test_a_token_is_refreshed_before_it_expires(app: Conveyor, sink: Sink, drain: Drain) -> None:
    auth = oauth_connection(app, sink, expires_in=2, refresh_margin=1)
    app.deliver("shop", "/contacts", {"n": 1})
    app.deliver("shop", "/contacts", {"n": 2})
    drain(app, concurrency=1)
    assert sink.tokens_issued == 1  # fresh: reused
    issued = sink.requests_to(TOKEN_PATH)[0].received_monotonic
    time.sleep(max(0.0, issued + 1.1 - time.monotonic()))  # within the margin, not expired
    app.deliver("shop", "/contacts", {"n": 3})
    drain(app)
    assert time.monotonic() < issued + 2, "too slow to tell a refresh ahead from a 401"
    assert sink.tokens_issued == 2 and auth.fetches == 2
    assert api_requests(sink) == [200, 200, 200]  # refreshed ahead: never a 401
    assert sink.requests_to("/contacts")[-1].headers["Authorization"] == "Bearer tok-2"


def test_a_short_lived_token_is_still_reused(app: Conveyor, sink: Sink, drain: Drain) -> None:
    oauth_connection(app, sink, expires_in=20)
    for n in range(3):
        app.deliver("shop", "/contacts", {"n": n})
    drain(app, concurrency=1)
    assert len(sink.requests_to("/contacts")) == 3
    assert sink.tokens_issued == 1


def test_a_wrong_client_secret_kills_the_job_with_a_clear_message(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(0)
    oauth_connection(app, sink, secret="wrong-secret-9d2e")
    job_id = app.deliver("shop", "/contacts", {"a": 1})
    drain(app)
    job = app.get_job(job_id)
    assert (job.state, job.attempts) == ("dead", 1)
    assert "OAuth2 token endpoint refused the client credentials (401)" in (job.last_error or "")
    assert job.errors[-1]["status"] == 401
    assert "wrong-secret-9d2e" not in json.dumps(job.to_dict())
    assert "invalid_client" not in json.dumps(job.errors)  # the token response is withheld
    assert sink.requests_to("/contacts") == []
    assert sink.tokens_issued == 0


def test_a_failing_token_endpoint_is_retried(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(60)
    oauth_connection(app, sink)
    sink.script(TOKEN_PATH, [Response(503)])
    job_id = app.deliver("shop", "/contacts", {"a": 1})
    drain(app)
    job = app.get_job(job_id)
    assert (job.state, job.attempts) == ("retrying", 1)
    assert job.errors[-1]["status"] == 503 and "token endpoint" in (job.last_error or "")
    assert sink.requests_to("/contacts") == []


def test_a_token_response_without_access_token_is_permanent(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(0)
    oauth_connection(app, sink)
    sink.script(TOKEN_PATH, [Response(200, json={"token_type": "Bearer"})])
    job_id = app.deliver("shop", "/contacts", {"a": 1})
    drain(app)
    job = app.get_job(job_id)
    assert job.state == "dead" and "no access_token" in (job.last_error or "")


def test_a_401_that_survives_the_refresh_is_permanent(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    """The remote refuses even a fresh token: one refresh, then dead, not a refresh loop."""
    retry_in(0)
    oauth_connection(app, sink)
    sink.script("/contacts", [Response(401), Response(401), Response(401)])
    job_id = app.deliver("shop", "/contacts", {"a": 1})
    drain(app)
    job = app.get_job(job_id)
    assert (job.state, job.attempts) == ("dead", 1)
    assert len(sink.requests_to("/contacts")) == 2
    assert sink.tokens_issued == 2


# -- signing ------------------------------------------------------------------------------------

SIGNING_KEY = bytes(range(32))
SIGNING_SECRET = "whsec_" + base64.b64encode(SIGNING_KEY).decode()


def test_requests_carry_a_standard_webhooks_signature(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(0)
    app.connection("shop", sink.url, signing_secret=SIGNING_SECRET)
    sink.script("/events", [Response(500)])
    job_id = app.deliver("shop", "/events", {"type": "order.paid", "order": 7, "note": "ü"})
    drain(app)
    requests = sink.requests_to("/events")
    assert len(requests) == 2 and app.get_job(job_id).state == "succeeded"
    hook = Webhook(SIGNING_SECRET)
    for request in requests:  # every attempt is signed afresh
        headers = dict(request.headers)
        assert hook.verify(request.body, headers) == {
            "type": "order.paid",
            "order": 7,
            "note": "ü",
        }
        assert headers["webhook-id"] == request.headers["Idempotency-Key"]
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        tampered = request.body.replace(b"7", b"8")
        with pytest.raises(WebhookVerificationError):
            hook.verify(tampered, headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(base64.b64encode(b"another key").decode()).verify(request.body, headers)


def test_the_signing_secret_can_come_from_the_environment(
    app: Conveyor, sink: Sink, drain: Drain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_TEST_SIGNING_SECRET", SIGNING_SECRET)
    app.connection("shop", sink.url, signing_secret="env:CONVEYOR_TEST_SIGNING_SECRET")
    app.deliver("shop", "/events", [1, 2, 3])
    drain(app)
    [request] = sink.requests
    assert Webhook(SIGNING_SECRET).verify(request.body, dict(request.headers)) == [1, 2, 3]


def test_unsigned_without_a_secret(app: Conveyor, sink: Sink, drain: Drain) -> None:
    app.connection("shop", sink.url)
    app.deliver("shop", "/events", {"a": 1})
    drain(app)
    assert not any(h.lower().startswith("webhook-") for h in sink.requests[0].headers)
