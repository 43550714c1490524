"""Tests for coursekit.hooks: what hooks store, and that they always go away."""
import pytest
import torch
from torch import nn

from coursekit.hooks import Hook, Hooks, hook_output, hook_outputs


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_hook_output_stores_the_detached_output_of_the_layer():
    m, x = _model(), torch.randn(5, 3)
    with hook_output(m[0]) as h:
        m(x)
    assert torch.equal(h.stored, m[0](x).detach())
    assert not h.stored.requires_grad


def test_hook_output_keeps_the_graph_when_detach_is_false():
    m = _model()
    with hook_output(m[0], detach=False) as h:
        m(torch.randn(2, 3))
    assert h.stored.requires_grad


def test_hook_is_removed_after_the_with_block():
    m = _model()
    with hook_output(m[1]):
        assert len(m[1]._forward_hooks) == 1
    assert len(m[1]._forward_hooks) == 0


def test_hook_is_removed_even_when_the_block_raises():
    m = _model()
    with pytest.raises(RuntimeError):
        with hook_output(m[0]):
            m(torch.randn(2, 7))  # wrong input size
    assert len(m[0]._forward_hooks) == 0


def test_hooks_are_all_removed_even_when_the_block_raises():
    m = _model()
    with pytest.raises(ZeroDivisionError):
        with hook_outputs(m):
            1 / 0
    assert all(len(layer._forward_hooks) == 0 for layer in m)


def test_hook_outputs_stores_one_output_per_layer_in_order():
    m, x = _model(), torch.randn(4, 3)
    with hook_outputs(m) as hs:
        out = m(x)
    assert [tuple(s.shape) for s in hs.stored] == [(4, 4), (4, 4), (4, 2)]
    assert torch.equal(hs.stored[1], torch.relu(hs.stored[0]))
    assert torch.equal(hs.stored[2], out.detach())


def test_hook_with_grad_stores_the_gradient_at_the_output():
    m, x = _model(), torch.randn(4, 3)
    with hook_output(m[2], grad=True) as h:
        (m(x) * torch.tensor([2.0, -3.0])).sum().backward()
    assert torch.equal(h.stored, torch.tensor([[2.0, -3.0]]).expand(4, 2))
    assert len(m[2]._backward_hooks) == 0


def test_hook_calls_a_custom_function_with_module_input_and_output():
    m, x = _model(), torch.randn(6, 3)
    with Hook(m[0], lambda mod, inp, out: (mod, inp[0].shape, out.mean().item())) as h:
        m(x)
    assert h.stored[0] is m[0] and h.stored[1] == (6, 3)
    assert h.stored[2] == pytest.approx(m[0](x).mean().item())


def test_remove_can_be_called_twice():
    m = _model()
    h = Hook(m[0], lambda *a: None)
    h.remove()
    h.remove()
    assert len(m[0]._forward_hooks) == 0


def test_hooks_index_and_length():
    m = _model()
    with Hooks([m[0], m[2]], lambda mod, i, o: o.shape[-1]) as hs:
        m(torch.randn(1, 3))
        assert len(hs) == 2 and hs[1].stored == 2 and hs.stored == [4, 2]


def test_a_hook_that_is_not_removed_keeps_running_and_a_removed_one_stops():
    m, calls = _model(), []
    h = Hook(m[0], lambda mod, inp, out: calls.append(out.shape) or len(calls))
    for _ in range(3):
        m(torch.randn(2, 3))
    assert len(calls) == 3 and h.stored == 3
    h.remove()
    m(torch.randn(2, 3))
    assert len(calls) == 3 and repr(h).startswith("Hook(removed")


def test_forward_and_backward_hooks_on_one_layer_give_activations_and_their_gradients():
    m, x = _model(), torch.randn(4, 3)
    with hook_output(m[1]) as acts, hook_output(m[1], grad=True) as grads:
        out = m(x)
        (out ** 2).sum().backward()
    w = m[2].weight.detach()
    assert torch.allclose(grads.stored, 2 * out.detach() @ w)   # d(sum out^2)/d(relu) = 2 out W
    assert torch.equal(acts.stored, torch.relu(m[0](x)).detach())
    assert len(m[1]._forward_hooks) == 0 and len(m[1]._backward_hooks) == 0
