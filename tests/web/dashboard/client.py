"""A small browser-like HTTP client for the dashboard tests: a cookie jar, forms posted as
`application/x-www-form-urlencoded`, redirects not followed (the tests look at them)."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Answer:
    status: int
    text: str
    headers: dict[str, str]

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    def csrf(self) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.text)
        assert found, "no CSRF field on the page"
        return found.group(1)


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def _send(self, request: urllib.request.Request) -> Answer:
        try:
            with self.opener.open(request, timeout=10) as response:
                body = response.read().decode()
                return Answer(
                    response.status, body, {k.lower(): v for k, v in response.headers.items()}
                )
        except urllib.error.HTTPError as error:
            body = error.read().decode()
            return Answer(error.code, body, {k.lower(): v for k, v in error.headers.items()})

    def get(self, path: str) -> Answer:
        return self._send(urllib.request.Request(self.base + path))

    def post(self, path: str, fields: dict[str, Any] | list[tuple[str, Any]]) -> Answer:
        data = urllib.parse.urlencode(fields, doseq=True).encode()
        request = urllib.request.Request(self.base + path, data=data, method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        return self._send(request)

    def login(self, token: str, next: str = "/dashboard/") -> Answer:
        """As a browser does: the form first (its login token and pre-session cookie)."""
        form = self.get("/dashboard/login")
        assert form.status == 200, form.status
        return self.post("/dashboard/login", {"token": token, "next": next, "csrf": form.csrf()})

    def cookie(self) -> str | None:
        return next((c.value for c in self.jar if c.name == "conveyor_session"), None)
