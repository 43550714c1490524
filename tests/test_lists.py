"""Tests for coursekit.lists: the `L` list."""
import numpy as np
import torch

from coursekit.lists import L


def test_repr_shows_count_then_items():
    assert repr(L(1, 2, 3)) == "(#3) [1,2,3]"


def test_repr_shows_ten_items_then_dots():
    assert repr(L(range(12))) == "(#12) [0,1,2,3,4,5,6,7,8,9...]"


def test_constructor_wraps_a_single_string_or_number():
    assert list(L("abc")) == ["abc"]
    assert list(L(5)) == [5]
    assert list(L()) == []


def test_index_by_list_of_positions():
    assert L("a", "b", "c", "d")[[0, 2]] == ["a", "c"]


def test_index_by_boolean_mask_and_numpy_mask():
    l = L(10, 20, 30)
    assert l[[True, False, True]] == [10, 30]
    assert l[np.array([False, True, True])] == [20, 30]


def test_index_by_tensor_of_positions_and_numpy_int():
    l = L(10, 20, 30)
    assert l[torch.tensor([2, 0])] == [30, 10]
    assert l[np.int64(1)] == 20


def test_slice_returns_an_L():
    assert isinstance(L(1, 2, 3)[1:], L)


def test_map_filter_argwhere():
    l = L(1, 2, 3, 4)
    assert l.map(lambda x, k: x * k, 10) == [10, 20, 30, 40]
    assert l.filter(lambda x: x % 2 == 0) == [2, 4]
    assert l.filter(lambda x: x % 2 == 0, negate=True) == [1, 3]
    assert l.argwhere(lambda x: x > 2) == [2, 3]


def test_itemgot_and_attrgot():
    rows = L((0, "a"), (1, "b"))
    assert rows.itemgot(1) == ["a", "b"]
    assert L(1 + 2j, 3 + 4j).attrgot("imag") == [2.0, 4.0]
    assert L({"k": 1}, {}).attrgot("k", default=0) == [1, 0]


def test_itemgot_with_several_indices_goes_deeper():
    assert L([[1, 2], [3]], [[4, 5], [6]]).itemgot(0, 1) == [2, 5]


def test_unique_keeps_first_appearance_order():
    assert L(3, 1, 3, 2, 1).unique() == [3, 1, 2]
    assert L(3, 1, 3, 2, 1).unique(sort=True) == [1, 2, 3]


def test_add_returns_an_L():
    res = L(1) + [2, 3]
    assert isinstance(res, L) and res == [1, 2, 3]
    assert isinstance([0] + L(1), L)


def test_setitem_with_list_of_positions():
    l = L(0, 0, 0)
    l[[0, 2]] = [7, 9]
    assert l == [7, 0, 9]


def test_range_and_zip_and_enumerate():
    assert L.range(3) == [0, 1, 2]
    assert L([1, 2], [3, 4]).zip() == [(1, 3), (2, 4)]
    assert L("x", "y").enumerate() == [(0, "x"), (1, "y")]
