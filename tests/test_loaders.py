"""Tests for coursekit.loaders: DataLoader (general and tensor paths), DataLoaders, ImageDataLoaders."""
import string

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import TensorDataset

from coursekit.lists import L
from coursekit.loaders import DataLoader, DataLoaders, ImageDataLoaders, Normalize, Resize, collate
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


def test_normalize_maps_uint8_to_unit_range_and_decode_undoes_stats():
    x = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 3, 1, 1)
    norm = Normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])
    out = norm(x)
    assert torch.allclose(out.flatten(), torch.tensor([-2.0, -1.2, 2.0]))
    assert torch.allclose(norm.decode(out).flatten(), torch.tensor([0.0, 0.2, 1.0]))


@pytest.mark.parametrize("method,expected", [("crop", (6, 4)), ("squish", (6, 4)), ("pad", (6, 4))])
def test_resize_gives_requested_size(method, expected):
    img = Image.new("RGB", (10, 20))
    assert Resize((4, 6), method=method)(img).size == expected  # PIL sizes are (width, height)


def test_resize_crop_keeps_the_centre():
    a = np.zeros((4, 8), dtype=np.uint8)
    a[:, 2:6] = 255  # white centre band
    out = np.asarray(Resize(4)(Image.fromarray(a)))
    assert out.shape == (4, 4) and out.min() == 255


def _make_folder(root, sizes=None):
    """Write tiny images: train/{cat,dog} x3, valid/{cat,dog} x1; cats dark, dogs bright."""
    for split, n in [("train", 3), ("valid", 1)]:
        for cls, value in [("dog", 200), ("cat", 10)]:
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                size = sizes[i % len(sizes)] if sizes else (8, 8)
                Image.new("RGB", size, (value, value, value)).save(root / split / cls / f"{i}.png")
    return root


def test_from_folder_reads_classes_splits_and_labels(tmp_path):
    dls = ImageDataLoaders.from_folder(_make_folder(tmp_path), bs=2, device="cpu")
    assert dls.vocab == ["cat", "dog"]
    assert dls.train.n == 6 and dls.valid.n == 2
    xb, yb = list(dls.valid)[0]
    assert xb.shape == (2, 3, 8, 8) and xb.dtype == torch.float32
    assert torch.allclose(xb[:, 0, 0, 0], torch.where(yb == 0, 10 / 255, 200 / 255))


def test_from_folder_valid_pct_is_reproducible_and_disjoint(tmp_path):
    path = _make_folder(tmp_path)
    a = ImageDataLoaders.from_folder(path, valid_pct=0.25, seed=42, device="cpu")
    b = ImageDataLoaders.from_folder(path, valid_pct=0.25, seed=42, device="cpu")
    assert a.valid.items == b.valid.items and len(a.valid.items) == 2
    assert not set(a.train.items) & set(a.valid.items)


def test_from_folder_resizes_with_item_tfms_and_greyscale(tmp_path):
    dls = ImageDataLoaders.from_folder(_make_folder(tmp_path, sizes=[(8, 8), (12, 10)]), item_tfms=4,
                                       convert="L", bs=2, device="cpu")
    assert dls.one_batch()[0].shape[1:] == (1, 4, 4)


def test_from_folder_different_sizes_without_resize_says_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="item_tfms=Resize"):
        ImageDataLoaders.from_folder(_make_folder(tmp_path, sizes=[(8, 8), (12, 10)]), device="cpu")


def test_from_folder_decode_undoes_imagenet_normalisation(tmp_path):
    dls = ImageDataLoaders.from_folder(_make_folder(tmp_path), normalize="imagenet", device="cpu")
    xb, yb = dls.valid.one_batch()
    assert xb.min() < 0
    assert torch.allclose(dls.decode(xb)[:, 0, 0, 0], torch.where(yb == 0, 10 / 255, 200 / 255), atol=1e-6)


def test_test_dl_prepares_a_file_like_the_validation_set(tmp_path):
    path = _make_folder(tmp_path)
    dls = ImageDataLoaders.from_folder(path, device="cpu")
    xb = dls.test_dl([path / "valid" / "dog" / "0.png"]).one_batch()
    assert torch.equal(xb, dls.valid.one_batch()[0][1:2])


def test_from_folder_batch_tfms_augment_training_batches_only(tmp_path):
    flip = lambda x: x.flip(-1) + 1  # a visible change
    dls = ImageDataLoaders.from_folder(_make_folder(tmp_path), batch_tfms=flip, bs=2, device="cpu")
    assert dls.train.one_batch()[0].min() >= 1
    assert dls.valid.one_batch()[0].max() <= 1
    assert dls.decode(dls.valid.one_batch()[0]).max() <= 1
