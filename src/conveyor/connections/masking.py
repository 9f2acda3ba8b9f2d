"""Secrets inside RPC params: revealed only to build a request, masked in whatever it raises.

Any `Secret` inside the params is revealed to build the body; its value, in every form an echo
may take (raw, JSON- or Python-quoted, XML- or URL-escaped), is replaced by `***` in the message,
details and chained errors of the exception the call raises: a server that echoes the request (a
fault string, an error page) cannot put a password in a job record or a log line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape as xml_escape

from .secrets import Secret

MASK = "***"


@contextmanager
def masking(params: Any) -> Iterator[Any]:
    """Yield `params` with every Secret revealed; mask those values in whatever is raised."""
    found: list[str] = []
    plain = _reveal(params, found)
    try:
        yield plain
    except BaseException as error:
        if found:
            _mask_error(error, _forms(found))
        raise


def _reveal(value: Any, found: list[str]) -> Any:
    if isinstance(value, Secret):
        revealed = value.reveal()
        found.append(revealed)
        return revealed
    if isinstance(value, dict):
        return {key: _reveal(item, found) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(item, found) for item in value]
    return value


def _forms(values: Iterable[str]) -> list[str]:
    """Each secret as an echo may show it: raw or quoted as a JSON or Python string, then as is
    or escaped for XML, JSON or a URL (a fault string quoting the repr of an argument arrives
    XML-escaped in the response excerpt). Longest first, so that a longer form is masked whole."""
    forms: set[str] = set()
    for value in values:
        for inner in (value, _json_inner(value), repr(value)[1:-1], repr(value + '"')[1:-2]):
            forms.update(
                {
                    inner,
                    xml_escape(inner),
                    xml_escape(inner, {'"': "&quot;", "'": "&apos;"}),
                    xml_escape(inner, {'"': "&quot;", "'": "&#x27;"}),
                    _json_inner(inner),
                    json.dumps(inner, ensure_ascii=False)[1:-1],
                    quote(inner, safe=""),
                    quote_plus(inner, safe=""),
                }
            )
    return sorted((form for form in forms if form), key=len, reverse=True)


def _json_inner(value: str) -> str:
    return json.dumps(value)[1:-1]


def _mask(value: Any, forms: list[str]) -> Any:
    if isinstance(value, str):
        for form in forms:
            value = value.replace(form, MASK)
        return value
    if isinstance(value, dict):
        return {key: _mask(item, forms) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(item, forms) for item in value]
    return value


def _mask_error(error: BaseException, forms: list[str]) -> None:
    """Mask the secrets in an exception, its details and its chain, in place."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(_mask(arg, forms) for arg in current.args)
        for attribute in ("reason", "details"):
            if isinstance(getattr(current, attribute, None), str | dict):
                setattr(current, attribute, _mask(getattr(current, attribute), forms))
        current = current.__cause__ or current.__context__
