"""``python -m tapegrad.demo``: the autograd tutorial's first steps, run on tapegrad."""

from __future__ import annotations

import time


def main() -> None:
    import tapegrad as torch

    print("tapegrad", torch.__version__, "- PyTorch's eager autograd on JAX")
    x = torch.ones(2, 2, requires_grad=True)
    print("x =", x)
    y = x + 2
    print("y = x + 2 ->", y)
    out = (y * y * 3).mean()
    print("out = (y * y * 3).mean() ->", out)
    out.backward()
    print("x.grad ->", x.grad)

    torch.manual_seed(0)
    n, d_in, h, d_out = 64, 1000, 100, 10
    xb, yb = torch.randn(n, d_in), torch.randn(n, d_out)
    w1 = (torch.randn(d_in, h) * 0.01).requires_grad_()
    w2 = (torch.randn(h, d_out) * 0.01).requires_grad_()
    lr = 1e-4
    start = 0.0
    for step in range(201):
        loss = ((xb.mm(w1).relu().mm(w2) - yb) ** 2).sum()
        if step % 50 == 0:
            print(f"step {step:3d}  loss {loss.item():.4f}")
        loss.backward()
        with torch.no_grad():
            w1 -= lr * w1.grad
            w2 -= lr * w2.grad
            w1.grad.zero_()
            w2.grad.zero_()
        if step == 9:  # the first steps compile their kernels: time the steady state
            w2.tolist()
            start = time.perf_counter()
    w2.tolist()
    per_step = (time.perf_counter() - start) / 191 * 1e6
    print(
        f"manual-SGD MLP (64x1000 -> 100 -> 10): {per_step:.0f} us per eager step "
        "(after 10 warm-up steps)"
    )


if __name__ == "__main__":
    main()
