"""POST /hooks/<name> on a real uvicorn server, both backends: requests signed by the
independent `standardwebhooks` package, good and bad, and what the store holds after each."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from standardwebhooks import Webhook as Signer

from conveyor import Conveyor
from tests.inbound.test_verify import SECRET

from .conftest import SMALL_CAP

ITEMS = [
    {"type": "workout", "id": "w1", "minutes": 30},
    {"type": "metric", "id": "m1", "name": "heart_rate", "value": 61},
    {"type": "metric", "id": "m2", "name": "steps", "value": 9000},
    {"type": "sleep", "id": "s1"},  # no route: kept in the event, no job
]


def sign(body: bytes, msg_id: str = "msg_1", at: float | None = None) -> dict[str, str]:
    when = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Signer(SECRET).sign(msg_id, when, body.decode()),
        "content-type": "application/json",
    }


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def jobs(app: Conveyor) -> list:
    return app.list_jobs(limit=1000)


BODY = json.dumps({"data": ITEMS}).encode()


def test_a_signed_event_is_stored_and_split_into_jobs(hooked: Conveyor, base_url: str) -> None:
    status, answer = post(f"{base_url}/hooks/health", BODY, sign(BODY))
    assert status == 202
    assert answer["event_id"] == "msg_1" and answer["ignored"] == 1 and len(answer["jobs"]) == 3
    stored = {job.id: (job.task, job.payload) for job in jobs(hooked)}
    assert sorted(stored.values(), key=lambda x: x[1]["id"]) == [
        ("process_metric", ITEMS[1]),
        ("process_metric", ITEMS[2]),
        ("process_workout", ITEMS[0]),
    ]
    assert sorted(stored) == sorted(answer["jobs"])
    event = hooked.store.get_event("health", "msg_1")
    assert event is not None and event.body == BODY and event.job_ids == answer["jobs"]
    assert event.headers["webhook-id"] == "msg_1" and "webhook-signature" not in event.headers


def test_a_replay_is_200_and_makes_no_jobs(hooked: Conveyor, base_url: str) -> None:
    _, first = post(f"{base_url}/hooks/health", BODY, sign(BODY))
    status, answer = post(f"{base_url}/hooks/health", BODY, sign(BODY))
    assert status == 200
    assert answer == {"event_id": "msg_1", "jobs": first["jobs"], "duplicate": True}
    assert len(jobs(hooked)) == 3
    assert len(hooked.store.list_events()) == 1


def _nothing_stored(app: Conveyor) -> None:
    assert jobs(app) == []
    assert app.store.list_events() == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h: {**h, "webhook-signature": "v1,AAAA"}, "does not match"),
        (lambda h: {k: v for k, v in h.items() if k != "webhook-signature"}, "missing"),
        (lambda h: {k: v for k, v in h.items() if k != "webhook-timestamp"}, "missing"),
        (lambda h: {k: v for k, v in h.items() if k != "webhook-id"}, "missing"),
        (lambda h: {**h, "webhook-id": "msg_2"}, "does not match"),
    ],
    ids=["bad-signature", "no-signature", "no-timestamp", "no-id", "other-id"],
)
def test_a_bad_or_missing_signature_is_401_and_stores_nothing(
    hooked: Conveyor, base_url: str, change: object, reason: str
) -> None:
    status, answer = post(f"{base_url}/hooks/health", BODY, change(sign(BODY)))  # type: ignore[operator]
    assert status == 401 and reason in answer["error"]
    _nothing_stored(hooked)


@pytest.mark.parametrize("offset", [-301, 301, -7200], ids=["old", "future", "hours-old"])
def test_a_stale_timestamp_is_401(hooked: Conveyor, base_url: str, offset: int) -> None:
    headers = sign(BODY, at=time.time() + offset)
    status, answer = post(f"{base_url}/hooks/health", BODY, headers)
    assert status == 401 and "more than 300 s off" in answer["error"]
    _nothing_stored(hooked)


def test_malformed_json_is_400(hooked: Conveyor, base_url: str) -> None:
    body = b'{"data": [1, 2'
    status, answer = post(f"{base_url}/hooks/health", body, sign(body))
    assert status == 400 and "not JSON" in answer["error"]
    _nothing_stored(hooked)


def test_an_event_that_does_not_split_is_422(hooked: Conveyor, base_url: str) -> None:
    body = json.dumps({"data": {"type": "workout"}}).encode()
    status, answer = post(f"{base_url}/hooks/health", body, sign(body))
    assert status == 422 and "not a list" in answer["error"]
    _nothing_stored(hooked)


def test_an_unknown_webhook_is_404(hooked: Conveyor, base_url: str) -> None:
    status, answer = post(f"{base_url}/hooks/nobody", BODY, sign(BODY))
    assert status == 404 and answer == {"error": "no webhook named 'nobody'"}
    status, answer = post(f"{base_url}/elsewhere", BODY, sign(BODY))
    assert status == 404 and "error" in answer


def test_a_body_over_the_cap_is_413(hooked: Conveyor, base_url: str) -> None:
    body = json.dumps({"pad": "x" * SMALL_CAP}).encode()
    status, answer = post(f"{base_url}/hooks/small", body, sign(body))
    assert status == 413 and f"over {SMALL_CAP} bytes" in answer["error"]
    _nothing_stored(hooked)
    fits = json.dumps({"pad": "x" * (SMALL_CAP - 20)}).encode()
    assert post(f"{base_url}/hooks/small", fits, sign(fits))[0] == 202


def _connection(base_url: str) -> http.client.HTTPConnection:
    parts = urlsplit(base_url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)


def test_a_declared_length_over_the_cap_is_refused_before_the_body(
    hooked: Conveyor, base_url: str
) -> None:
    """Only the headers are sent: an answer proves the server never waited for the body."""
    conn = _connection(base_url)
    try:
        conn.putrequest("POST", "/hooks/health")
        for name, value in sign(b"{}").items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(50 * 1024 * 1024))
        conn.endheaders()
        response = conn.getresponse()
        assert (
            response.status == 413 and "52428800 declared" in json.loads(response.read())["error"]
        )
    finally:
        conn.close()
    _nothing_stored(hooked)


def test_a_chunked_body_over_the_cap_is_cut_off(hooked: Conveyor, base_url: str) -> None:
    """No Content-Length (chunked), and the body never ends: an answer proves the server
    stopped reading once past the cap instead of waiting for the rest."""
    conn = _connection(base_url)
    try:
        conn.putrequest("POST", "/hooks/small")
        for name, value in sign(b"{}").items():
            conn.putheader(name, value)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        chunk = b"x" * 1500
        for _ in range(2):  # 3,000 bytes sent, over the 2,000 cap, and no final chunk
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        response = conn.getresponse()
        assert response.status == 413 and "over 2000 bytes" in json.loads(response.read())["error"]
    finally:
        conn.close()
    _nothing_stored(hooked)


def test_a_chunked_body_under_the_cap_is_accepted(hooked: Conveyor, base_url: str) -> None:
    conn = _connection(base_url)
    try:
        conn.request("POST", "/hooks/health", body=iter([BODY[:10], BODY[10:]]), headers=sign(BODY))
        response = conn.getresponse()
        assert response.status == 202, response.read()
    finally:
        conn.close()
    assert len(jobs(hooked)) == 3


def test_split_into_n_jobs(hooked: Conveyor, base_url: str) -> None:
    items = [{"type": "metric", "n": n} for n in range(50)]
    body = json.dumps({"data": items}).encode()
    status, answer = post(f"{base_url}/hooks/health", body, sign(body, "msg_many"))
    assert status == 202 and len(answer["jobs"]) == 50
    assert sorted(job.payload["n"] for job in hooked.list_jobs(limit=100)) == list(range(50))


def test_the_jobs_run(hooked: Conveyor, base_url: str) -> None:
    assert post(f"{base_url}/hooks/health", BODY, sign(BODY))[0] == 202
    hooked.run_worker(burst=True, install_signal_handlers=False)
    assert {job.state for job in jobs(hooked)} == {"succeeded"}


def test_requests_at_once_each_get_their_own_answer(hooked: Conveyor, base_url: str) -> None:
    """Requests arriving together are stored in one transaction (group commit), and each is
    still answered for itself: distinct events 202, a repeated id once 202 and then 200, a bad
    signature 401."""
    bodies = [json.dumps({"data": [{"type": "metric", "n": n}]}).encode() for n in range(30)]
    requests = [(body, sign(body, f"evt_{n}")) for n, body in enumerate(bodies)]
    requests += [(bodies[0], sign(bodies[0], "evt_0"))] * 5
    requests += [(bodies[1], {**sign(bodies[1], "evt_x"), "webhook-signature": "v1,AAAA"})]
    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(lambda r: post(f"{base_url}/hooks/health", *r), requests))
    statuses = [status for status, _ in answers]
    assert statuses[:30].count(202) + statuses[30:35].count(202) == 30
    assert sorted(statuses[:35]) == [200] * 5 + [202] * 30
    assert statuses[35] == 401
    first = {tuple(a["jobs"]) for s, a in answers[:35] if a["event_id"] == "evt_0"}
    assert len(first) == 1  # every delivery of evt_0 names the same job
    assert len(jobs(hooked)) == 30
    assert len(hooked.store.list_events(limit=100)) == 30
