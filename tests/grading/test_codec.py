"""The one JSON form of tensors and arrays: sealed test cases and the kernel's replies round-trip through it."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from coursekit.grading import codec, probe
from coursekit.grading.questions import decode_arg, encode_arg

DTYPES = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16, torch.bfloat16,
          torch.float32, torch.float64]
SHAPES = [(), (0,), (0, 3), (3, 0), (2, 0, 4), (1,), (2, 3), (2, 3, 4)]
ROUTES = {"codec": (codec.encode, codec.decode), "case argument": (encode_arg, decode_arg),
          "kernel reply": (probe.encode, probe.decode)}


def _through_json(route: str, x):
    """Return `x` encoded by `route`, written as JSON text, read back and decoded."""
    enc, dec = ROUTES[route]
    return dec(json.loads(json.dumps(enc(x))))


def _same(a, b) -> bool:
    """Return True when two tensors (or arrays) have the same type, dtype, shape and values."""
    if type(a) is not type(b) or a.dtype != b.dtype or tuple(a.shape) != tuple(b.shape):
        return False
    return bool((a.double() == b.double()).all()) if isinstance(a, torch.Tensor) else bool((a == b).all())


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_every_dtype_and_shape_round_trips(route, dtype, shape):
    x = (torch.arange(int(np.prod(shape)) if shape else 1) % 3).reshape(shape).to(dtype)
    assert _same(_through_json(route, x), x)


@pytest.mark.parametrize("route", ROUTES)
def test_a_non_contiguous_tensor_comes_back_as_it_looks(route):
    x = torch.arange(12.0).reshape(3, 4).T[::2]
    assert not x.is_contiguous()
    back = _through_json(route, x)
    assert _same(back, x.contiguous())


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32", "int64", "float32", "float64"])
@pytest.mark.parametrize("shape", [(), (0, 3), (2, 3)], ids=str)
def test_numpy_arrays_round_trip(route, dtype, shape):
    x = (np.arange(int(np.prod(shape))) % 3).reshape(shape).astype(dtype)
    assert _same(_through_json(route, x), x)


def test_an_empty_tensor_keeps_its_shape_and_a_plain_one_keeps_the_sealed_form():
    assert codec.encode(torch.zeros(0, 3)) == {"tensor": [], "dtype": "float32", "shape": [0, 3]}
    # the form questionnaires were sealed with is unchanged, so every released copy still reads
    assert encode_arg(torch.tensor([[1, 2]])) == {"tensor": [[1, 2]], "dtype": "int64"}
    assert decode_arg({"tensor": [1.0, 2.0], "dtype": "float32"}).dtype == torch.float32


def test_exotic_tensors_have_no_plain_form():
    assert codec.encode(torch.zeros(2, dtype=torch.complex64)) is None
    assert codec.encode(np.array(["a"])) is None and codec.encode([1, 2]) is None
    assert isinstance(probe.decode(probe.encode(torch.zeros(2, dtype=torch.complex64))), probe.Opaque)


def test_an_unknown_dtype_is_refused():
    with pytest.raises(ValueError, match="unknown dtype"):
        codec.decode({"tensor": [1], "dtype": "Tensor"})
