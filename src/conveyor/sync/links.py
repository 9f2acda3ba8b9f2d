"""RFC 8288 `Link` headers: `<https://api.example/items?page=3>; rel="next", <…>; rel="last"`.

Parsed by hand rather than with a regex over the whole header: a URL may hold commas and
semicolons inside its angle brackets, `rel` may be quoted or not and hold several relation types
(`rel="next last"`), and parameters may come in any order.
"""

from __future__ import annotations


def parse_link_header(value: str | None) -> dict[str, str]:
    """Relation type → target URL; the first link of each relation wins, as RFC 8288 says."""
    links: dict[str, str] = {}
    if not value:
        return links
    position = 0
    while True:
        start = value.find("<", position)
        if start < 0:
            return links
        end = value.find(">", start)
        if end < 0:
            return links
        target = value[start + 1 : end].strip()
        params, position = _params(value, end + 1)
        for relation in params.get("rel", "").lower().split():
            links.setdefault(relation, target)


def _params(value: str, position: int) -> tuple[dict[str, str], int]:
    """The `; name=value` parameters after one link, up to the comma that ends it."""
    params: dict[str, str] = {}
    length = len(value)
    while position < length:
        char = value[position]
        if char == ",":
            return params, position + 1
        if char != ";":
            position += 1
            continue
        position += 1
        equals = value.find("=", position)
        stop = _next_delimiter(value, position)
        if equals < 0 or equals > stop:
            position = stop
            continue
        name = value[position:equals].strip().lower()
        position = equals + 1
        while position < length and value[position] == " ":
            position += 1
        if position < length and value[position] == '"':
            closing = value.find('"', position + 1)
            closing = length if closing < 0 else closing
            text = value[position + 1 : closing]
            position = closing + 1
        else:
            stop = _next_delimiter(value, position)
            text = value[position:stop].strip()
            position = stop
        params.setdefault(name, text)
    return params, position


def _next_delimiter(value: str, position: int) -> int:
    candidates = [i for i in (value.find(";", position), value.find(",", position)) if i >= 0]
    return min(candidates) if candidates else len(value)
