"""`__all__` is what each public namespace really exports (httpx's test_exported_members.py).

A public name can't be added or dropped by accident: a class imported into `conveyor` for
users has to be listed, and a listed name has to exist. (tests/test_exports.py pins the list.)
"""

from __future__ import annotations

import types
import typing

import pytest

import conveyor
import conveyor.connections

NAMESPACES = [conveyor, conveyor.connections]


def exported(namespace: types.ModuleType) -> set[str]:
    """The public names of a namespace: not private, not a submodule, and not an object some
    other library defined (a value without `__module__`, e.g. a constant, counts as ours)."""
    names = set()
    for name, value in vars(namespace).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        home = getattr(value, "__module__", None)
        if home is None or home == "conveyor" or home.startswith("conveyor."):
            names.add(name)
    return names


@pytest.mark.parametrize("namespace", NAMESPACES, ids=lambda m: m.__name__)
def test_every_listed_name_exists(namespace: types.ModuleType) -> None:
    missing = [name for name in namespace.__all__ if not hasattr(namespace, name)]
    assert missing == []


@pytest.mark.parametrize("namespace", NAMESPACES, ids=lambda m: m.__name__)
def test_every_public_name_is_listed(namespace: types.ModuleType) -> None:
    assert exported(namespace) - set(namespace.__all__) == set()


@pytest.mark.parametrize("namespace", NAMESPACES, ids=lambda m: m.__name__)
def test_the_list_is_sorted_without_duplicates(namespace: types.ModuleType) -> None:
    assert namespace.__all__ == sorted(set(namespace.__all__))


def test_the_checks_see_an_unlisted_name() -> None:
    """`exported` is what the tests above trust: it finds a new class and a new constant, and
    skips submodules and other libraries' objects."""
    fake = types.ModuleType("conveyor.fake")
    fake.__all__ = ["Listed"]  # type: ignore[attr-defined]
    listed = type("Listed", (), {"__module__": "conveyor.fake"})
    unlisted = type("Unlisted", (), {"__module__": "conveyor.fake.inner"})
    vars(fake).update(
        Listed=listed,
        Unlisted=unlisted,
        LIMIT=3,
        _private=1,
        inner=types.ModuleType("conveyor.fake.inner"),
        Any=typing.Any,
    )
    assert exported(fake) == {"Listed", "Unlisted", "LIMIT"}
