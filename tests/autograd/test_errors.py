"""Autograd's error messages: exception type and exact text, proved on PyTorch.

One table: every case is a function of the library module (``torch`` or ``tapegrad``) that must
raise; the test runs it on both and compares with the literal PyTorch text. Cases that tapegrad
gets wrong because of code outside the autograd package carry the reason and run as strict
xfails on tapegrad only.
"""

from __future__ import annotations

import contextlib

import pytest

import tapegrad
from tapegrad.autograd import _errors


def _leaf(m, *values, **kw):
    return m.tensor(list(values) or [1.0, 2.0], requires_grad=True, **kw)


SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling "
    "backward."
)
HINT = (
    " Hint: enable anomaly detection to find the operation that failed to compute its gradient, "
    "with torch.autograd.set_detect_anomaly(True, check_nan=False)."
)


def _twice(m):
    x = _leaf(m)
    y = (x * x).sum()
    y.backward()
    y.backward()


def _grad_twice(m):
    x = _leaf(m)
    y = (x * x).sum()
    m.autograd.grad(y, x)
    m.autograd.grad(y, x)


def _saved_input_modified(m):
    x = _leaf(m)
    a = m.tensor([3.0, 4.0])
    y = (x * a).sum()
    a.add_(1)
    y.backward()


def _saved_leaf_modified_under_no_grad(m):
    x = _leaf(m)
    y = (x * x).sum()
    with m.no_grad():
        x.mul_(2)
    y.backward()


def _saved_non_leaf_modified(m):
    x = _leaf(m)
    h = x * 2
    y = (h * h).sum()
    h.add_(1)
    y.backward()


def _saved_output_modified(m):
    x = _leaf(m)
    h = x.exp()
    y = h.sum()
    h.add_(1)
    y.backward()


def _saved_double_output_modified_twice(m):
    x = _leaf(m, dtype=m.float64)
    h = x.sigmoid()
    h.mul_(2)
    h.mul_(2)
    h.sum().backward()


def _detach_alias_modified(m):
    x = _leaf(m)
    d = x.detach()
    y = (x * x).sum()
    d.zero_()
    y.backward()


def _multi_view_output_modified(m):
    x = _leaf(m, [1.0, 2.0], [3.0, 4.0])
    h = x * 1
    _, b = h.unbind()
    y = (b * b).sum()
    h.mul_(2)
    y.backward()


def _leaf_view_inplace(m):
    x = _leaf(m)
    x[0] = 5.0


def _leaf_inplace(m):
    _leaf(m).add_(1)


def _set_requires_grad(t, value):
    t.requires_grad = value


def _inference_saved(m):
    x = _leaf(m)
    with m.inference_mode():
        c = m.ones(2)
    x * c


def _hook(m, value):
    x = _leaf(m)

    def my_hook(g):
        return value(m, g)

    x.register_hook(my_hook)
    (x * 1).sum().backward()


WARNS_FIRST = "a FutureWarning comes before the error"

# name -> (function of the module, exception type, PyTorch's message, known tapegrad bug or None)
CASES = {
    # --- freed graphs
    "second_backward": (_twice, RuntimeError, SECOND_BACKWARD, None),
    "second_grad": (_grad_twice, RuntimeError, SECOND_BACKWARD, None),
    # --- backward() arguments
    "non_scalar_without_gradient": (
        lambda m: (_leaf(m) * 2).backward(),
        RuntimeError,
        "grad can be implicitly created only for scalar outputs",
        None,
    ),
    "gradient_of_shape_1_for_a_0d_output": (
        lambda m: (_leaf(m) * 2).sum().backward(m.tensor([1.0])),
        RuntimeError,
        "Mismatch in shape: grad_output[0] has a shape of torch.Size([1]) and output[0] has a "
        "shape of torch.Size([]).",
        None,
    ),
    "gradient_shape_mismatch": (
        lambda m: (_leaf(m) * 2).backward(m.ones(3)),
        RuntimeError,
        "Mismatch in shape: grad_output[0] has a shape of torch.Size([3]) and output[0] has a "
        "shape of torch.Size([2]).",
        None,
    ),
    "gradient_shape_mismatch_second_output": (
        lambda m: (
            lambda x: m.autograd.backward([x.sum() * 1, x[:1] * 5], [m.tensor(1.0), m.tensor(2.0)])
        )(_leaf(m)),
        RuntimeError,
        "Mismatch in shape: grad_output[1] has a shape of torch.Size([]) and output[1] has "
        "a shape of torch.Size([1]).",
        None,
    ),
    "gradient_shape_mismatch_found_with_tensor_equality": (
        # PyTorch finds the index with grads.index(grad), comparing tensors with ==
        lambda m: m.autograd.backward([_leaf(m) * 2, _leaf(m) * 3], [m.ones(2), m.ones(2, 1)]),
        RuntimeError,
        "Boolean value of Tensor with more than one value is ambiguous",
        None,
    ),
    "gradient_not_a_tensor": (
        lambda m: (_leaf(m) * 2).sum().backward([1.0]),
        TypeError,
        "gradients can be either Tensors or None, but got float",
        None,
    ),
    "does_not_require_grad": (
        lambda m: m.tensor([1.0, 2.0]).sum().backward(),
        RuntimeError,
        "element 0 of tensors does not require grad and does not have a grad_fn",
        None,
    ),
    "does_not_require_grad_in_no_grad": (
        lambda m: _no_grad_result(m).backward(),
        RuntimeError,
        "element 0 of tensors does not require grad and does not have a grad_fn",
        None,
    ),
    "second_tensor_does_not_require_grad": (
        lambda m: m.autograd.backward([_leaf(m).sum(), m.tensor(1.0)]),
        RuntimeError,
        "element 1 of tensors does not require grad and does not have a grad_fn",
        None,
    ),
    "implicit_grad_checked_before_requires_grad": (
        lambda m: m.autograd.backward([m.tensor(1.0), _leaf(m) * 2]),
        RuntimeError,
        "grad can be implicitly created only for scalar outputs",
        None,
    ),
    "more_tensors_than_gradients": (
        lambda m: m.autograd.backward([_leaf(m) * 2, _leaf(m).sum()], [m.ones(2)]),
        RuntimeError,
        "got 2 tensors and 1 gradients",
        None,
    ),
    "backward_inputs_empty": (
        lambda m: (_leaf(m) * 2).sum().backward(inputs=[]),
        RuntimeError,
        "`inputs` argument to `backward()` cannot be empty.",
        None,
    ),
    "backward_input_without_grad": (
        lambda m: (_leaf(m) * 2).sum().backward(inputs=[m.ones(2)]),
        RuntimeError,
        "can't retain_grad on Tensor that has requires_grad=False",
        None,
    ),
    "grad_variables_and_grad_tensors": (
        lambda m: m.autograd.backward(
            _leaf(m).sum(), grad_tensors=m.tensor(1.0), grad_variables=m.tensor(1.0)
        ),
        RuntimeError,
        "`grad_tensors` and `grad_variables` (deprecated) arguments both passed to "
        "`backward()`. Please only use `grad_tensors`.",
        WARNS_FIRST,
    ),
    # --- autograd.grad() arguments
    "grad_unused_input": (
        lambda m: m.autograd.grad((_leaf(m) * 2).sum(), [_leaf(m)]),
        RuntimeError,
        "The differentiated Tensor at index 0 appears to not have been used in the graph. Set "
        "allow_unused=True if this is the desired behavior.",
        None,
    ),
    "grad_second_input_unused": (
        lambda m: (lambda x: m.autograd.grad((x * 2).sum(), [x, _leaf(m)]))(_leaf(m)),
        RuntimeError,
        "The differentiated Tensor at index 1 appears to not have been used in the graph. Set "
        "allow_unused=True if this is the desired behavior.",
        None,
    ),
    "grad_input_without_grad": (
        lambda m: m.autograd.grad((_leaf(m) * 2).sum(), [m.ones(2)]),
        RuntimeError,
        "One of the differentiated Tensors does not require grad",
        None,
    ),
    "grad_inputs_empty": (
        lambda m: m.autograd.grad((_leaf(m) * 2).sum(), []),
        RuntimeError,
        "`inputs` argument to `grad()` cannot be empty.",
        None,
    ),
    "grad_materialize_without_allow_unused": (
        lambda m: (
            lambda x: m.autograd.grad((x * 2).sum(), x, allow_unused=False, materialize_grads=True)
        )(_leaf(m)),
        ValueError,
        "Expected allow_unused to be True or not passed when materialize_grads=True, but got: "
        "allow_unused=False.",
        None,
    ),
    "grad_non_scalar_output": (
        lambda m: (lambda x: m.autograd.grad(x * 2, x))(_leaf(m)),
        RuntimeError,
        "grad can be implicitly created only for scalar outputs",
        None,
    ),
    "grad_dict_like_inputs": (
        lambda m: (lambda x: m.autograd.grad((x * 2).sum(), _Mapping({"a": x})))(_leaf(m)),
        TypeError,
        "`inputs` argument to `grad()` must be a dict, not _Mapping. Other Mapping types are "
        "not supported.",
        None,
    ),
    # --- requires_grad
    "non_leaf_requires_grad_false": (
        lambda m: _set_requires_grad(_leaf(m) * 2, False),
        RuntimeError,
        "you can only change requires_grad flags of leaf variables. If you want to use a "
        "computed variable in a subgraph that doesn't require differentiation use "
        "var_no_grad = var.detach().",
        None,
    ),
    "non_leaf_requires_grad_true": (
        lambda m: _set_requires_grad(_leaf(m) * 2, True),
        RuntimeError,
        "you can only change requires_grad flags of leaf variables.",
        None,
    ),
    "integer_tensor_factory": (
        lambda m: m.tensor([1], requires_grad=True),
        RuntimeError,
        "Only Tensors of floating point and complex dtype can require gradients",
        None,
    ),
    "integer_tensor_method": (
        lambda m: m.tensor([1]).requires_grad_(),
        RuntimeError,
        "only Tensors of floating point dtype can require gradients",
        None,
    ),
    "integer_tensor_setter": (
        lambda m: _set_requires_grad(m.tensor([1]), True),
        RuntimeError,
        "only Tensors of floating point and complex dtype can require gradients",
        None,
    ),
    "retain_grad_without_grad": (
        lambda m: m.ones(2).retain_grad(),
        RuntimeError,
        "can't retain_grad on Tensor that has requires_grad=False",
        None,
    ),
    # --- in-place modifications detected at backward
    "saved_input_modified": (
        _saved_input_modified,
        RuntimeError,
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [torch.FloatTensor [2]] is at version 1; expected version 0 instead." + HINT,
        None,
    ),
    "saved_leaf_modified_under_no_grad": (
        _saved_leaf_modified_under_no_grad,
        RuntimeError,
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [torch.FloatTensor [2]] is at version 1; expected version 0 instead." + HINT,
        None,
    ),
    "saved_non_leaf_modified": (
        _saved_non_leaf_modified,
        RuntimeError,
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [torch.FloatTensor [2]], which is output 0 of Add, is at version 1; "
        "expected version 0 instead." + HINT,
        None,
    ),
    "saved_output_modified": (
        _saved_output_modified,
        RuntimeError,
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [torch.FloatTensor [2]], which is output 0 of Exp, is at version 1; "
        "expected version 0 instead." + HINT,
        None,
    ),
    "saved_double_output_modified_twice": (
        _saved_double_output_modified_twice,
        RuntimeError,
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [torch.DoubleTensor [2]], which is output 0 of Sigmoid, is at "
        "version 2; expected version 0 instead." + HINT,
        None,
    ),
    "detach_alias_modified": (
        _detach_alias_modified,
        RuntimeError,
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [torch.FloatTensor [2]] is at version 1; expected version 0 instead." + HINT,
        None,
    ),
    "multi_view_output_modified": (
        _multi_view_output_modified,
        RuntimeError,
        "Output 1 of Unbind is a view and its base or another view of its base has been "
        "modified inplace. This view is the output of a function that returns multiple views. "
        "Such functions do not allow the output views to be modified inplace. You should "
        "replace the inplace operation by an out-of-place one.",
        None,
    ),
    "leaf_inplace": (
        _leaf_inplace,
        RuntimeError,
        "a leaf Variable that requires grad is being used in an in-place operation.",
        None,
    ),
    "leaf_view_inplace": (
        _leaf_view_inplace,
        RuntimeError,
        "a view of a leaf Variable that requires grad is being used in an in-place operation.",
        None,
    ),
    # --- inference mode
    "inference_saved_for_backward": (
        _inference_saved,
        RuntimeError,
        "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
        "inference mode in computation tracked by autograd. To work around this, you can make a "
        "clone to get a normal tensor and use it in autograd, or use `torch.no_grad()` instead "
        "of `torch.inference_mode()`.",
        None,
    ),
    "inference_requires_grad": (
        lambda m: _set_requires_grad(_inference_ones(m), True),
        RuntimeError,
        "Setting requires_grad=True on inference tensor outside InferenceMode is not allowed.",
        None,
    ),
    # --- grad modes
    "set_grad_enabled_int": (
        lambda m: m.set_grad_enabled(1),
        TypeError,
        "set_grad_enabled(): argument 'enabled' (position 1) must be bool, not int",
        None,
    ),
    # --- hooks
    "hook_on_tensor_without_grad": (
        lambda m: m.ones(2).register_hook(lambda g: g),
        RuntimeError,
        "cannot register a hook on a tensor that doesn't require gradient",
        None,
    ),
    "hook_changed_size": (
        lambda m: _hook(m, lambda m, g: m.ones(3)),
        RuntimeError,
        "hook 'my_hook' has changed the size of value",
        None,
    ),
    "hook_changed_type": (
        lambda m: _hook(m, lambda m, g: g.double()),
        RuntimeError,
        "hook 'my_hook' has changed the type of value (was torch.FloatTensor got "
        "torch.DoubleTensor)",
        None,
    ),
    "hook_not_tensor": (
        lambda m: _hook(m, lambda m, g: 1.5),
        TypeError,
        "expected Variable, but hook returned 'float'",
        None,
    ),
}


class _Mapping(dict):
    pass


def _no_grad_result(m):
    x = _leaf(m)
    with m.no_grad():
        return (x * 2).sum()


def _inference_ones(m):
    with m.inference_mode():
        return m.ones(2)


@pytest.mark.parametrize("name", list(CASES))
def test_error(m, name, request):
    fn, exc, message, bug = CASES[name]
    if bug == WARNS_FIRST:
        ctx = pytest.warns(FutureWarning)
    else:
        ctx = contextlib.nullcontext()
        if bug is not None and m is tapegrad:
            request.applymarker(pytest.mark.xfail(strict=True, reason=bug))
    with ctx, pytest.raises(exc) as info:
        fn(m)
    assert str(info.value) == message


# ----- the message builders of tapegrad.autograd._errors ---------------------------------------
@pytest.mark.parametrize(
    ("dtype", "device", "expected"),
    [
        ("float32", "cpu", "torch.FloatTensor"),
        ("float64", "cpu", "torch.DoubleTensor"),
        ("float16", "cpu", "torch.HalfTensor"),
        ("bfloat16", "cpu", "torch.BFloat16Tensor"),
        ("int64", "cpu", "torch.LongTensor"),
        ("int32", "cpu", "torch.IntTensor"),
        ("uint8", "cpu", "torch.ByteTensor"),
        ("bool", "cpu", "torch.BoolTensor"),
        ("float32", "cuda", "torch.cuda.FloatTensor"),
    ],
)
def test_legacy_type_name(dtype, device, expected):
    assert _errors.legacy_type_name(dtype, device) == expected


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64", "bool"])
def test_legacy_type_name_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    assert _errors.legacy_type_name(dtype) == torch.zeros(1, dtype=getattr(torch, dtype)).type()
