"""`L`: a Python list that can be indexed by a list of positions or a mask, and prints its length."""
from __future__ import annotations

from typing import Any, Callable, Iterable

__all__ = ["L"]


def _listify(items: Any) -> list:
    """Return `items` as a list: `None` is empty, a string or non-iterable is one item."""
    if items is None:
        return []
    if isinstance(items, (str, bytes, dict)) or not hasattr(items, "__iter__"):
        return [items]
    if getattr(items, "ndim", None) == 0:  # a 0-d tensor or array is a single value
        return [items]
    return list(items)


def _is_mask(idx: list, n: int) -> bool:
    """Tell whether `idx` is a list of booleans as long as the list it selects from."""
    return len(idx) == n and all(isinstance(o, bool) or type(o).__name__ == "bool_" for o in idx)


class L(list):
    """A list with fastai's extras: `L(1, 2, 3)`, `l[[0, 2]]`, `l[mask]`, `map`, `filter`, `itemgot`..."""

    def __init__(self, items: Any = None, *rest: Any):
        super().__init__(_listify(items) if not rest else [items, *rest])

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, int) or getattr(idx, "ndim", None) == 0:  # also numpy ints, 0-d tensors
            return list.__getitem__(self, int(idx))
        if isinstance(idx, slice):
            return L(list.__getitem__(self, idx))
        idx = [o.item() if hasattr(o, "item") else o for o in _listify(idx)]
        if _is_mask(idx, len(self)):
            return L(o for o, keep in zip(self, idx) if keep)
        return L(list.__getitem__(self, int(i)) for i in idx)

    def __setitem__(self, idx: Any, value: Any) -> None:
        if isinstance(idx, (int, slice)):
            return list.__setitem__(self, idx, value)
        for i, v in zip(_listify(idx), _listify(value)):  # `l[[0, 2]] = [a, b]`
            list.__setitem__(self, int(i), v)

    def __repr__(self) -> str:
        shown = ",".join(repr(o) for o in list.__getitem__(self, slice(10)))
        return f"(#{len(self)}) [{shown}{'...' if len(self) > 10 else ''}]"

    def __add__(self, other: Iterable) -> "L":
        return L(list(self) + _listify(other))

    def __radd__(self, other: Iterable) -> "L":
        return L(_listify(other) + list(self))

    def __mul__(self, n: int) -> "L":
        return L(list(self) * n)

    def map(self, f: Callable, *args: Any, **kwargs: Any) -> "L":
        """Return `L(f(o, *args, **kwargs) for o in self)`."""
        return L(f(o, *args, **kwargs) for o in self)

    def filter(self, f: Callable, negate: bool = False) -> "L":
        """Return the items for which `f(o)` is true (false with `negate=True`)."""
        return L(o for o in self if bool(f(o)) != negate)

    def argwhere(self, f: Callable) -> "L":
        """Return the positions of the items for which `f(o)` is true."""
        return L(i for i, o in enumerate(self) if f(o))

    def attrgot(self, k: str, default: Any = None) -> "L":
        """Return attribute `k` of each item (or key `k` of each dict), `default` when missing."""
        return L(o.get(k, default) if isinstance(o, dict) else getattr(o, k, default) for o in self)

    def itemgot(self, *idxs: Any) -> "L":
        """Return `o[idx]` for each item (`itemgot(1, 0)` means `o[1][0]`)."""
        res = self
        for idx in idxs:
            res = L(o[idx] for o in res)
        return res

    def unique(self, sort: bool = False) -> "L":
        """Return the distinct items in the order they first appear (sorted with `sort=True`)."""
        res = L(list(dict.fromkeys(self)))
        return res.sorted() if sort else res

    def sorted(self, key: Callable | None = None, reverse: bool = False) -> "L":
        """Return a sorted copy."""
        return L(sorted(self, key=key, reverse=reverse))

    def enumerate(self) -> "L":
        """Return `L` of `(index, item)` pairs."""
        return L(enumerate(self))

    def zip(self) -> "L":
        """Return the items zipped together: `L([1, 2], [3, 4]).zip()` is `[(1, 3), (2, 4)]`."""
        return L(zip(*self))

    def sum(self) -> Any:
        """Return the sum of the items."""
        return sum(self)

    def copy(self) -> "L":
        """Return a shallow copy."""
        return L(self)

    @classmethod
    def range(cls, a: int, b: int | None = None, step: int = 1) -> "L":
        """Return `L(range(a, b, step))` (`L.range(3)` is `[0, 1, 2]`)."""
        return cls(range(a, b, step) if b is not None else range(a))

