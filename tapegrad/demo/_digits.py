"""Part 2: a classifier of scikit-learn's bundled handwritten digits (8x8 images, no download),
trained with a compiled training step and evaluated with ``model.eval()`` under ``no_grad``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

import tapegrad
from tapegrad import nn

HIDDEN = 256
DROPOUT = 0.2
LR = 2e-3
BATCH = 64
TEST_SIZE = 0.25
SPLIT_SEED = 0  # the test set is the same whatever --seed is


@dataclass
class DigitsRun:
    """Per-epoch mean training loss and test accuracy, and the test set's size."""

    losses: list[float]
    accuracies: list[float]
    n_train: int
    n_test: int


def load() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The digits, pixels scaled from 0..16 to 0..1, split into stratified train and test sets."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=y)


def make_model(n_in: int, n_classes: int) -> nn.Module:
    """An MLP with one hidden ReLU layer and Dropout."""
    return nn.Sequential(
        nn.Linear(n_in, HIDDEN), nn.ReLU(), nn.Dropout(DROPOUT), nn.Linear(HIDDEN, n_classes)
    )


def accuracy(model: nn.Module, x: tapegrad.Tensor, y: tapegrad.Tensor) -> float:
    """The fraction of ``x`` that ``model`` (in eval mode, without a graph) classifies as ``y``."""
    model.eval()
    with tapegrad.no_grad():
        predicted = model(x).argmax(dim=1)
    model.train()
    return (predicted == y).float().mean().item()


def run(epochs: int, seed: int) -> DigitsRun:
    """Train for ``epochs`` epochs of shuffled minibatches (the few samples left over from the
    last full batch of an epoch wait for a later epoch: every step has one shape, so the compiled
    step compiles once); print each epoch's mean loss and test accuracy."""
    x_train, x_test, y_train, y_test = load()
    n_classes = int(y_train.max()) + 1
    tapegrad.manual_seed(seed)
    model = make_model(x_train.shape[1], n_classes)
    optimizer = tapegrad.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()

    @tapegrad.compile
    def train_step(x: tapegrad.Tensor, y: tapegrad.Tensor) -> tapegrad.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    test_x, test_y = tapegrad.from_numpy(x_test), tapegrad.from_numpy(y_test)
    shuffle = np.random.default_rng(seed)
    result = DigitsRun([], [], len(y_train), len(y_test))
    print(f"{'epoch':>6}  {'train loss':>10}  {'test accuracy':>13}")
    batches = len(y_train) // BATCH
    with tqdm(total=epochs * batches, desc="digits", unit="step", leave=False, disable=None) as bar:
        for epoch in range(1, epochs + 1):
            order = shuffle.permutation(len(y_train))
            losses = []
            for i in range(batches):
                idx = order[i * BATCH : (i + 1) * BATCH]
                x, y = tapegrad.from_numpy(x_train[idx]), tapegrad.from_numpy(y_train[idx])
                losses.append(train_step(x, y).detach())
                bar.update()
            result.losses.append(tapegrad.stack(losses).mean().item())
            result.accuracies.append(accuracy(model, test_x, test_y))
            bar.set_postfix(loss=f"{result.losses[-1]:.4f}", acc=f"{result.accuracies[-1]:.4f}")
            tqdm.write(f"{epoch:>6}  {result.losses[-1]:>10.4f}  {result.accuracies[-1]:>13.4f}")
    return result
