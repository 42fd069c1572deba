"""Explicit name -> object registries whose failed lookups list what is available."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from readlx.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to objects, filled by explicit ``register`` calls.

    Examples
    --------
    >>> r: Registry[int] = Registry("numbers")
    >>> r.register("one", 1)
    >>> r["one"]
    1
    >>> r["two"]
    Traceback (most recent call last):
    ...
    readlx.errors.RegistryError: unknown numbers 'two'; available: one
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> None:
        if name in self._items:
            raise RegistryError(f"{self.what} {name!r} is registered twice")
        self._items[name] = item

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError as e:
            available = ", ".join(sorted(self._items)) or "(none)"
            raise RegistryError(f"unknown {self.what} {name!r}; available: {available}") from e

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())
