"""The app the webhook-intake benchmark serves (`conveyor --app bench.webhook_app:app serve`),
and the bare FastAPI endpoint it is measured against (`python -m bench.webhook_app PORT`)."""

from __future__ import annotations

import asyncio
import base64
import sys

from conveyor import Conveyor, StandardWebhooks

SECRET = "whsec_" + base64.b64encode(b"the webhook benchmark's secret!!").decode()

app = Conveyor()  # CONVEYOR_DATABASE_URL


@app.task
def process_item(payload: dict) -> None: ...


app.webhook("bench", verify=StandardWebhooks(SECRET), split="$.data", task="process_item")


def bare(port: int) -> None:
    """A FastAPI endpoint answering 202 and storing nothing, under the uvicorn settings of
    `conveyor serve` (the same `server_for` and `run_server`)."""
    from fastapi import FastAPI, Response

    from conveyor.web.serve import bind, run_server, server_for

    web = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @web.post("/hooks/{name}")
    async def receive(name: str) -> Response:
        return Response(b'{"ok":true}', 202, media_type="application/json")

    sock = bind("127.0.0.1", port)
    asyncio.run(run_server(server_for(web), sock))


if __name__ == "__main__":
    bare(int(sys.argv[1]))
