"""One JSON form for tensors and NumPy arrays, wherever they cross a boundary (a sealed test case, the kernel's reply).

`{"tensor": nested lists, "dtype": "int64"}` (or `"array"` for NumPy), plus `"shape"` whenever the nested
lists alone would lose it: an empty `(0, 3)` tensor is `[]`, which reads back as `(0,)`. A 0-d tensor is
its number. Values are read from a contiguous copy, so a transposed or sliced tensor comes out as it looks.
Complex, quantized and sparse tensors and non-numeric arrays have no such form (`encode` returns None).
Sealed questionnaires hold this form, so it must not change for the tensors they already hold.
"""
from __future__ import annotations

from typing import Any

NUMERIC_KINDS = "biuf"  # bool, signed and unsigned int, float: the NumPy dtypes `tolist` turns into JSON numbers


def _list_shape(data: Any) -> list[int]:
    """Return the shape that nested lists `data` spell out (what `torch.tensor(data)` would have)."""
    shape = []
    while isinstance(data, list):
        shape.append(len(data))
        if not data:
            break
        data = data[0]
    return shape


def _form(tag: str, data: Any, dtype: str, shape: list[int]) -> dict:
    """Return the JSON form, with the shape only when the lists lose it."""
    out = {tag: data, "dtype": dtype}
    return {**out, "shape": shape} if _list_shape(data) != shape else out


def encode(x: Any) -> dict | None:
    """Return a tensor or array in its JSON form, or None when it is neither or has no plain form."""
    module = type(x).__module__ or ""
    if module.startswith("torch"):
        import torch
        if not isinstance(x, torch.Tensor):
            return None
        t = x.detach().cpu()
        if t.layout != torch.strided or t.is_complex() or t.is_quantized:
            return None
        return _form("tensor", t.tolist(), str(t.dtype).removeprefix("torch."), list(t.shape))
    if module.startswith("numpy"):
        import numpy as np
        if not isinstance(x, np.ndarray) or x.dtype.kind not in NUMERIC_KINDS:
            return None
        return _form("array", x.tolist(), str(x.dtype), list(x.shape))
    return None


def size(d: dict) -> int:
    """Return the number of values the JSON form `d` holds (the product of its shape)."""
    n = 1
    for k in d.get("shape") or _list_shape(d.get("tensor", d.get("array"))):
        n *= int(k)
    return n


def decode(d: dict) -> Any:
    """Return a fresh tensor or array from its JSON form; raise ValueError for an unknown dtype."""
    shape = [int(n) for n in d["shape"]] if "shape" in d else None
    if "tensor" in d:
        import torch
        dtype = getattr(torch, str(d["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"unknown dtype {d['dtype']!r}")
        t = torch.tensor(d["tensor"], dtype=dtype)
        return t.reshape(shape) if shape is not None else t
    import numpy as np
    a = np.array(d["array"], dtype=np.dtype(str(d["dtype"])))
    return a.reshape(shape) if shape is not None else a


def is_encoded(d: Any) -> bool:
    """Return True when `d` is the JSON form of a tensor or an array."""
    return isinstance(d, dict) and ("tensor" in d or "array" in d) and "dtype" in d
