"""Tests for coursekit.image_data: Normalize, Resize, labelling, augmentation, ImageDataLoaders, show_batch, summary."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from coursekit.image_data import (AffineAugment, ImageDataLoaders, Normalize, RegexLabeller, Resize, aug_transforms,
                                  get_image_files, parent_label, using_attr)
from coursekit.lists import L


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


def test_from_folder_vocab_keeps_only_those_classes_and_names_the_folders_it_lacks(tmp_path):
    path = _make_folder(tmp_path)
    dls = ImageDataLoaders.from_folder(path, vocab=["dog"], bs=1, device="cpu")
    assert dls.vocab == ["dog"] and dls.train.n == 3 and dls.valid.n == 1
    assert all(f.parent.name == "dog" for f in dls.train.items + dls.valid.items)
    with pytest.raises(ValueError, match=r"no folder for \['bird'\]; the folders are \['cat', 'dog'\]"):
        ImageDataLoaders.from_folder(path, vocab=["dog", "bird"], device="cpu")


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


def _make_named(root, n=4, size=(8, 8)):
    """Write tiny images named '<class>_<number>.png' into one folder: cats dark, dogs bright."""
    root.mkdir(exist_ok=True)
    for cls, value in [("dog", 200), ("cat", 10)]:
        for i in range(n):
            Image.new("RGB", size, (value, value, value)).save(root / f"{cls}_{i:04d}.png")
    return sorted(root.iterdir())


def test_parent_label_is_the_folder_name():
    assert parent_label(Path("data") / "train" / "dog" / "0.png") == "dog"


def test_regex_labeller_takes_the_first_group_of_a_path_or_a_string():
    label = RegexLabeller(r"^([a-z_]+)_\d+\.jpg$")
    assert label("great_pyrenees_173.jpg") == "great_pyrenees"
    assert RegexLabeller(r"/([a-z]+)_\d+\.jpg$")(Path("pets") / "dog_12.jpg") == "dog"


def test_regex_labeller_match_only_looks_at_the_start():
    assert RegexLabeller(r"(\d+)")("dog_12.jpg") == "12"
    with pytest.raises(ValueError, match="does not match 'dog_12.jpg'"):
        RegexLabeller(r"(\d+)", match=True)("dog_12.jpg")


def test_regex_labeller_without_a_group_says_to_add_parentheses():
    with pytest.raises(ValueError, match="no group"):
        RegexLabeller(r"[a-z]+")("dog_12.jpg")


def test_using_attr_applies_the_function_to_the_attribute():
    f = using_attr(RegexLabeller(r"^(.+)_\d+"), "name")
    assert f(Path("anywhere") / "cat_3.png") == "cat"
    assert repr(f) == "using_attr(RegexLabeller('^(.+)_\\\\d+'), 'name')"


def test_from_name_re_labels_by_file_name_with_a_reproducible_split(tmp_path):
    files = _make_named(tmp_path / "named")
    a = ImageDataLoaders.from_name_re(tmp_path, files, r"^([a-z]+)_\d+\.png$", valid_pct=0.25, seed=1, bs=2,
                                      device="cpu")
    b = ImageDataLoaders.from_name_re(tmp_path, files, r"^([a-z]+)_\d+\.png$", valid_pct=0.25, seed=1, device="cpu")
    assert a.vocab == ["cat", "dog"] and a.valid.items == b.valid.items and len(a.valid.items) == 2
    xb, yb = a.valid.one_batch()
    expected = [a.vocab.index(f.name.split("_")[0]) for f in a.valid.items]
    assert yb.tolist() == expected
    assert torch.allclose(xb[:, 0, 0, 0], torch.where(yb == 0, 10 / 255, 200 / 255))


def test_from_name_func_with_a_label_only_in_validation_says_so(tmp_path):
    files = _make_named(tmp_path / "named", n=1)  # one cat, one dog: one of them lands in validation alone
    with pytest.raises(ValueError, match="no training images"):
        ImageDataLoaders.from_name_func(tmp_path, files, lambda name: name[:3], valid_pct=0.5, seed=0, device="cpu")


def _augment(**kwargs):
    return AffineAugment(**{"min_scale": 1.0, "max_rotate": 0.0, "do_flip": False, **kwargs})


def test_affine_augment_with_nothing_random_gives_back_the_images():
    x = torch.rand(2, 3, 6, 6)
    assert torch.allclose(_augment()(x), x, atol=1e-5)


def test_affine_augment_flip_mirrors_each_image_or_leaves_it():
    torch.manual_seed(0)
    x = torch.rand(16, 1, 4, 4)
    out = _augment(do_flip=True)(x)
    flipped = [torch.allclose(o, i.flip(-1), atol=1e-5) for o, i in zip(out, x)]
    kept = [torch.allclose(o, i, atol=1e-5) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_affine_augment_crops_stay_inside_the_image():
    torch.manual_seed(0)
    m = AffineAugment(min_scale=0.5, max_rotate=0.0, do_flip=False).matrices(200)
    side, shift = m[:, 0, 0], m[:, :2, 2]
    assert side.min() >= 0.5 ** 0.5 - 1e-6 and side.max() <= 1
    assert ((shift.abs() + side[:, None]) <= 1 + 1e-6).all()


def test_affine_augment_resizes_to_size_and_valid_does_the_same_without_randomness():
    x = torch.rand(3, 3, 8, 8)
    aug = AffineAugment(size=4, min_scale=0.5, max_rotate=30)
    assert aug(x).shape == (3, 3, 4, 4)
    assert torch.equal(aug.valid(x), aug.valid(x))
    assert torch.allclose(aug.valid(x), torch.nn.functional.avg_pool2d(x, 2), atol=1e-5)  # 2x down: 2x2 means


def test_rotation_leaves_empty_corners_with_zeros_padding_but_not_with_reflection():
    torch.manual_seed(0)
    x = torch.ones(1, 1, 16, 16)
    turn = torch.tensor([[[0.7071, -0.7071, 0.0], [0.7071, 0.7071, 0.0]]])  # 45 degrees
    zeros, reflect = AffineAugment(pad_mode="zeros"), AffineAugment(pad_mode="reflection")
    assert zeros._resample(x, turn)[0, 0, 0, 0] < 0.1
    assert torch.allclose(reflect._resample(x, turn), x)


def test_affine_augment_refuses_uint8_images():
    with pytest.raises(TypeError, match="after Normalize"):
        AffineAugment()(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))


def test_aug_transforms_crop_training_batches_and_resize_validation_batches(tmp_path):
    files = _make_named(tmp_path / "named")
    dls = ImageDataLoaders.from_name_re(tmp_path, files, r"^([a-z]+)_", valid_pct=0.25, seed=1, bs=2,
                                        normalize="imagenet", batch_tfms=aug_transforms(size=4, min_scale=0.5),
                                        device="cpu")
    assert dls.train.one_batch()[0].shape == (2, 3, 4, 4)
    xb, yb = dls.valid.one_batch()
    assert xb.shape == (2, 3, 4, 4) and torch.equal(xb, dls.valid.one_batch()[0])
    decoded = dls.decode(xb)  # the chain undoes the normalisation
    assert torch.allclose(decoded[:, 0, 0, 0], torch.where(yb == 0, 10 / 255, 200 / 255), atol=1e-5)


def test_show_batch_titles_each_image_with_its_label(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dls = ImageDataLoaders.from_name_re(tmp_path, _make_named(tmp_path / "named"), r"^([a-z]+)_", bs=4, seed=0,
                                        device="cpu")
    fig = dls.show_batch(max_n=4)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 4 and set(titles) <= {"cat", "dog"}
    fig = dls.show_batch(max_n=3, unique=True)
    assert len({ax.get_title() for ax in fig.axes if ax.get_title()}) == 1
    plt.close("all")


def test_summary_shows_each_step_and_warns_when_a_batch_transform_enlarges(tmp_path, capsys):
    dls = ImageDataLoaders.from_name_re(tmp_path, _make_named(tmp_path / "named"), r"^([a-z]+)_", bs=2, seed=0,
                                        item_tfms=Resize(4), batch_tfms=aug_transforms(size=8), device="cpu")
    dls.summary()
    out = capsys.readouterr().out
    for step in ["1 items", "2 label", "3 decode", "4 item tfm", "5 batch", "6 batch tfm"]:
        assert step in out
    assert "uint8 (3, 4, 4)" in out and "float32 (2, 3, 8, 8)" in out
    assert "enlarges the images from 4 to 8" in out


def test_summary_warns_when_every_file_has_its_own_label(tmp_path, capsys):
    files = _make_named(tmp_path / "named", n=4)
    dls = ImageDataLoaders.from_name_func(tmp_path, files, lambda name: name, valid_pct=0.0, device="cpu", bs=2)
    dls.summary()
    assert "8 classes for 8 items" in capsys.readouterr().out


def test_get_image_files_returns_a_sorted_L_of_images_only(tmp_path):
    files = _make_named(tmp_path / "named", n=2)
    (tmp_path / "named" / "notes.txt").write_text("not an image")
    found = get_image_files(tmp_path)
    assert isinstance(found, L) and list(found) == files and len(found) == 4


def test_normalize_repr_shows_its_statistics():
    assert repr(Normalize()) == "Normalize()"
    assert repr(Normalize([0.5], [0.25])) == "Normalize(mean=[0.5], std=[0.25])"
