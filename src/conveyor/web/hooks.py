"""`POST /hooks/{name}`: inbound webhooks, over the app's webhook registry.

The body is read with the webhook's size cap before anything else: a `Content-Length` over it is
answered 413 without reading a byte, and a body sent without one (chunked) or with a lying one is
cut off as soon as it passes the cap, so a sender cannot make the server hold more than the cap
in memory. The registry (signature, JSON, split, the event and its jobs in one transaction) runs
in a worker thread, for the requests that arrived together at once (`batching.py`: one commit
for many): the store is synchronous and the event loop never waits on the database.

Answers: 202 `{"event_id", "jobs": [ids], "ignored"}` stored; 200 with `"duplicate": true` for an
event id already stored (nothing new); otherwise the status of the `WebhookRejected` with
`{"error"}`, or 503 when the store cannot be reached (the sender retries later).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..errors import StoreError, WebhookRejected
from ..inbound import WebhookRegistry
from .batching import IntakeBatcher


def hooks_router(webhooks: WebhookRegistry) -> APIRouter:
    router = APIRouter()
    intake = IntakeBatcher(webhooks)

    async def receive(request: Request) -> Response:
        name = request.path_params["name"]
        hook = webhooks.get(name)
        try:
            if hook is None:
                raise WebhookRejected(404, f"no webhook named {name!r}")
            body = await read_capped(request, hook.max_body)
            headers = raw_headers(request)
            receipt = await intake.receive(name, headers, body)
        except WebhookRejected as error:
            if error.status in (404, 413):  # refused here, before the registry saw it
                webhooks.refused(name, error)
            return JSONResponse({"error": str(error)}, error.status)
        except StoreError:
            return JSONResponse({"error": "the store is unavailable; try again later"}, 503)
        document = {"event_id": receipt.event_id, "jobs": receipt.job_ids}
        if receipt.duplicate:
            return JSONResponse({**document, "duplicate": True}, 200)
        return JSONResponse({**document, "ignored": receipt.ignored}, 202)

    # A plain Starlette route: the body is read by hand (capped), so FastAPI has nothing to
    # validate or document.
    router.add_route("/hooks/{name}", receive, methods=["POST"], include_in_schema=False)
    return router


def raw_headers(request: Request) -> Mapping[str, str]:
    """Lower-case names (ASGI sends them so); the last of a repeated header wins."""
    return {
        name.decode("latin-1"): value.decode("latin-1") for name, value in request.scope["headers"]
    }


async def read_capped(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise WebhookRejected(400, "Content-Length is not a number") from None
        if length > cap:
            raise WebhookRejected(413, f"the body is over {cap} bytes ({length} declared)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise WebhookRejected(413, f"the body is over {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
