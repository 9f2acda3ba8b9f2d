"""The HTTP side of Conveyor (FastAPI, the `web` extra): `create_app(conveyor_app)` is an ASGI app.

    app.py     create_app: the routers composed, errors as JSON `{"error": "..."}`
    hooks.py   POST /hooks/{name}: inbound webhooks (body read with a size cap, stored in a thread)
    serve.py   `conveyor serve`: uvicorn and, unless --no-worker, a worker on the same event loop

Routes call the app's registries and operator service, never the store. Importing this package
needs FastAPI; `import conveyor` does not (the CLI imports this lazily).
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
