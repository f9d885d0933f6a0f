"""``tapegrad.compile``: a compiled training step leaves exactly what the eager step leaves,
compiles once, retraces only when a guard changes, and refuses what cannot be traced."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad
from tapegrad import nn
from tapegrad.compiler import CACHE_SIZE_LIMIT, UntraceableError

F32 = {"rtol": 2e-5, "atol": 2e-6}


def _model(seed: int, dropout: float = 0.0, batchnorm: bool = False) -> nn.Module:
    tapegrad.manual_seed(seed)
    # No bias before BatchNorm (as usual): its exact gradient is zero, so its float gradient
    # is rounding noise, which Adam scales to full-size steps that no two fusions reproduce.
    layers = [nn.Linear(12, 16, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(16))
    layers += [nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3)]
    return nn.Sequential(*layers)


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = tapegrad.tensor(rng.standard_normal((8, 12)).astype(np.float32))
    y = tapegrad.tensor(rng.standard_normal((8, 3)).astype(np.float32))
    return x, y


def _make_step(model, opt):
    loss_fn = nn.MSELoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _assert_same_state(a: nn.Module, b: nn.Module, opt_a, opt_b) -> None:
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        np.testing.assert_allclose(pa.detach().numpy(), pb.detach().numpy(), err_msg=name, **F32)
        np.testing.assert_allclose(pa.grad.numpy(), pb.grad.numpy(), err_msg=name, **F32)
    for (name, ba), bb in zip(a.named_buffers(), b.buffers(), strict=True):
        np.testing.assert_allclose(ba.numpy(), bb.numpy(), err_msg=name, **F32)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        sa, sb = opt_a.state.get(pa, {}), opt_b.state.get(pb, {})
        assert list(sa) == list(sb)
        for k in sa:
            np.testing.assert_allclose(sa[k].numpy(), sb[k].numpy(), err_msg=k, **F32)


OPTIMIZERS = {
    "SGD-momentum": lambda params: tapegrad.optim.SGD(params, lr=0.05, momentum=0.9),
    "Adam": lambda params: tapegrad.optim.Adam(params, lr=1e-2),
}


@pytest.mark.parametrize("dropout", [0.0, 0.5])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_ten_compiled_steps_leave_what_ten_eager_steps_leave(name, dropout):
    eager_model = _model(0, dropout, batchnorm=True)
    compiled_model = _model(0, dropout, batchnorm=True)
    eager_opt = OPTIMIZERS[name](eager_model.parameters())
    compiled_opt = OPTIMIZERS[name](compiled_model.parameters())
    eager_step = _make_step(eager_model, eager_opt)
    compiled_step = tapegrad.compile(_make_step(compiled_model, compiled_opt))
    x, y = _data()
    tapegrad.manual_seed(7)  # the same random key for both runs: the same Dropout masks
    eager_losses = [eager_step(x, y).item() for _ in range(10)]
    eager_key = tapegrad.get_rng_state().tolist()
    tapegrad.manual_seed(7)
    compiled_losses = [compiled_step(x, y).item() for _ in range(10)]
    np.testing.assert_allclose(compiled_losses, eager_losses, **F32)
    assert tapegrad.get_rng_state().tolist() == eager_key  # the key advanced as in eager mode
    _assert_same_state(compiled_model, eager_model, compiled_opt, eager_opt)
    assert compiled_step.trace_count == 1
    if dropout:
        assert len(set(np.round(eager_losses, 5))) == 10  # masks differ from step to step


def test_a_manual_sgd_step_under_no_grad_compiles():
    eager_model, compiled_model = _model(1), _model(1)
    loss_fn = nn.MSELoss(reduction="sum")

    def make(model):
        def step(x, y, lr):
            loss = loss_fn(model(x), y)
            model.zero_grad()
            loss.backward()
            with tapegrad.no_grad():
                for p in model.parameters():
                    p -= lr * p.grad
            return loss

        return step

    eager, compiled = make(eager_model), tapegrad.compile(make(compiled_model))
    x, y = _data(1)
    for _ in range(5):
        np.testing.assert_allclose(compiled(x, y, 1e-3).item(), eager(x, y, 1e-3).item(), **F32)
    for pa, pb in zip(compiled_model.parameters(), eager_model.parameters(), strict=True):
        np.testing.assert_allclose(pa.detach().numpy(), pb.detach().numpy(), **F32)
        assert pa.is_leaf
        assert pa.requires_grad
    assert compiled.trace_count == 1
    compiled(x, y, 1e-4)  # a new Python scalar argument is a new guard
    assert compiled.trace_count == 2


def test_the_function_compiles_once_over_a_hundred_same_shaped_calls():
    model = _model(2)
    opt = tapegrad.optim.Adam(model.parameters(), lr=1e-3)
    step = tapegrad.compile(_make_step(model, opt))
    rng = np.random.default_rng(2)
    for _ in range(100):
        x = tapegrad.tensor(rng.standard_normal((8, 12)).astype(np.float32))
        y = tapegrad.tensor(rng.standard_normal((8, 3)).astype(np.float32))
        step(x, y)
    assert step.calls == 100
    assert step.trace_count == 1


def test_a_scheduler_stepping_every_call_causes_no_retrace():
    eager_model, compiled_model = _model(3), _model(3)
    eager_opt = tapegrad.optim.SGD(eager_model.parameters(), lr=0.1, momentum=0.9)
    compiled_opt = tapegrad.optim.SGD(compiled_model.parameters(), lr=0.1, momentum=0.9)
    eager_sched = tapegrad.optim.lr_scheduler.CosineAnnealingLR(eager_opt, T_max=10)
    compiled_sched = tapegrad.optim.lr_scheduler.CosineAnnealingLR(compiled_opt, T_max=10)
    eager_step = _make_step(eager_model, eager_opt)
    compiled_step = tapegrad.compile(_make_step(compiled_model, compiled_opt))
    x, y = _data(3)
    for _ in range(12):
        np.testing.assert_allclose(compiled_step(x, y).item(), eager_step(x, y).item(), **F32)
        eager_sched.step()
        compiled_sched.step()
    assert compiled_step.trace_count == 1
    _assert_same_state(compiled_model, eager_model, compiled_opt, eager_opt)


def test_a_changed_learning_rate_or_beta_is_an_input_not_a_constant():
    model = _model(4)
    opt = tapegrad.optim.Adam(model.parameters(), lr=1e-3)
    step = tapegrad.compile(_make_step(model, opt))
    x, y = _data(4)
    step(x, y)
    step(x, y)
    before = [p.detach().numpy().copy() for p in model.parameters()]
    opt.param_groups[0]["lr"] = 0.0  # a zero learning rate must freeze the weights
    step(x, y)
    after = [p.detach().numpy() for p in model.parameters()]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    opt.param_groups[0]["betas"] = (0.5, 0.9)
    step(x, y)
    assert step.trace_count == 1


def test_guards_retrace_on_a_shape_change_and_on_train_eval():
    model = _model(5, dropout=0.5, batchnorm=True)
    forward = tapegrad.compile(lambda x: model(x).sum())
    x, _ = _data(5)
    with tapegrad.no_grad():
        forward(x)
        forward(x)
        assert forward.trace_count == 1
        forward(x[:4])
        assert forward.trace_count == 2
        model.eval()
        a, b = forward(x), forward(x)
        assert forward.trace_count == 3
        assert a.item() == b.item()  # eval: no Dropout, running statistics
        model.train()
        forward(x)
        assert forward.trace_count == 3  # back to the first program
    forward(x)
    assert forward.trace_count == 4  # grad mode on is another guard


def test_batchnorm_running_statistics_are_written_back():
    compiled_model, eager_model = _model(6, batchnorm=True), _model(6, batchnorm=True)
    x, _ = _data(6)
    forward = tapegrad.compile(lambda x: compiled_model(x))
    for _ in range(3):
        forward(x)
        eager_model(x)
    bn_c, bn_e = compiled_model[1], eager_model[1]
    np.testing.assert_allclose(bn_c.running_mean.numpy(), bn_e.running_mean.numpy(), **F32)
    np.testing.assert_allclose(bn_c.running_var.numpy(), bn_e.running_var.numpy(), **F32)
    assert bn_c.num_batches_tracked.item() == 3


def _uses_item(model, x):
    loss = model(x).sum()
    if loss.item() > 0:
        return loss
    return -loss


def test_code_that_cannot_be_traced_gets_a_clear_error_naming_the_line():
    model = _model(7)
    step = tapegrad.compile(lambda x: _uses_item(model, x))
    x, _ = _data(7)
    with pytest.raises(UntraceableError, match=r"Tensor\.item\(\) needs a tensor's value") as info:
        step(x)
    message = str(info.value)
    assert "if loss.item() > 0:" in message
    assert "test_compiler.py" in message
    assert "fullgraph=False" in message
    weights = [p.detach().numpy() for p in model.parameters()]
    assert all(np.isfinite(w).all() for w in weights)  # the failed trace left the model usable
    assert model(x).shape == (8, 3)


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (lambda t: t.tolist(), r"Tensor\.tolist\(\)"),
        (lambda t: print(t), "Printing a tensor"),
        (lambda t: bool(t.sum() > 0), "The truth value of a tensor"),
        (lambda t: float(t.sum()), "Converting a tensor to a Python number"),
    ],
)
def test_every_way_of_reading_a_value_is_refused(body, what):
    with pytest.raises(UntraceableError, match=what):
        tapegrad.compile(body)(tapegrad.ones(2))


def test_fullgraph_false_falls_back_to_eager_with_a_warning():
    model = _model(8)
    step = tapegrad.compile(lambda x: _uses_item(model, x), fullgraph=False)
    x, _ = _data(8)
    with pytest.warns(UserWarning, match="cannot be compiled and runs eagerly"):
        out = step(x)
    expected = _uses_item(model, x)
    assert out.item() == expected.item()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert step(x).item() == expected.item()  # eager from now on, no second warning


def test_too_many_guards_warn_and_run_eagerly():
    f = tapegrad.compile(lambda x, k: x * k)
    x = tapegrad.ones(2)
    for k in range(CACHE_SIZE_LIMIT):
        assert f(x, k).tolist() == [k, k]
    with pytest.warns(UserWarning, match="hit CACHE_SIZE_LIMIT"):
        assert f(x, 100).tolist() == [100, 100]
    assert f.trace_count == CACHE_SIZE_LIMIT


def test_a_scheduler_stepped_inside_the_compiled_function_is_refused():
    model = _model(9)
    opt = tapegrad.optim.SGD(model.parameters(), lr=0.1)
    sched = tapegrad.optim.lr_scheduler.StepLR(opt, step_size=1)
    inner = _make_step(model, opt)

    def step(x, y):
        loss = inner(x, y)
        sched.step()
        return loss

    x, y = _data(9)
    compiled = tapegrad.compile(step)
    with pytest.raises(UntraceableError, match=r"scheduler\.step\(\) outside"):
        compiled(x, y)
    assert sched.last_epoch == 0  # nothing of the refused trace is left
    assert opt.param_groups[0]["lr"] == 0.1
    assert all(p.grad is None for p in model.parameters())


def test_a_global_tensor_written_by_the_function_is_lifted():
    counter = tapegrad.zeros(())

    def count(x):
        counter.add_(1)
        return x * counter

    compiled = tapegrad.compile(count)
    assert compiled(tapegrad.ones(2)).tolist() == [1.0, 1.0]
    assert compiled(tapegrad.ones(2)).tolist() == [2.0, 2.0]
    assert counter.item() == 2.0


def test_a_compiled_module_trains_eagerly_with_the_same_gradients():
    eager_model = _model(10, batchnorm=True)
    compiled_model = _model(10, batchnorm=True)
    compiled = tapegrad.compile(compiled_model)
    x, y = _data(10)
    loss_fn = nn.MSELoss()
    for _ in range(2):
        out = compiled(x)
        assert type(out.grad_fn).__name__ == "CompiledFunctionBackward"
        loss_fn(out, y).backward()
        loss_fn(eager_model(x), y).backward()
    for pa, pb in zip(compiled_model.parameters(), eager_model.parameters(), strict=True):
        np.testing.assert_allclose(pa.grad.numpy(), pb.grad.numpy(), **F32)
    for ba, bb in zip(compiled_model.buffers(), eager_model.buffers(), strict=True):
        np.testing.assert_allclose(ba.numpy(), bb.numpy(), **F32)
    assert list(compiled.state_dict()) == [f"_orig_mod.{k}" for k in eager_model.state_dict()]


def test_a_compiled_module_input_gradient_and_eval():
    model = _model(11, dropout=0.5)
    compiled = tapegrad.compile(model)
    x, _ = _data(11)
    x.requires_grad_()
    compiled(x).sum().backward()
    g_compiled = x.grad.numpy().copy()
    assert np.isfinite(g_compiled).all()
    model.eval()
    x.grad = None
    compiled(x).sum().backward()
    x2 = x.detach().requires_grad_()
    model(x2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), **F32)


def test_decorator_forms():
    @tapegrad.compile
    def double(x):
        return x * 2

    @tapegrad.compile(fullgraph=True)
    def triple(x):
        return x * 3

    assert double(tapegrad.ones(2)).tolist() == [2.0, 2.0]
    assert triple(tapegrad.ones(2)).tolist() == [3.0, 3.0]
    assert tapegrad.compile(double, disable=True) is double


def test_gradients_accumulate_across_compiled_calls_as_in_eager_mode():
    eager_model, compiled_model = _model(12), _model(12)
    loss_fn = nn.MSELoss()

    def make(model):
        def accumulate(x, y):
            loss = loss_fn(model(x), y)
            loss.backward()  # no zero_grad: .grad accumulates over calls
            return loss

        return accumulate

    eager, compiled = make(eager_model), tapegrad.compile(make(compiled_model))
    x, y = _data(12)
    for _ in range(4):
        eager(x, y)
        compiled(x, y)
    for pa, pb in zip(compiled_model.parameters(), eager_model.parameters(), strict=True):
        np.testing.assert_allclose(pa.grad.numpy(), pb.grad.numpy(), **F32)
    assert compiled.trace_count == 1
    compiled_model.zero_grad()  # .grad set to None outside: a new guard, traced once more
    compiled(x, y)
    eager_model.zero_grad()
    eager(x, y)
    for pa, pb in zip(compiled_model.parameters(), eager_model.parameters(), strict=True):
        np.testing.assert_allclose(pa.grad.numpy(), pb.grad.numpy(), **F32)


def test_a_parameter_returned_unchanged_keeps_its_values():
    model = _model(13)
    bias = model[0].bias
    f = tapegrad.compile(lambda x: (model(x).sum(), bias, bias * 2))
    x, _ = _data(13)
    with tapegrad.no_grad():
        for _ in range(3):
            total, same, doubled = f(x)
    np.testing.assert_array_equal(same.numpy(), bias.detach().numpy())
    np.testing.assert_allclose(doubled.numpy(), 2 * bias.detach().numpy())
    np.testing.assert_allclose(total.item(), model(x).sum().item(), **F32)


def test_an_array_sharing_a_parameters_buffer_survives_donation():
    model = _model(14)
    opt = tapegrad.optim.SGD(model.parameters(), lr=0.1)
    weight = model[0].weight
    step = tapegrad.compile(_make_step(model, opt))
    x, y = _data(14)
    step(x, y)  # the first step runs eagerly (it creates the gradients)
    with pytest.warns(UserWarning, match="To copy construct from a tensor"):
        alias = tapegrad.tensor(weight, device="cpu")  # shares weight's buffer
    before = alias.numpy().copy()
    for _ in range(3):
        step(x, y)
    np.testing.assert_array_equal(alias.numpy(), before)
    assert not np.array_equal(weight.detach().numpy(), before)


def test_index_tensors_trace_and_value_dependent_shapes_are_refused():
    acc = tapegrad.zeros(5)

    @tapegrad.compile
    def add_at(i, v):
        acc.index_add_(0, i, v)
        return acc[i].sum()

    assert add_at(tapegrad.tensor([1, 3]), tapegrad.ones(2)).item() == 2.0
    assert add_at(tapegrad.tensor([1, 3]), tapegrad.ones(2)).item() == 4.0
    assert acc.tolist() == [0.0, 2.0, 0.0, 2.0, 0.0]
    with pytest.raises(UntraceableError, match="Indexing with a boolean mask"):
        tapegrad.compile(lambda x: x[x > 0].sum())(tapegrad.ones(3))
    with pytest.raises(UntraceableError, match=r"nonzero\(\)"):
        tapegrad.compile(lambda x: x.nonzero())(tapegrad.ones(3))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_plain_model_after_an_eager_warm_up_matches_eager(name):
    # The backward's structure is seen before the trace (eager steps), so the engine's replay
    # cache must not run inside the trace.
    def plain(seed):
        tapegrad.manual_seed(seed)
        return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))

    eager_model, compiled_model = plain(15), plain(15)
    eager_opt = OPTIMIZERS[name](eager_model.parameters())
    compiled_opt = OPTIMIZERS[name](compiled_model.parameters())
    eager_step = _make_step(eager_model, eager_opt)
    compiled_step = tapegrad.compile(_make_step(compiled_model, compiled_opt))
    x, y = _data(15)
    for _ in range(5):
        expected = eager_step(x, y).item()  # eager first: its replay plan exists at the trace
        np.testing.assert_allclose(compiled_step(x, y).item(), expected, **F32)
    _assert_same_state(compiled_model, eager_model, compiled_opt, eager_opt)


def test_eager_reads_and_writes_between_compiled_steps_see_and_keep_the_weights():
    eager_model, compiled_model = _model(16), _model(16)
    eager_opt = tapegrad.optim.SGD(eager_model.parameters(), lr=0.1, momentum=0.9)
    compiled_opt = tapegrad.optim.SGD(compiled_model.parameters(), lr=0.1, momentum=0.9)
    eager_step = _make_step(eager_model, eager_opt)
    compiled_step = tapegrad.compile(_make_step(compiled_model, compiled_opt))
    x, y = _data(16)
    for i in range(6):
        np.testing.assert_allclose(compiled_step(x, y).item(), eager_step(x, y).item(), **F32)
        if i == 2:  # an eager read, then an eager write, of the (packed) weights
            _assert_same_state(compiled_model, eager_model, compiled_opt, eager_opt)
            with tapegrad.no_grad():
                compiled_model[0].weight.mul_(0.5)
                eager_model[0].weight.mul_(0.5)
    _assert_same_state(compiled_model, eager_model, compiled_opt, eager_opt)
    assert compiled_step.trace_count == 1


def test_a_gradient_someone_holds_is_never_overwritten_by_a_later_step():
    model = _model(17)
    opt = tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = tapegrad.compile(_make_step(model, opt))
    x, y = _data(17)
    for _ in range(3):
        step(x, y)
    held = model[0].weight.grad
    row = model[3].weight.grad[0]  # a view of another gradient
    held_values, row_values = held.numpy().copy(), row.numpy().copy()
    for _ in range(2):
        step(x, y)
    np.testing.assert_array_equal(held.numpy(), held_values)
    np.testing.assert_array_equal(row.numpy(), row_values)
    assert model[0].weight.grad is not held
    assert model[0].weight.grad._version == 0


def test_a_view_of_a_parameter_sees_every_compiled_step():
    model = _model(18)
    opt = tapegrad.optim.SGD(model.parameters(), lr=0.1)
    step = tapegrad.compile(_make_step(model, opt))
    row = model[0].weight.detach()[1]  # made eagerly, before any compiled step
    x, y = _data(18)
    for _ in range(4):
        step(x, y)
        # the view first: reading the weight itself would unpack it
        np.testing.assert_array_equal(row.numpy(), model[0].weight.detach().numpy()[1])


def _structure_changes():
    """Between compiled calls: swap a parameter for a new one, swap a parameter's data, freeze
    a parameter. Each must be seen by the next call exactly as eager code sees it."""

    def swap_parameter(model):
        model[3].weight = nn.Parameter(model[3].weight.detach() * 0.5)

    def swap_data(model):
        model[0].bias.data = model[0].bias.detach() + 1.0

    def freeze(model):
        model[0].weight.requires_grad_(False)

    return [swap_parameter, swap_data, freeze]


@pytest.mark.parametrize("change", _structure_changes(), ids=lambda f: f.__name__)
def test_structure_changes_between_calls_are_seen_by_the_next_call(change):
    eager_model, compiled_model = _model(19), _model(19)
    x, y = _data(19)
    loss_fn = nn.MSELoss()

    def make(model):
        def step(x, y):
            model.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            with tapegrad.no_grad():
                for p in model.parameters():
                    if p.grad is not None:
                        p -= 0.1 * p.grad
            return loss

        return step

    eager_step, compiled_step = make(eager_model), tapegrad.compile(make(compiled_model))
    for _ in range(3):
        compiled_step(x, y)
        eager_step(x, y)
    old = list(compiled_model.parameters())
    old_values = [p.detach().numpy().copy() for p in old]
    change(eager_model)
    change(compiled_model)
    for _ in range(3):
        np.testing.assert_allclose(compiled_step(x, y).item(), eager_step(x, y).item(), **F32)
    for (name, pa), pb in zip(
        compiled_model.named_parameters(), eager_model.parameters(), strict=True
    ):
        np.testing.assert_allclose(pa.detach().numpy(), pb.detach().numpy(), err_msg=name, **F32)
        assert (pa.grad is None) == (pb.grad is None), name
    replaced = [p for p in old if all(p is not q for q in compiled_model.parameters())]
    for p, values in zip(old, old_values, strict=True):
        if any(p is q for q in replaced):  # no longer in the model: never written again
            np.testing.assert_array_equal(p.detach().numpy(), values)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_a_graph_that_saved_a_parameter_refuses_backward_after_a_step(compiled):
    model = _model(20)
    opt = tapegrad.optim.SGD(model.parameters(), lr=0.1)
    step = _make_step(model, opt)
    if compiled:
        step = tapegrad.compile(step)
    x, y = _data(20)
    for _ in range(3):
        step(x, y)
    w = model[0].weight
    out = (w * w).sum()  # saves w at its current version
    before = w._version
    step(x, y)
    assert w._version > before
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_a_scheduler_made_after_the_program_does_not_warn_about_the_step_order():
    model = _model(21)
    opt = tapegrad.optim.SGD(model.parameters(), lr=0.1)
    step = tapegrad.compile(_make_step(model, opt))
    x, y = _data(21)
    for _ in range(3):
        step(x, y)
    scheduler = tapegrad.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    step(x, y)
    scheduler.step()  # filterwarnings=error: PyTorch's "before optimizer.step()" would fail
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    assert step.trace_count == 1
