"""Tests for coursekit.models: shapes, the residual connection, dropout, and the course's weights."""
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
import torchvision
from torch import nn

from coursekit import models
from coursekit.models import (AdaptiveConcatPool2d, BnLayer, CifarResNet, Flatten, Resnet, Resnet2, ResnetLayer,
                              cifar_resnet, load_course_weights, simple_net)


def test_simple_net_is_linear_relu_linear_with_the_given_sizes():
    net = simple_net()
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Linear]
    assert (net[0].in_features, net[0].out_features, net[2].out_features) == (784, 30, 1)
    assert simple_net(10, 5, 3)(torch.randn(7, 10)).shape == (7, 3)


def test_bn_layer_halves_the_image_and_normalises_each_channel_in_training():
    layer = BnLayer(3, 8)
    out = layer(torch.randn(16, 3, 32, 32))
    assert out.shape == (16, 8, 16, 16)
    assert torch.allclose(out.mean((0, 2, 3)), torch.zeros(8), atol=1e-5)  # BatchNorm comes last


def test_bn_layer_keeps_the_size_with_stride_1_and_a_7x7_kernel():
    assert BnLayer(3, 4, stride=1, kernel_size=7)(torch.randn(2, 3, 12, 12)).shape == (2, 4, 12, 12)


def test_resnet_layer_adds_its_input():
    layer = ResnetLayer(4, 4, stride=1)
    x = torch.randn(2, 4, 6, 6)
    assert torch.allclose(layer(x), x + BnLayer.forward(layer, x))


def test_resnet_and_resnet2_give_one_score_per_class():
    x = torch.randn(2, 3, 32, 32)
    assert Resnet([10, 20, 40, 80, 160], 10)(x).shape == (2, 10)
    assert Resnet2([16, 32, 64, 128, 256], 10, p=0.2)(x).shape == (2, 10)


def test_resnet2_dropout_changes_training_outputs_but_not_eval_outputs():
    torch.manual_seed(0)
    model, x = Resnet2([8, 16, 32], 5, p=0.5), torch.randn(4, 3, 16, 16)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.drop.train()  # only the dropout in training mode, so BatchNorm cannot be what differs
    assert not torch.equal(model(x), model(x))


def test_cifar_resnet_maps_32x32_images_to_n_out_scores_with_a_few_hundred_k_parameters():
    model = cifar_resnet(n_out=7)
    assert model(torch.randn(3, 3, 32, 32)).shape == (3, 7)
    assert 100_000 < sum(p.numel() for p in model.parameters()) < 1_000_000


def test_cifar_resnet_is_named_like_torchvision_resnets():
    names = [n for n, _ in cifar_resnet().named_children()]
    assert names[-2:] == ["avgpool", "fc"] and "layer3" in names


def test_adaptive_concat_pool_stacks_max_then_average():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]]]])
    assert AdaptiveConcatPool2d()(x).flatten().tolist() == [6.0, 3.0]
    assert Flatten()(torch.zeros(2, 3, 1, 1)).shape == (2, 3)


def test_torchvision_resnets_are_re_exported():
    assert models.resnet18 is torchvision.models.resnet18
    assert models.resnet34 is torchvision.models.resnet34 and models.resnet50 is torchvision.models.resnet50


def test_course_weights_load_and_give_the_shipped_values():
    model = cifar_resnet(weights="course")
    state = torch.load(models.WEIGHTS_DIR / "cifar_resnet.pt", weights_only=True)
    assert torch.equal(model.fc.weight, state["fc.weight"].float())
    assert not torch.equal(model.fc.weight, CifarResNet().fc.weight)


def _vendored_cifar_test_images():
    """Return the vendored CIFAR-10 `test/` images (never used to train the course weights) and their labels."""
    archive = Path(models.__file__).parent / "datasets" / "cifar10.tar.gz"
    classes = "airplane automobile bird cat deer dog frog horse ship truck".split()
    xs, ys = [], []
    with tarfile.open(archive) as tar:
        for m in tar:
            parts = m.name.split("/")
            if m.isfile() and parts[1] == "test":
                xs.append(np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB")))
                ys.append(classes.index(parts[2]))
    return torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 255, torch.tensor(ys)


def test_course_weights_classify_unseen_cifar_images_far_better_than_chance():
    x, y = _vendored_cifar_test_images()
    with torch.no_grad():
        acc = (cifar_resnet(weights="course").eval()(x).argmax(1) == y).float().mean().item()
    assert len(y) == 1000 and acc > 0.6  # a random model gets about 0.1


def test_course_weights_file_is_small():
    assert (models.WEIGHTS_DIR / "cifar_resnet.pt").stat().st_size <= 2 * 1024 * 1024


def test_course_weights_for_a_missing_name_say_what_exists(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="train_weights"):
        load_course_weights(CifarResNet(), "cifar_resnet")


def test_course_weights_refuse_a_model_of_another_shape():
    with pytest.raises(RuntimeError, match="n_out=10"):
        cifar_resnet(n_out=3, weights="course")


def test_cifar8_course_weights_load_with_eight_outputs_and_never_saw_a_cat_or_a_dog():
    from coursekit.models import cifar8_resnet

    model = cifar8_resnet(weights="course")
    state = torch.load(models.WEIGHTS_DIR / "cifar8_resnet.pt", weights_only=True)
    assert model.fc.out_features == 8 and torch.equal(model.fc.weight, state["fc.weight"].float())
    assert (models.WEIGHTS_DIR / "cifar8_resnet.pt").stat().st_size <= 1024 * 1024
    readme = (models.WEIGHTS_DIR / "README.md").read_text()
    section = readme[readme.index("<!-- weights: cifar8_resnet -->"):readme.index("<!-- end: cifar8_resnet -->")]
    classes = section.split("; classes ")[1].split(" (output index order)")[0].split(", ")
    assert classes == ["airplane", "automobile", "bird", "deer", "frog", "horse", "ship", "truck"]
    with pytest.raises(RuntimeError, match="n_out=8"):
        cifar8_resnet(n_out=10, weights="course")
