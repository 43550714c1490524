"""Tests for coursekit.loaders: DataLoader (general and tensor paths), DataLoaders, and the moved image names."""
import string

import pytest
import torch
from torch.utils.data import TensorDataset

from coursekit import image_data, loaders
from coursekit.lists import L
from coursekit.loaders import DataLoader, DataLoaders, collate
from coursekit.utils import set_seed


class ItemDataset:
    """A map-style dataset that only has len and [i] (forces the general path)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def test_range_gives_shuffled_batches_covering_every_item():
    set_seed(0)
    batches = list(DataLoader(range(15), batch_size=5, shuffle=True))
    assert [len(b) for b in batches] == [5, 5, 5]
    assert sorted(torch.cat(batches).tolist()) == list(range(15))
    assert torch.cat(batches).tolist() != list(range(15))


def test_same_seed_gives_same_shuffle():
    set_seed(3)
    a = list(DataLoader(range(20), bs=4, shuffle=True))
    set_seed(3)
    b = list(DataLoader(range(20), bs=4, shuffle=True))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_string_is_batched_into_tuples_of_letters_with_bs_name():
    batches = list(DataLoader("abcdefghijklmnopqrstuvwxyz", bs=6))
    assert len(batches) == 5
    assert batches[0] == ("a", "b", "c", "d", "e", "f")
    assert batches[-1] == ("y", "z")


def test_pairs_of_number_and_letter_collate_to_tensor_and_tuple():
    xb, yb = DataLoader(L(enumerate(string.ascii_lowercase)), batch_size=6).one_batch()
    assert torch.equal(xb, torch.arange(6))
    assert yb == tuple("abcdef")


def test_collate_stacks_tensors_and_transposes_tuples():
    xb, yb = collate([(torch.zeros(2), 1), (torch.ones(2), 0)])
    assert xb.shape == (2, 2) and torch.equal(yb, torch.tensor([1, 0]))


def test_list_of_tensor_pairs_takes_the_tensor_path_with_same_batches():
    x, y = torch.randn(10, 3), torch.arange(10)
    dl = DataLoader(list(zip(x, y)), bs=4)
    assert dl.tensors is not None
    xb, yb = list(dl)[1]
    assert torch.equal(xb, x[4:8]) and torch.equal(yb, y[4:8])
    assert len(dl) == 3


def test_tensor_path_and_item_path_give_identical_shuffled_batches():
    x, y = torch.randn(50, 3), torch.randint(0, 5, (50,))
    set_seed(1)
    fast = list(DataLoader.from_tensors(x, y, bs=8, shuffle=True))
    set_seed(1)
    slow = list(DataLoader(ItemDataset(x, y), bs=8, shuffle=True))
    assert DataLoader(ItemDataset(x, y)).tensors is None
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(fast, slow))


def test_tensordataset_and_tuple_of_tensors_are_detected():
    x, y = torch.randn(6, 2), torch.arange(6)
    assert DataLoader(TensorDataset(x, y)).tensors is not None
    dl = DataLoader((x, y), bs=4)
    assert dl.tensors is not None and len(dl.dataset) == 6


def test_bare_tensor_gives_bare_tensor_batches():
    b = DataLoader(torch.arange(10), bs=4).one_batch()
    assert torch.equal(b, torch.arange(4))


def test_drop_last_drops_the_partial_batch():
    assert len(DataLoader(range(10), bs=4, drop_last=True)) == 2
    assert len(DataLoader(range(10), bs=4)) == 3
    assert len(list(DataLoader.from_tensors(torch.arange(10), bs=4, drop_last=True))) == 2


def test_one_batch_of_an_empty_loader_says_to_lower_bs():
    with pytest.raises(ValueError, match="smaller bs"):
        DataLoader(range(3), bs=4, drop_last=True).one_batch()


def test_from_tensors_with_different_lengths_says_so():
    with pytest.raises(ValueError, match="same number of items"):
        DataLoader.from_tensors(torch.zeros(3), torch.zeros(4))


def test_new_copies_with_changed_settings():
    dl = DataLoader(range(10), bs=4, shuffle=True)
    dl2 = dl.new(shuffle=False)
    assert dl.shuffle and not dl2.shuffle and dl2.bs == 4


def test_dataloaders_put_both_loaders_on_its_device():
    dls = DataLoaders(DataLoader(range(4)), DataLoader(range(2)), device="cpu")
    assert dls.train.device == dls.valid.device == torch.device("cpu")
    assert dls[0] is dls.train and dls[1] is dls.valid
    assert dls.vocab is None


def test_dataloaders_need_two_loaders():
    with pytest.raises(ValueError, match="training and a validation"):
        DataLoaders(DataLoader(range(4)))


def test_from_dsets_shuffles_train_only():
    dls = DataLoaders.from_dsets(list(range(10)), list(range(4)), bs=3, device="cpu")
    assert dls.train.shuffle and dls.train.drop_last and not dls.valid.shuffle


def test_image_names_moved_to_image_data_are_still_importable_from_loaders():
    for name in loaders.IMAGE_NAMES:
        assert getattr(loaders, name) is getattr(image_data, name), name
    ns: dict = {}
    exec("from coursekit.loaders import *", ns)
    assert ns["ImageDataLoaders"] is image_data.ImageDataLoaders and ns["DataLoader"] is DataLoader


def test_unknown_name_in_loaders_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        loaders.nothing


def test_subset_keeps_only_those_items_and_the_settings():
    x, y = torch.arange(10.0).view(10, 1), torch.arange(10)
    dl = DataLoader.from_tensors(x, y, bs=2, after_batch=lambda xb: xb * 10)
    small = dl.subset([7, 1, 3])
    assert small.n == 3 and dl.n == 10 and small.bs == 2
    xb, yb = next(iter(small))
    assert yb.tolist() == [7, 1] and xb.flatten().tolist() == [70.0, 10.0]


def test_subset_of_a_dataset_of_items_and_out_of_range_indices():
    dl = DataLoader([(torch.tensor([float(i)]), i) for i in range(5)], bs=5)
    assert next(iter(dl.subset(range(3))))[1].tolist() == [0, 1, 2]
    with pytest.raises(IndexError, match="below the loader's 5 items"):
        dl.subset([2, 5])
