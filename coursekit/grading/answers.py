"""Answers as the checks see them: canonical forms, salted fingerprints, feedback locked by an answer.

An answer is first written in a canonical form, a string that is the same for every way of writing the
same value: `(2, 6)`, `[2, 6]` and `[2.0, 6.0]` all read `[2,6]`, and a tensor reads the same whatever
its dtype. The student copy of a questionnaire stores only a salted SHA-256 fingerprint of that string,
and each feedback text is encrypted with a key derived from the answer it belongs to, so only someone
who gives that answer can read it. The salt comes from the questionnaire's name: releases are
reproducible byte for byte.
"""
from __future__ import annotations

import base64
import dis
import hashlib
import json
import math
import numbers
import reprlib
from typing import Any


class CannotCompare(TypeError):
    """Raised for a value that has no canonical form (a function, a generator, an object of your own)."""


# ---------------------------------------------------------------- fingerprints and locks

def salt_for(name: str) -> str:
    """Return the salt of the questionnaire called `name` (derived from the name, so releases repeat)."""
    return hashlib.sha256(f"coursekit questionnaire|{name}".encode()).hexdigest()[:16]


def fingerprint(salt: str, qid: str, canon: str) -> str:
    """Return the salted SHA-256 fingerprint of the canonical answer `canon` to question `qid`."""
    return hashlib.sha256(f"{salt}|{qid}|{canon}".encode()).hexdigest()[:32]


def _keystream(salt: str, qid: str, canon: str, n: int) -> bytes:
    """Return `n` bytes of keystream for the answer `canon` (a different hash from its fingerprint)."""
    seed = hashlib.sha256(f"{salt}|{qid}|key|{canon}".encode()).digest()
    blocks = [hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(n // 32 + 1)]
    return b"".join(blocks)[:n]


def lock(text: str, salt: str, qid: str, canon: str) -> str:
    """Return `text` encrypted so that only the canonical answer `canon` to `qid` unlocks it."""
    data = text.encode()
    key = _keystream(salt, qid, canon, len(data))
    return base64.b64encode(bytes(a ^ b for a, b in zip(data, key))).decode("ascii")


def unlock(token: str, salt: str, qid: str, canon: str) -> str:
    """Return the text that `lock` encrypted with the answer `canon` to `qid`."""
    data = base64.b64decode(token)
    key = _keystream(salt, qid, canon, len(data))
    return bytes(a ^ b for a, b in zip(data, key)).decode()


# ---------------------------------------------------------------- canonical forms

def is_array(x: Any) -> bool:
    """Return True for tensors, NumPy arrays and NumPy numbers (anything with a `shape` and `tolist`)."""
    return hasattr(x, "shape") and hasattr(x, "tolist") and not isinstance(x, (str, bytes))


def shape_of(x: Any) -> tuple[int, ...]:
    """Return the shape of a tensor or array as a tuple of ints."""
    return tuple(int(n) for n in x.shape)


def number_text(x: Any, decimals: int) -> str:
    """Return the number `x` rounded to `decimals` places, without trailing zeros (2.50 -> '2.5', 2.0 -> '2')."""
    if isinstance(x, numbers.Integral):
        return str(int(x))
    if not isinstance(x, numbers.Real):
        raise CannotCompare(f"cannot compare {describe(x)}")
    f = float(x)
    if not math.isfinite(f):
        return str(f)
    text = f"{f:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def canonical(x: Any, decimals: int = 4, case: bool = True) -> str:
    """Return the canonical form of the value `x`: the string whose fingerprint is compared.

    Numbers are rounded to `decimals`; lists and tuples compare by their items; tensors and arrays by
    shape and values, whatever their dtype; strings are stripped, and lowercased unless `case` is True.
    """
    if x is None or isinstance(x, bool):
        return repr(x)
    if isinstance(x, str):
        text = x.strip() if case else x.strip().lower()
        return json.dumps(text, ensure_ascii=False)
    if is_array(x):
        if shape_of(x) == ():
            return canonical(x.item(), decimals, case)
        return f"tensor{shape_of(x)}".replace(" ", "") + canonical(x.tolist(), decimals, case)
    if isinstance(x, numbers.Number):
        return number_text(x, decimals)
    if isinstance(x, (list, tuple)):
        return "[" + ",".join(canonical(o, decimals, case) for o in x) + "]"
    if isinstance(x, dict):
        items = sorted(f"{canonical(k, decimals, case)}:{canonical(v, decimals, case)}" for k, v in x.items())
        return "{" + ",".join(items) + "}"
    if isinstance(x, (set, frozenset)):
        return "set{" + ",".join(sorted(canonical(o, decimals, case) for o in x)) + "}"
    raise CannotCompare(f"cannot compare {describe(x)}")


def as_number(x: Any) -> float | int | None:
    """Return `x` as a Python number when it is one (a tensor or array holding one number counts), else None."""
    if isinstance(x, bool):
        return None
    if isinstance(x, numbers.Real):
        return x
    if is_array(x) and math.prod(shape_of(x)) == 1:
        item = x.item()
        return item if isinstance(item, numbers.Real) and not isinstance(item, bool) else None
    return None


# ---------------------------------------------------------------- values in plain words

def kind_of(x: Any) -> str:
    """Return the kind of value `x` is: none, bool, number, str, sequence, tensor, dict, set, function or other."""
    if x is None:
        return "none"
    if isinstance(x, bool):
        return "bool"
    if is_array(x):
        return "number" if shape_of(x) == () else "tensor"
    for kind, types in [("number", numbers.Number), ("str", str), ("sequence", (list, tuple)),
                        ("dict", dict), ("set", (set, frozenset))]:
        if isinstance(x, types):
            return kind
    return "function" if callable(x) else "other"


def expectation(x: Any) -> dict:
    """Return what a right answer looks like, from the answer `x`: its kind, words for it, a tensor's shape."""
    kind = kind_of(x)
    if kind == "tensor":
        return {"kind": kind, "label": f"a tensor of shape {shape_of(x)}", "shape": list(shape_of(x))}
    labels = {"none": "None", "bool": "True or False", "number": "a number", "str": "a string",
              "sequence": f"a {type(x).__name__}", "dict": "a dict", "set": "a set"}
    return {"kind": kind, "label": labels.get(kind, f"a {type(x).__name__}")}


def mismatch(expect: dict, x: Any) -> bool:
    """Return True when `x` is not the kind of value `expect` describes (or a tensor of another shape)."""
    kind = kind_of(x)
    if kind != expect["kind"]:
        return True
    return kind == "tensor" and list(shape_of(x)) != expect["shape"]


_repr = reprlib.Repr()
_repr.maxlist = _repr.maxtuple = 8
_repr.maxstring = 50
_repr.maxother = 60


def short(x: Any, width: int = 70) -> str:
    """Return a one-line repr of `x`, cut to `width` characters (never raises, whatever `x` is)."""
    try:
        text = repr(x) if is_array(x) else _repr.repr(x)
    except Exception:
        return f"<a {type(x).__name__} that cannot be printed>"
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def describe(x: Any) -> str:
    """Return `x` in words for feedback: 'None', 'the string 'b'', 'a list of 3 items', 'a tensor of shape (3, 3)'."""
    if x is None:
        return "None"
    if isinstance(x, bool):
        return f"the bool {x}"
    if isinstance(x, str):
        return f"the string {short(x)}"
    if is_array(x):
        if shape_of(x) == ():
            return f"the number {short(x.item())}"
        name = "a tensor" if type(x).__module__.startswith("torch") else "an array"
        return f"{name} of shape {shape_of(x)}"
    if isinstance(x, numbers.Number):
        return f"the number {short(x)}"
    if isinstance(x, (list, tuple, dict, set, frozenset)):
        n = len(x)
        return f"a {type(x).__name__} of {n} item{'' if n == 1 else 's'}"
    return "a function" if callable(x) else f"a {type(x).__name__}"


_STUB_OPS = {"RESUME", "NOP", "CACHE", "LOAD_CONST", "RETURN_VALUE", "RETURN_CONST", "COPY_FREE_VARS", "MAKE_CELL"}


def is_stub(fn: Any) -> bool:
    """Return True for a function whose body does nothing: only `...`, `pass`, a docstring or comments."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    for ins in dis.get_instructions(code):
        if ins.opname not in _STUB_OPS or (ins.opname.endswith("CONST") and ins.argval is not None):
            return False
    return True
