"""The plain JSON in which answers leave a student's kernel: values come back equal, and only as plain values."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from coursekit.grading.answers import canonical, describe
from coursekit.grading.probe import Opaque, decode, encode


def _round_trip(x):
    return decode(json.loads(json.dumps(encode(x))))


@pytest.mark.parametrize("x", [None, True, 3, 2.5, "b", (32, 48, 3), [2, 6], {"a": (1, 2)}, {1, 2}, range(6), ...,
                               torch.Size([3, 4]), np.float32(2.5), 1 + 2j])
def test_plain_values_come_back_equal_and_of_the_same_type(x):
    back = _round_trip(x)
    assert back == x and type(back) is type(x)


@pytest.mark.parametrize("x", [torch.arange(1, 10).view(3, 3), torch.tensor(1.5), torch.zeros(0, 3),
                               torch.tensor([0.25, 0.75], dtype=torch.float64), np.arange(4.0).reshape(2, 2)])
def test_tensors_and_arrays_come_back_with_their_dtype_shape_and_values(x):
    back = _round_trip(x)
    assert type(back) is type(x) and back.dtype == x.dtype and back.shape == x.shape
    assert canonical(back) == canonical(x)


def test_an_object_of_the_students_comes_back_as_its_type_name_only():
    class Sneaky:
        def __eq__(self, other):
            return True
    back = _round_trip(Sneaky())
    assert isinstance(back, Opaque) and describe(back) == "a Sneaky" and back != "anything"


def test_a_value_too_large_comes_back_opaque():
    back = _round_trip(torch.zeros(2_000_000))
    assert isinstance(back, Opaque) and "too large" in repr(back)


def test_a_value_whose_tolist_raises_comes_back_opaque():
    class Broken(torch.Tensor):
        def tolist(self):
            raise RuntimeError("no")
    assert isinstance(_round_trip(torch.zeros(2).as_subclass(Broken)), Opaque)


def test_decode_refuses_what_encode_never_makes():
    with pytest.raises(ValueError):
        decode({"pickle": "gASV"})
