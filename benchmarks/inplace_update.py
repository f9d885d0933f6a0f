"""The manual SGD update of one parameter under ``no_grad``, as in PyTorch's tutorials:
``p -= lr * p.grad`` on a 1000x100 float32 parameter, tapegrad vs PyTorch eager vs ``jax.jit``,
measured in one process.

Run: ``python benchmarks/inplace_update.py [--n N] [--shape 1000 100]``. Prints microseconds per
update and the ratios; absolute times drift on shared machines, the ratios are the figures.
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

LR = 0.01


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="updates per timing sample")
    parser.add_argument("--shape", type=int, nargs=2, default=(1000, 100))
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    w = rng.standard_normal(args.shape).astype(np.float32)
    g = rng.standard_normal(args.shape).astype(np.float32)

    p = tapegrad.tensor(w, requires_grad=True)
    p.grad = tapegrad.tensor(g)

    params = [p]

    def tapegrad_update():
        with tapegrad.no_grad():
            for q in params:  # the tutorial's loop over model.parameters()
                q -= LR * q.grad

    def tapegrad_sub_():
        with tapegrad.no_grad():
            p.sub_(p.grad, alpha=LR)

    rows = [
        ("tapegrad  p -= lr * p.grad", best_time(tapegrad_update, args.n)),
        ("tapegrad  p.sub_(p.grad, alpha=lr)", best_time(tapegrad_sub_, args.n)),
    ]
    assert p.is_leaf
    assert p.requires_grad

    if torch is not None:
        tp = torch.tensor(w, requires_grad=True)
        tp.grad = torch.tensor(g)

        tparams = [tp]

        def torch_update():
            with torch.no_grad():
                for q in tparams:
                    q -= LR * q.grad

        rows.append(("torch     p -= lr * p.grad", best_time(torch_update, args.n)))

    state = {"p": jnp.asarray(w)}
    jg = jnp.asarray(g)
    update = jax.jit(lambda p, g: p - LR * g)
    donated = jax.jit(lambda p, g: p - LR * g, donate_argnums=0)

    def jax_update():
        state["p"] = update(state["p"], jg)

    def jax_donated():
        state["p"] = donated(state["p"], jg)

    rows.append(("jax.jit   p - lr * g", best_time(jax_update, args.n)))
    rows.append(("jax.jit   p - lr * g, donated", best_time(jax_donated, args.n)))
    jax.block_until_ready(state["p"])

    print(
        f"tapegrad {tapegrad.__version__}, jax {jax.__version__}, "
        f"torch {torch.__version__ if torch else 'not installed'}, device {jax.devices()[0]}, "
        f"parameter {args.shape[0]}x{args.shape[1]} float32"
    )
    base = dict(rows)
    ref_torch = base.get("torch     p -= lr * p.grad")
    ref_jax = base["jax.jit   p - lr * g"]
    print(f"{'update':<38}{'us':>9}{'/torch':>9}{'/jax.jit':>10}")
    for name, us in rows:
        vs_torch = f"{us / ref_torch:9.2f}" if ref_torch else f"{'-':>9}"
        print(f"{name:<38}{us:9.1f}{vs_torch}{us / ref_jax:10.2f}")


if __name__ == "__main__":
    main()
