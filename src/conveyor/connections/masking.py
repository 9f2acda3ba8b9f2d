"""Secrets kept out of what is stored: RPC params' secrets, and every connection's credentials.

`SecretMask(values)` replaces known secret values, in every form an echo may take, by `***`;
`connection_secret_values` lists a connection's (its auth's credentials, an OAuth2 client's
current token, the signing secret, a password in the base URL), which `RemoteClient` masks in the
response excerpts and errors it hands back, before anything is written to a job.

Secrets inside RPC params: revealed only to build a request, masked in whatever it raises.

Any `Secret` inside the params is revealed to build the body; its value, in every form an echo
may take (raw, JSON- or Python-quoted, XML- or URL-escaped), is replaced by `***` in the message,
details and chained errors of the exception the call raises: a server that echoes the request (a
fault string, an error page) cannot put a password in a job record or a log line.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, urlsplit
from xml.sax.saxutils import escape as xml_escape

from ..errors import ConveyorError
from .auth import ApiKey, Basic, Bearer, OAuth2ClientCredentials
from .secrets import Secret

if TYPE_CHECKING:
    from .connection import Connection

MASK = "***"
MIN_SECRET_LENGTH = 3  # shorter "secrets" would garble every text they appear in


class SecretMask:
    """Masks some known secret values (and their escaped forms) in texts and exceptions."""

    def __init__(self, values: Iterable[str]) -> None:
        self.forms = _forms(value for value in values if len(value) >= MIN_SECRET_LENGTH)

    def __bool__(self) -> bool:
        return bool(self.forms)

    def text(self, value: str) -> str:
        result: str = _mask(value, self.forms)
        return result

    def value(self, value: Any) -> Any:
        """Strings inside dicts and lists masked; anything else as it is."""
        return _mask(value, self.forms)

    def error(self, error: BaseException) -> None:
        """Mask the message, details and chain of an exception, in place."""
        if self.forms:
            _mask_error(error, self.forms)

    @contextmanager
    def raised(self) -> Iterator[None]:
        """Mask whatever the block raises."""
        try:
            yield
        except BaseException as error:
            self.error(error)
            raise


def connection_secrets(connection: Connection) -> list[Secret]:
    """The connection's declared secrets: its auth's credential and its signing secret."""
    auth = connection.auth
    found = [connection.signing_secret]
    if isinstance(auth, Bearer):
        found.append(auth.token)
    elif isinstance(auth, Basic):
        found.append(auth.password)
    elif isinstance(auth, ApiKey):
        found.append(auth.key)
    client_secret = getattr(auth, "client_secret", None)  # either OAuth2 flavour
    if isinstance(client_secret, Secret):
        found.append(client_secret)
    return [value for value in found if value is not None]


def connection_secret_values(connection: Connection) -> list[str]:
    """Every secret value the connection resolves to now, and the forms headers carry them in
    (a basic-auth header's base64, an OAuth2 client's current access token)."""
    values = []
    for value in connection_secrets(connection):
        try:
            values.append(value.reveal())
        except ConveyorError:  # an unset environment variable: nothing to leak
            continue
    auth = connection.auth
    try:
        if isinstance(auth, Basic):
            values.append(_basic(auth.username, auth.password))
        elif isinstance(auth, OAuth2ClientCredentials):
            values.append(_basic(auth.client_id, auth.client_secret))
            token = auth.current_token()
            if token:
                values.append(token)
    except ConveyorError:
        pass
    signing = connection.signing_secret
    if signing is not None:
        try:
            raw = signing.reveal()
            if raw.startswith("whsec_"):
                values.append(raw[len("whsec_") :])
        except ConveyorError:
            pass
    password = urlsplit(connection.base_url).password
    if password:
        values.append(password)
    return values


def _basic(user: str, password: Secret) -> str:
    return base64.b64encode(f"{user}:{password.reveal()}".encode()).decode()


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
