"""Per-op eager overhead: tapegrad (taped and under no_grad) vs a bare cached ``jax.jit`` call
vs a PyTorch eager op, on the same small input, measured in one process.

Run: ``python benchmarks/op_overhead.py [--n N]``. Prints microseconds per call and the ratios
tapegrad/jit and tapegrad/torch. Absolute times drift on shared machines; the ratios are the
figures to compare.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import tapegrad

sys.path.insert(0, str(Path(__file__).parent))
from _timing import best_time

try:
    import torch
except ImportError:  # torch is only the comparison, not a dependency
    torch = None


def _cases(size: int):
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal(size).astype(np.float32)
    b_np = rng.standard_normal(size).astype(np.float32)
    m_np = rng.standard_normal((size, size)).astype(np.float32)
    return (
        [
            ("mul", lambda m, a, b, mat: m.mul(a, b), jnp.multiply, (a_np, b_np)),
            ("add scalar", lambda m, a, b, mat: a + 2.0, lambda x: x + 2.0, (a_np,)),
            ("exp", lambda m, a, b, mat: m.exp(a), jnp.exp, (a_np,)),
            ("tanh", lambda m, a, b, mat: m.tanh(a), jnp.tanh, (a_np,)),
            ("sum", lambda m, a, b, mat: a.sum(), jnp.sum, (a_np,)),
            ("matmul", lambda m, a, b, mat: mat @ mat, jnp.matmul, (m_np, m_np)),
            ("view", lambda m, a, b, mat: a.view(-1, 1), lambda x: x.reshape(-1, 1), (a_np,)),
        ],
        a_np,
        b_np,
        m_np,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="calls per timing sample")
    parser.add_argument("--size", type=int, default=8, help="vector length / matrix side")
    args = parser.parse_args()

    cases, a_np, b_np, m_np = _cases(args.size)
    tg = [tapegrad.tensor(x, requires_grad=True) for x in (a_np, b_np, m_np)]
    tg_nograd = [tapegrad.tensor(x) for x in (a_np, b_np, m_np)]
    if torch is not None:
        th = [torch.tensor(x, requires_grad=True) for x in (a_np, b_np, m_np)]

    rows = []
    for name, fn, jfn, inputs in cases:
        jitted = jax.jit(jfn)
        jargs = [jnp.asarray(x) for x in inputs]
        t_jit = best_time(lambda f=jitted, a=jargs: f(*a), args.n)
        t_taped = best_time(lambda f=fn: f(tapegrad, *tg), args.n)
        with tapegrad.no_grad():
            t_nograd = best_time(lambda f=fn: f(tapegrad, *tg_nograd), args.n)
        t_torch = float("nan")
        if torch is not None:
            t_torch = best_time(lambda f=fn: f(torch, *th), args.n)
        rows.append((name, t_jit, t_taped, t_nograd, t_torch))

    header = (
        f"{'op':<12}{'jit us':>9}{'taped us':>10}{'no_grad us':>12}{'torch us':>10}"
        f"{'taped/jit':>11}{'no_grad/jit':>13}{'taped/torch':>13}"
    )
    print(
        f"tapegrad {tapegrad.__version__}, jax {jax.__version__}, "
        f"torch {torch.__version__ if torch else 'not installed'}, device {jax.devices()[0]}"
    )
    print(header)
    print("-" * len(header))
    for name, t_jit, t_taped, t_nograd, t_torch in rows:
        print(
            f"{name:<12}{t_jit:9.2f}{t_taped:10.2f}{t_nograd:12.2f}{t_torch:10.2f}"
            f"{t_taped / t_jit:11.2f}{t_nograd / t_jit:13.2f}{t_taped / t_torch:13.2f}"
        )
    worst = max(r[2] / r[1] for r in rows)
    print(f"\nworst taped/jit ratio: {worst:.2f} (target <= 2.0)")


if __name__ == "__main__":
    main()
