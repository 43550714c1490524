"""What the grader asks a student's kernel, and the plain JSON in which values cross between the two.

The grader never trusts a score computed in a student's kernel: `quiz.check` and `Quiz.score` are the
student's to break. Once the student's cells have run, the grader runs cells of its own in the same kernel,
each one call of `answer(request, reply_path)`, which writes a JSON reply:
- `{"op": "value", "expr": "photo_shape"}`: the value of an answer, encoded by `encode`;
- `{"op": "cases", "expr": "odd_doubled", "cases": [...]}`: what the student's function returns (or
  raises) on each test case of a `CodeTask`, in the case order of the sealed spec, with the case's
  arguments as they are after the call (a check may ask whether the function changed its input);
- `{"op": "call", "name": ..., "args": [...], "kwargs": {...}}`: one call made by a hidden check, with its
  arguments as they are after the call (a check may ask whether the function changed its input).
`encode` turns a value into JSON with a tag for each kind of value: `{"tuple": [...]}`, and for tensors
and arrays the one form of `codec.py`, `{"tensor": [[...]], "dtype": "int64"}`; anything else becomes an `Opaque` that keeps
only its type's name and a short repr. `decode`, in the grader's process, rebuilds fresh plain values, so
no object of the student's ever reaches the grader. The reply is capped (`MAX_ITEMS` numbers and items,
`MAX_TEXT` characters a string): an answer bigger than that is no answer to these questions anyway.
"""
from __future__ import annotations

import json
import os
from typing import Any

from . import codec
from .answers import is_stub, short
from .questions import decode_arg

MAX_ITEMS = 1_000_000
MAX_TEXT = 100_000
MAX_DEPTH = 40
MAX_REPLY_BYTES = 64 * 2**20
NUMERIC_KINDS = codec.NUMERIC_KINDS


class TooBig(ValueError):
    """Raised when a value holds more than `MAX_ITEMS` items or nests deeper than `MAX_DEPTH`."""


# ---------------------------------------------------------------- encode (both sides)

def _numbers(x: Any, budget: list[int]) -> dict:
    """Return a tensor or NumPy array in the codec's form (`codec.py`), or an opaque value for exotic dtypes."""
    form = codec.encode(x)
    if form is None:
        return _opaque(x)
    _spend(budget, codec.size(form))
    return form


def _opaque(x: Any, why: str = "") -> dict:
    """Return what the grader may know of a value with no plain form: its type's name, a short repr."""
    return {"opaque": type(x).__name__, "repr": why or short(x), "callable": callable(x)}


def _spend(budget: list[int], n: int) -> None:
    """Take `n` items from the budget; raise TooBig when it runs out."""
    budget[0] -= n
    if budget[0] < 0:
        raise TooBig(f"more than {MAX_ITEMS} items")


def _encode(x: Any, budget: list[int], depth: int) -> Any:
    """Return `x` in its plain JSON form (see the module docstring)."""
    _spend(budget, 1)
    if depth > MAX_DEPTH:
        raise TooBig(f"nested deeper than {MAX_DEPTH}")
    if x is None or isinstance(x, bool):
        return x if x is None else bool(x)
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    if isinstance(x, str):
        if len(x) > MAX_TEXT:
            raise TooBig(f"a string of more than {MAX_TEXT} characters")
        return str.__str__(x)
    if x is Ellipsis:
        return {"ellipsis": True}
    if isinstance(x, complex):
        return {"complex": [x.real, x.imag]}
    if isinstance(x, range):
        return {"range": [x.start, x.stop, x.step]}
    module = type(x).__module__ or ""
    if module.startswith("torch"):
        import torch
        if isinstance(x, torch.Size):
            return {"size": [int(n) for n in x]}
        if isinstance(x, torch.Tensor):
            return _numbers(x, budget)
    if module.startswith("numpy"):
        import numpy as np
        if isinstance(x, np.ndarray):
            return _numbers(x, budget)
        if isinstance(x, np.generic) and x.dtype.kind in NUMERIC_KINDS:
            return {"numpy": x.item(), "dtype": str(x.dtype)}
    for kind in (tuple, list, set, frozenset):
        if isinstance(x, kind):
            return {kind.__name__: [_encode(o, budget, depth + 1) for o in x]}
    if isinstance(x, dict):
        return {"dict": [[_encode(k, budget, depth + 1), _encode(v, budget, depth + 1)] for k, v in x.items()]}
    return _opaque(x)


def encode(x: Any) -> Any:
    """Return `x` as plain JSON; a value too big, or one that raises while being read, comes back opaque."""
    try:
        return _encode(x, [MAX_ITEMS], 0)
    except TooBig as e:
        return _opaque(x, f"too large to grade ({e})")
    except Exception as e:  # a hostile value: its tolist or __iter__ raises
        return _opaque(x, f"could not be read ({type(e).__name__})")


# ---------------------------------------------------------------- decode (both sides)

class Opaque:
    """A value from the kernel with no plain form: only its type's name and a short repr came back."""

    def __init__(self, text: str):
        """Keep the repr the kernel sent."""
        self.text = text

    def __repr__(self) -> str:
        """Return the repr the kernel sent."""
        return self.text


def _not_here(*args: Any, **kwargs: Any) -> Any:
    """Raise: an opaque function stayed in the kernel."""
    raise TypeError("this function stayed in the student's kernel and cannot be called here")


def opaque(d: dict) -> Opaque:
    """Return an `Opaque` whose type has the name of the student's type, so feedback can name it."""
    name = d.get("opaque") if isinstance(d.get("opaque"), str) and d["opaque"].isidentifier() else "object"
    cls = type(name, (Opaque,), {"__call__": _not_here} if d.get("callable") else {})
    return cls(str(d.get("repr", ""))[:200])


def decode(d: Any) -> Any:
    """Return a fresh value rebuilt from the plain JSON that `encode` made; raise ValueError for anything else."""
    if d is None or isinstance(d, (bool, int, float, str)):
        return d
    if not isinstance(d, dict) or not d:
        raise ValueError(f"not an encoded value: {short(d)}")
    tag = next(iter(d))
    items = d[tag]
    kinds = {"tuple": tuple, "list": list, "set": set, "frozenset": frozenset}
    if tag in kinds and isinstance(items, list):
        return kinds[tag](decode(o) for o in items)
    if tag == "dict" and isinstance(items, list):
        return {decode(k): decode(v) for k, v in items}
    if tag == "ellipsis":
        return Ellipsis
    if tag == "range":
        return range(*[int(n) for n in items])
    if tag == "complex":
        return complex(*[float(n) for n in items])
    if tag == "size":
        import torch
        return torch.Size([int(n) for n in items])
    if tag in ("tensor", "array"):
        return codec.decode(d)
    if tag == "numpy":
        import numpy as np
        return np.dtype(str(d["dtype"])).type(items)
    if tag == "opaque":
        return opaque(d)
    raise ValueError(f"unknown tag {tag!r}")


# ---------------------------------------------------------------- inside the student's kernel

def _raised(e: BaseException) -> list[str]:
    """Return an exception as [type name, message], the message cut short (never raises)."""
    try:
        text = str(e)
    except Exception:
        text = ""
    return [type(e).__name__, text[:500]]


def _evaluate(namespace: dict, expr: str) -> tuple[str, Any]:
    """Return ('value', value), ('missing', message) or ('raised', [type, message]) for `expr` in the notebook."""
    try:
        return "value", eval(expr, namespace)
    except NameError as e:
        return "missing", str(e)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # SystemExit from a property counts as the answer raising
        return "raised", _raised(e)


def _value(namespace: dict, request: dict) -> dict:
    """Return the reply to a `value` request; with `functions`, a callable is named instead of encoded."""
    kind, value = _evaluate(namespace, request["expr"])
    if kind != "value":
        return {kind: value}
    if request.get("functions") and callable(value):
        return {"callable": type(value).__name__}
    return {"value": encode(value)}


def _outcome(fn: Any, args: list) -> dict:
    """Return what calling `fn(*args)` did, `{"ok": result}` or `{"raised": [type, message]}`, and the args after it."""
    try:
        out = {"ok": encode(fn(*args))}
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        out = {"raised": _raised(e)}
    return {**out, "args": [encode(a) for a in args]}


def _cases(namespace: dict, request: dict) -> dict:
    """Return the reply to a `cases` request: the value if it is no function, a stub, or one outcome a case."""
    kind, fn = _evaluate(namespace, request["expr"])
    if kind != "value":
        return {kind: fn}
    if fn is Ellipsis or not callable(fn):
        return {"value": encode(fn)}
    if is_stub(fn):
        return {"stub": True}
    return {"outcomes": [_outcome(fn, [decode_arg(a) for a in args]) for args in request["cases"]]}


def _call(namespace: dict, request: dict) -> dict:
    """Return the reply to a `call` request: the outcome and the arguments as they are after the call."""
    if request["name"] not in namespace:
        return {"missing": f"name {request['name']!r} is not defined"}
    args = [decode(a) for a in request["args"]]
    kwargs = {k: decode(v) for k, v in request["kwargs"].items()}
    try:
        out = {"ok": encode(namespace[request["name"]](*args, **kwargs))}
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        out = {"raised": _raised(e)}
    return {**out, "args": [encode(a) for a in args]}


OPS = {"value": _value, "cases": _cases, "call": _call}


def answer(request: str, reply: str) -> None:
    """Answer the grader's JSON `request` about the notebook's variables, writing the JSON reply to `reply`."""
    from IPython import get_ipython
    question = json.loads(request)
    out = OPS[question["op"]](get_ipython().user_ns, question)
    with open(reply + ".part", "w") as f:
        json.dump(out, f)
    os.replace(reply + ".part", reply)
