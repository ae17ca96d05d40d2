"""bench/step_ceiling.py counts a step's FLOPs with torch's formulas: the same total as
``FlopCounterMode``, and also through the double backward that ``FlopCounterMode`` refuses."""

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.step_ceiling import CountFlops


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.LeakyReLU(0.2), torch.nn.Conv2d(8, 4, 3)
    )


def test_counts_equal_flop_counter_mode_on_a_training_step():
    net = _net()
    x = torch.randn(2, 3, 16, 16)

    def step() -> None:
        net(x).square().mean().backward()

    ours = CountFlops()
    with ours:
        step()
    reference = FlopCounterMode(display=False)
    with reference:
        step()
    conv1, conv2 = _conv_flops()
    # forward; backward: conv2's input and weight gradients, conv1's weight gradient only
    # (x needs none), each as many multiply-adds as the forward convolution
    assert ours.total == reference.get_total_flops() == (conv1 + conv2) + (2 * conv2 + conv1)


def _conv_flops() -> tuple[int, int]:
    """FLOPs of the two forward convolutions on 2 images: outputs × taps × 2."""
    return 2 * 2 * 14 * 14 * 8 * 27, 2 * 2 * 12 * 12 * 4 * 72


def test_counts_through_a_gradient_penalty_double_backward():
    net = _net()
    point = torch.randn(2, 3, 16, 16, requires_grad=True)
    conv1, conv2 = _conv_flops()
    first = CountFlops()
    with first:  # forward and the gradient with respect to the input only
        grad = torch.autograd.grad(net(point).sum(), point, create_graph=True)[0]
    assert first.total == 2 * (conv1 + conv2)
    second = CountFlops()
    with second:  # through the gradient graph: at least both weight gradients
        grad.square().sum().backward()
    assert second.total >= conv1 + conv2
