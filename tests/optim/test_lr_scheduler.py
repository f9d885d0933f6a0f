"""Learning-rate schedulers against PyTorch's: the learning rates (and cycled momenta) over 30
steps, exactly; state dicts; warnings and errors."""

import re
import warnings

import pytest

torch = pytest.importorskip("torch")
import tapegrad  # noqa: E402

SCHEDULERS = {
    "StepLR": lambda s, o: s.StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda s, o: s.MultiStepLR(o, milestones=[3, 10, 10, 20], gamma=0.3),
    "ExponentialLR": lambda s, o: s.ExponentialLR(o, gamma=0.93),
    "CosineAnnealingLR": lambda s, o: s.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    "CosineAnnealingLR-long": lambda s, o: s.CosineAnnealingLR(o, T_max=30),
    "LambdaLR": lambda s, o: s.LambdaLR(o, lambda epoch: 0.95**epoch),
    "LambdaLR-per-group": lambda s, o: s.LambdaLR(
        o, [lambda e: 1 / (e + 1), lambda e: 0.9 ** (e // 2)]
    ),
    "OneCycleLR": lambda s, o: s.OneCycleLR(o, max_lr=0.5, total_steps=30),
    "OneCycleLR-linear-three-phase": lambda s, o: s.OneCycleLR(
        o,
        max_lr=[0.5, 0.2],
        epochs=3,
        steps_per_epoch=10,
        anneal_strategy="linear",
        three_phase=True,
    ),
    "OneCycleLR-no-momentum": lambda s, o: s.OneCycleLR(
        o, max_lr=0.3, total_steps=30, cycle_momentum=False, pct_start=0.25, div_factor=10.0
    ),
}
OPTIMIZERS = {
    "SGD": lambda m, groups: m.optim.SGD(groups, lr=0.1, momentum=0.9),
    "Adam": lambda m, groups: m.optim.Adam(groups, lr=0.1),
}


def run(m, scheduler, optimizer, steps=30):
    a = m.tensor([1.0, 2.0], requires_grad=True)
    b = m.tensor([3.0], requires_grad=True)
    opt = OPTIMIZERS[optimizer](m, [{"params": [a]}, {"params": [b], "lr": 0.05}])
    sched = SCHEDULERS[scheduler](m.optim.lr_scheduler, opt)
    lrs = [sched.get_last_lr()]
    momenta = []
    for _ in range(steps):
        opt.zero_grad()
        ((a * a).sum() + (b * b).sum()).backward()
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
        momenta.append([g.get("momentum", g.get("betas")) for g in opt.param_groups])
    return lrs, momenta, sched.state_dict(), [p.tolist() for p in (a, b)]


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_learning_rates_match_torch_exactly(scheduler, optimizer):
    lrs, momenta, state, _ = run(tapegrad, scheduler, optimizer)
    expected_lrs, expected_momenta, expected_state, _ = run(torch, scheduler, optimizer)
    assert lrs == expected_lrs
    assert all(type(lr) is float for step in lrs for lr in step)
    assert momenta == expected_momenta
    state.pop("lr_lambdas", None)
    expected_state.pop("lr_lambdas", None)
    assert state == expected_state


def test_scheduled_training_matches_torch():
    import numpy as np

    _, _, _, params = run(tapegrad, "OneCycleLR", "Adam")
    _, _, _, expected = run(torch, "OneCycleLR", "Adam")
    for p, e in zip(params, expected, strict=True):
        np.testing.assert_allclose(p, e, rtol=1e-5, atol=1e-6)


def test_scheduler_sets_initial_lr_and_base_lrs(m):
    opt = m.optim.SGD([m.tensor([1.0], requires_grad=True)], lr=0.2)
    sched = m.optim.lr_scheduler.StepLR(opt, step_size=2)
    assert opt.param_groups[0]["initial_lr"] == 0.2
    assert sched.base_lrs == [0.2]
    assert sched.last_epoch == 0
    assert sched.get_last_lr() == [0.2]


def test_closed_form_with_an_epoch_argument_warns(m):
    opt = m.optim.SGD([m.tensor([1.0], requires_grad=True)], lr=1.0)
    sched = m.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    opt.step()
    with pytest.warns(UserWarning, match=re.escape("The epoch parameter in `scheduler.step()`")):
        sched.step(5)
    assert sched.get_last_lr() == [0.25]


def test_stepping_the_scheduler_before_the_optimizer_warns(m):
    opt = m.optim.SGD([m.tensor([1.0], requires_grad=True)], lr=1.0)
    sched = m.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    with pytest.warns(
        UserWarning, match=re.escape("Detected call of `lr_scheduler.step()` before")
    ):
        sched.step()


def test_no_warning_in_the_right_order(m):
    w = m.tensor([1.0], requires_grad=True)
    opt = m.optim.SGD([w], lr=1.0)
    sched = m.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    w.grad = m.tensor([1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        sched.step()
    assert opt._opt_called


def test_overriding_optimizer_step_after_creating_the_scheduler_warns(m):
    opt = m.optim.SGD([m.tensor([1.0], requires_grad=True)], lr=1.0)
    sched = m.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    opt.step = lambda closure=None: None
    with pytest.warns(UserWarning, match=re.escape("Seems like `optimizer.step()` has been")):
        sched.step()


def test_calling_get_lr_directly_warns(m):
    opt = m.optim.SGD([m.tensor([1.0], requires_grad=True)], lr=1.0)
    sched = m.optim.lr_scheduler.StepLR(opt, step_size=3)
    with pytest.warns(UserWarning, match=re.escape("please use `get_last_lr()`")):
        sched.get_lr()


def test_state_dict_round_trip_resumes_the_schedule(m):
    def make():
        opt = m.optim.SGD([m.tensor([1.0], requires_grad=True)], lr=1.0, momentum=0.9)
        return opt, m.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=12, eta_min=0.01)

    opt, sched = make()
    for _ in range(5):
        opt.step()
        sched.step()
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    for _ in range(5):
        opt.step()
        sched.step()
    opt2, sched2 = make()
    sched2.load_state_dict(saved_sched)
    opt2.load_state_dict(saved_opt)
    for _ in range(5):
        opt2.step()
        sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_lambda_state_dict_keeps_callable_objects_state(m):
    class Factor:
        def __init__(self):
            self.base = 0.5

        def __call__(self, epoch):
            return self.base**epoch

    opt = m.optim.SGD([m.tensor([1.0], requires_grad=True)], lr=1.0)
    sched = m.optim.lr_scheduler.LambdaLR(opt, Factor())
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"base": 0.5}]
    sd["lr_lambdas"] = [{"base": 0.25}]
    sched.load_state_dict(sd)
    assert sched.lr_lambdas[0].base == 0.25


def test_resuming_with_last_epoch_needs_initial_lr(m):
    opt = m.optim.SGD([m.tensor([1.0], requires_grad=True)], lr=1.0)
    with pytest.raises(KeyError, match="param 'initial_lr' is not specified in param_groups"):
        m.optim.lr_scheduler.StepLR(opt, step_size=2, last_epoch=3)


ERRORS = {
    "not-an-optimizer": lambda s, o: s.StepLR(object(), step_size=2),
    "lambdas-count": lambda s, o: s.LambdaLR(o, [lambda e: 1.0, lambda e: 2.0]),
    "onecycle-total-steps": lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=0),
    "onecycle-no-steps": lambda s, o: s.OneCycleLR(o, max_lr=0.1),
    "onecycle-epochs": lambda s, o: s.OneCycleLR(o, max_lr=0.1, epochs=-1, steps_per_epoch=2),
    "onecycle-steps-per-epoch": lambda s, o: s.OneCycleLR(
        o, max_lr=0.1, epochs=2, steps_per_epoch=0
    ),
    "onecycle-pct-start": lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=5, pct_start=1),
    "onecycle-anneal": lambda s, o: s.OneCycleLR(
        o, max_lr=0.1, total_steps=5, anneal_strategy="exp"
    ),
    "onecycle-max-lr-list": lambda s, o: s.OneCycleLR(o, max_lr=[0.1, 0.2], total_steps=5),
    "onecycle-past-the-end": lambda s, o: _step_times(
        s.OneCycleLR(o, max_lr=0.1, total_steps=2), 3
    ),
}


def _step_times(scheduler, n):
    for _ in range(n):
        scheduler.step()


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_match_torch(name):
    def outcome(m):
        opt = m.optim.SGD([m.tensor([1.0], requires_grad=True)], lr=1.0, momentum=0.9)
        opt._opt_called = True  # no step-order warning
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ERRORS[name](m.optim.lr_scheduler, opt)
        except Exception as exc:
            return type(exc).__name__, str(exc)
        return "ok", None

    expected = outcome(torch)
    assert expected[0] != "ok"
    assert outcome(tapegrad) == expected


def test_cycle_momentum_needs_momentum_or_betas(m):
    opt = m.optim.Adagrad([m.tensor([1.0], requires_grad=True)])
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        m.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=5)
