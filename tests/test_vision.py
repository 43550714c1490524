"""Tests for coursekit.vision: bodies, heads, parameter groups, freezing, pretrained weights, and TTA."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from coursekit.learner import Learner
from coursekit.loaders import DataLoader, DataLoaders
from coursekit.models import AdaptiveConcatPool2d, Flatten, cifar_resnet, resnet18
from coursekit.utils import set_seed
from coursekit.vision import create_body, create_head, tta, tta_tfms, vision_learner


@pytest.fixture
def no_imagenet_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.delenv("COURSEKIT_FULL", raising=False)


def _dls(n_train=32, n_valid=16, size=32, channels=3, n_classes=3, bs=8):
    set_seed(0)
    x = torch.rand(n_train + n_valid, channels, size, size)
    y = torch.randint(0, n_classes, (n_train + n_valid,))
    dls = DataLoaders(DataLoader.from_tensors(x[:n_train], y[:n_train], bs=bs, shuffle=True, drop_last=True),
                      DataLoader.from_tensors(x[n_train:], y[n_train:], bs=bs), device="cpu")
    dls.vocab = [f"c{i}" for i in range(n_classes)]
    return dls


def test_create_body_cuts_a_torchvision_resnet_before_its_pooling_and_keeps_names():
    body = create_body(resnet18, pretrained=False)
    assert [n for n, _ in body.named_children()] == ["conv1", "bn1", "relu", "maxpool",
                                                     "layer1", "layer2", "layer3", "layer4"]
    assert body(torch.rand(1, 3, 64, 64)).shape == (1, 512, 2, 2)


def test_create_body_takes_a_cut_as_a_number_or_a_function():
    assert len(create_body(cifar_resnet, pretrained=False, cut=4)) == 4
    assert isinstance(create_body(cifar_resnet, pretrained=False, cut=lambda m: m.layer1), nn.Sequential)


def test_create_body_explains_when_it_cannot_find_the_pooling():
    with pytest.raises(ValueError, match="cut="):
        create_body(lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), pretrained=False)


def test_create_head_is_fastais_head_by_default():
    head = create_head(64, 5)
    kinds = [type(m) for m in head]
    assert kinds == [AdaptiveConcatPool2d, Flatten, nn.BatchNorm1d, nn.Dropout, nn.Linear, nn.ReLU,
                     nn.BatchNorm1d, nn.Dropout, nn.Linear]
    assert (head[4].in_features, head[4].out_features, head[8].out_features) == (128, 512, 5)
    assert (head[3].p, head[7].p) == (0.25, 0.5)
    assert head.eval()(torch.rand(2, 64, 3, 3)).shape == (2, 5)


def test_create_head_can_be_just_average_pooling_and_one_linear():
    head = create_head(64, 5, lin_ftrs=[], ps=0, concat_pool=False, first_bn=False)
    assert [type(m) for m in head] == [nn.AdaptiveAvgPool2d, Flatten, nn.Linear]


def test_vision_learner_for_a_resnet_has_three_parameter_groups_covering_every_parameter_once():
    learn = vision_learner(_dls(), cifar_resnet, pretrained=False)
    groups = learn.splitter(learn.model)
    assert len(groups) == 3
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids)) == len(list(learn.model.parameters()))
    assert groups[-1] == list(learn.model[1].parameters())


def test_vision_learner_without_resnet_stages_has_two_groups():
    def tiny(weights=None):
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))

    learn = vision_learner(_dls(), tiny, pretrained=False)
    assert len(learn.splitter(learn.model)) == 2


def test_vision_learner_gives_one_output_per_class():
    learn = vision_learner(_dls(n_classes=4), cifar_resnet, pretrained=False)
    assert learn.model.eval()(torch.rand(2, 3, 32, 32)).shape == (2, 4)


def test_pretrained_cifar_resnet_loads_the_course_weights_into_the_body():
    learn = vision_learner(_dls(), cifar_resnet)
    ref = cifar_resnet(weights="course")
    assert torch.equal(learn.model[0].conv1.weight, ref.conv1.weight)
    assert torch.equal(learn.model[0].layer3[0].conv2.weight, ref.layer3[0].conv2.weight)


def _step(learn):
    """One training step by hand: forward, backward, optimiser step."""
    if learn.opt is None:
        learn.create_opt()
    learn.model.train()
    xb, yb = learn.dls.one_batch()
    learn.loss_func(learn.model(xb), yb).backward()
    learn.opt.step()
    learn.opt.zero_grad()


def _convs_and_linears(module):
    return [p.detach().clone() for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) for p in m.parameters()]


def test_pretrained_learner_is_frozen_body_weights_stay_bit_identical_and_the_head_changes():
    learn = vision_learner(_dls(), cifar_resnet, lr=1e-2)
    body, head = _convs_and_linears(learn.model[0]), _convs_and_linears(learn.model[1])
    _step(learn)
    assert all(torch.equal(a, b) for a, b in zip(body, _convs_and_linears(learn.model[0])))
    assert not all(torch.equal(a, b) for a, b in zip(head, _convs_and_linears(learn.model[1])))


def test_frozen_learner_with_train_bn_false_keeps_every_body_parameter():
    learn = vision_learner(_dls(), cifar_resnet, lr=1e-2, train_bn=False)
    before = [p.detach().clone() for p in learn.model[0].parameters()]
    _step(learn)
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model[0].parameters()))


def test_untrained_learner_is_not_frozen():
    learn = vision_learner(_dls(), cifar_resnet, pretrained=False)
    before = learn.model[0].conv1.weight.detach().clone()
    _step(learn)
    assert not torch.equal(before, learn.model[0].conv1.weight)


def test_imagenet_weights_are_refused_offline_with_a_way_to_opt_in(no_imagenet_cache):
    with pytest.raises(RuntimeError, match="COURSEKIT_FULL=1"):
        vision_learner(_dls(), resnet18)


def _fake_download(calls):
    def load(url, *args, **kwargs):
        calls.append(url)
        torch.manual_seed(1)
        return torchvision.models.resnet18().state_dict()
    return load


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_imagenet_weights_are_loaded_with_torchvisions_default_when_asked(no_imagenet_cache, monkeypatch, how):
    calls = []
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", _fake_download(calls))
    if how == "environment":
        monkeypatch.setenv("COURSEKIT_FULL", "1")
    learn = vision_learner(_dls(), resnet18, pretrained="imagenet" if how == "argument" else True)
    assert calls == [torchvision.models.ResNet18_Weights.DEFAULT.url]
    torch.manual_seed(1)
    assert torch.equal(learn.model[0].conv1.weight, torchvision.models.resnet18().conv1.weight)


def test_imagenet_weights_already_in_torchs_cache_need_no_opt_in(no_imagenet_cache, monkeypatch):
    calls, url = [], torchvision.models.ResNet18_Weights.DEFAULT.url
    (Path(torch.hub.get_dir()) / "checkpoints").mkdir()
    (Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]).touch()
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", _fake_download(calls))
    vision_learner(_dls(), resnet18)
    assert calls == [url]


def test_resnet18_from_scratch_takes_28x28_digits_in_three_or_one_channels():
    for channels in (3, 1):
        learn = vision_learner(_dls(size=28, channels=channels, n_classes=2), resnet18, pretrained=False)
        assert learn.model[0].conv1.in_channels == channels
        assert learn.model.eval()(torch.rand(2, channels, 28, 28)).shape == (2, 2)


def test_one_channel_body_gives_a_grey_image_the_output_of_the_rgb_body():
    grey = torch.rand(2, 1, 32, 32)
    body1, body3 = create_body(cifar_resnet, n_in=1).eval(), create_body(cifar_resnet).eval()
    assert torch.allclose(body1(grey), body3(grey.expand(-1, 3, -1, -1)), atol=1e-4)


def test_vision_learner_explains_missing_n_out_and_a_model_given_for_arch():
    dls = _dls()
    dls.vocab = None
    with pytest.raises(ValueError, match="n_out"):
        vision_learner(dls, cifar_resnet, pretrained=False)
    with pytest.raises(TypeError, match="Learner"):
        vision_learner(_dls(), cifar_resnet(), pretrained=False)


def test_tta_tfms_flip_and_shift_images():
    x = torch.zeros(1, 1, 32, 32)
    x[0, 0, 10, 5] = 1
    flip, flip_shift, shift = tta_tfms(3)
    assert flip(x)[0, 0, 10, 26] == 1
    assert shift(x)[0, 0, 12, 7] == 1 and shift(x).sum() == 1  # 2 pixels down and right for 32x32
    assert flip_shift(x)[0, 0, 12, 28] == 1
    assert len(tta_tfms(20, flip=False)) == 20 and not tta_tfms(1, flip=False)[0].flip


def _tta_learner():
    dls = _dls(channels=1, n_classes=2)
    model = nn.Sequential(nn.Conv2d(1, 2, 5), nn.AdaptiveMaxPool2d(1), nn.Flatten())
    return Learner(dls, model)


def test_tta_with_beta_1_is_get_preds():
    learn = _tta_learner()
    preds, targs = learn.get_preds()
    tpreds, ttargs = tta(learn, beta=1.0)
    assert torch.equal(tpreds, preds) and torch.equal(ttargs, targs)


def test_tta_averages_the_augmented_predictions_and_blends_in_the_plain_ones():
    learn = _tta_learner()
    x, y = learn.dls.valid.tensors
    with torch.no_grad():
        plain = F.softmax(learn.model.eval()(x), 1)
        aug = sum(F.softmax(learn.model(t(x)), 1) for t in tta_tfms(4)) / 4
    preds, targs = tta(learn, n=4, beta=0.25)
    assert torch.allclose(preds, 0.25 * plain + 0.75 * aug, atol=1e-6)
    assert torch.equal(targs, y)
    assert not any(type(cb).__name__ == "_AugmentBatch" for cb in learn.cbs)  # its callback is gone again
