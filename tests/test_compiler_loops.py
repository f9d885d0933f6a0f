"""``tapegrad.compile`` in the loops users write: epochs with a smaller last batch, batches
sliced from one tensor, batch sizes that cycle. One program per distinct shape, never a crash,
never a silent fall-back to eager execution; every value equals the eager loop's."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import tapegrad
from tapegrad import nn

F32 = {"rtol": 2e-5, "atol": 2e-6}

_COMPILES: list = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, _secs, **_: (
        _COMPILES.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
)


def _model(seed: int) -> nn.Module:
    tapegrad.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))


def _make_step(model, opt):
    loss_fn = nn.MSELoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _pair(seed: int):
    model = _model(seed)
    opt = tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt, _make_step(model, opt)


def _dataset(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 6)).astype(np.float32), rng.standard_normal((n, 2)).astype(
        np.float32
    )


def _assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        np.testing.assert_allclose(pa.detach().numpy(), pb.detach().numpy(), err_msg=name, **F32)
        np.testing.assert_allclose(pa.grad.numpy(), pb.grad.numpy(), err_msg=name, **F32)


def test_the_example_of_the_issue_runs_at_a_new_shape_after_two_calls():
    torch = pytest.importorskip("torch")
    f = tapegrad.compile(lambda x: (x * 2).sum())
    for shape in [(5, 3), (5, 3), (4, 3), (5, 3), (4, 3)]:
        expected = (torch.ones(*shape) * 2).sum().item()
        assert f(tapegrad.ones(*shape)).item() == expected
    assert f.trace_count == 2


def test_an_epoch_over_fresh_tensors_with_a_smaller_last_batch():
    X, Y = _dataset(20)
    eager_model, _, eager_step = _pair(0)
    compiled_model, _, plain_step = _pair(0)
    step = tapegrad.compile(plain_step)
    compiles = []
    for epoch in range(3):
        for i in range(0, 20, 8):  # batches of 8, 8 and 4
            x, y = tapegrad.tensor(X[i : i + 8]), tapegrad.tensor(Y[i : i + 8])
            start = len(_COMPILES)
            loss = step(x, y)
            if epoch:
                compiles.append(len(_COMPILES) - start)
            np.testing.assert_allclose(loss.item(), eager_step(x, y).item(), **F32)
    assert step.trace_count == 2  # one program per distinct shape
    assert compiles == [0] * 6  # later epochs compile nothing: no eager fall-back either
    assert not step._eager
    _assert_same_weights(compiled_model, eager_model)


def test_batch_sizes_cycling_among_three_shapes_give_three_programs():
    X, Y = _dataset(12, seed=1)
    eager_model, _, eager_step = _pair(1)
    compiled_model, _, plain_step = _pair(1)
    step = tapegrad.compile(plain_step)
    for n in [5, 3, 4] * 4:
        x, y = tapegrad.tensor(X[:n]), tapegrad.tensor(Y[:n])
        np.testing.assert_allclose(step(x, y).item(), eager_step(x, y).item(), **F32)
    assert step.trace_count == 3
    assert step.calls == 12
    _assert_same_weights(compiled_model, eager_model)


def test_a_parameter_replaced_by_one_of_another_shape_gets_a_new_program():
    eager_model, compiled_model = _model(2), _model(2)

    def make(model):
        return lambda x: model(x).sum()

    eager, compiled = make(eager_model), tapegrad.compile(make(compiled_model))
    x = tapegrad.tensor(_dataset(4, seed=2)[0])
    with tapegrad.no_grad():
        for _ in range(2):
            np.testing.assert_allclose(compiled(x).item(), eager(x).item(), **F32)
        for model in (eager_model, compiled_model):
            tapegrad.manual_seed(3)
            model[2] = nn.Linear(8, 5)
        for _ in range(2):
            np.testing.assert_allclose(compiled(x).item(), eager(x).item(), **F32)
    assert compiled.trace_count == 2


def test_an_epoch_over_views_of_one_tensor_with_a_smaller_last_batch():
    X, Y = _dataset(20, seed=4)
    X, Y = tapegrad.tensor(X), tapegrad.tensor(Y)
    eager_model, _, eager_step = _pair(4)
    compiled_model, _, plain_step = _pair(4)
    step = tapegrad.compile(plain_step)
    compiles = []
    for epoch in range(3):
        for i in range(0, 20, 8):  # X[0:8], X[8:16], X[16:20]
            start = len(_COMPILES)
            loss = step(X[i : i + 8], Y[i : i + 8])
            if epoch:
                compiles.append(len(_COMPILES) - start)
            np.testing.assert_allclose(
                loss.item(), eager_step(X[i : i + 8], Y[i : i + 8]).item(), **F32
            )
    assert step.trace_count == 2  # one program per shape, not one per offset
    assert compiles == [0] * 6
    assert not step._eager
    _assert_same_weights(compiled_model, eager_model)


def test_sixteen_equal_batches_sliced_from_one_tensor_share_one_program():
    X, Y = _dataset(64, seed=5)
    X, Y = tapegrad.tensor(X), tapegrad.tensor(Y)
    eager_model, _, eager_step = _pair(5)
    compiled_model, _, plain_step = _pair(5)
    step = tapegrad.compile(plain_step)
    for i in range(0, 64, 4):
        np.testing.assert_allclose(
            step(X[i : i + 4], Y[i : i + 4]).item(),
            eager_step(X[i : i + 4], Y[i : i + 4]).item(),
            **F32,
        )
    assert step.trace_count == 1
    _assert_same_weights(compiled_model, eager_model)


@pytest.mark.parametrize(
    "view",
    [
        lambda X, i: X[i : i + 2],
        lambda X, i: X[i],
        lambda X, i: X[:, i % 3],
        lambda X, i: X.narrow(0, i, 2),
        lambda X, i: X.select(1, i % 3),
        lambda X, i: X[i : i + 2, 1:],
    ],
    ids=["slice", "index", "column", "narrow", "select", "box"],
)
def test_a_view_argument_at_every_offset_reads_and_writes_its_own_elements(view):
    torch = pytest.importorskip("torch")

    def step(x):
        total = (x * x).sum()
        x.add_(1)
        return total

    compiled = tapegrad.compile(step)
    X = tapegrad.arange(18.0).reshape(6, 3)
    expected_X = torch.arange(18.0).reshape(6, 3)
    for i in range(5):
        total = compiled(view(X, i))
        assert total.item() == step(view(expected_X, i)).item()
        assert X.tolist() == expected_X.tolist()
    assert compiled.trace_count == 1


def test_a_list_argument_is_read_afresh_on_every_call():
    f = tapegrad.compile(lambda xs: xs[0] + xs[1])
    a = tapegrad.ones(2)
    for i in range(3):
        assert f([a, a * i]).tolist() == [1.0 + i, 1.0 + i]
    assert f.trace_count == 1
