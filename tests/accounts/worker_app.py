"""A worker process of the single-flight test: `python worker_app.py <database url> <provider
url> <sync folder>`. Its task waits at a start line (the file `<sync>/go`) after saying it is
ready, so every job of every process asks for the owner's token at once."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from conveyor import Conveyor, OAuth2AuthorizationCode
from conveyor.connections import current_remote


def make_app(url: str, provider: str, sync: Path) -> Conveyor:
    app = Conveyor(url)
    auth = OAuth2AuthorizationCode(
        authorize_url=f"{provider}/authorize",
        token_url=f"{provider}/token",
        client_id="conveyor-app",
        client_secret="app-secret",
    )
    app.connection("bank", f"{provider}/api/", auth=auth, breaker=False)

    @app.task(max_attempts=1)
    async def balance(payload: dict[str, object]) -> dict[str, object]:
        (sync / f"ready-{os.getpid()}-{payload['n']}").touch()
        while not (sync / "go").exists():
            await asyncio.sleep(0.01)
        response = await current_remote().request("bank", "GET", "/me", owner="alice")
        return {"user": response.json()["user"], "pid": os.getpid()}

    return app


def main() -> int:
    url, provider, sync = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    app = make_app(url, provider, sync)
    app.run_worker(concurrency=4, burst=True, install_signal_handlers=False, poll_interval=0.05)
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
