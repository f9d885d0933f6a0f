"""The demo (``python -m tapegrad.demo``): a quick run in-process prints falling losses that agree
between eager and compiled training, the step times and a sane digits accuracy; ``--plot``
writes a PNG; a missing dependency is a one-line hint; the full run reaches 0.95 on digits."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys

import pytest

from tapegrad.demo import main

ROW = re.compile(r"^\s*(\d+)\s+([-\d.e+]+)\s+([-\d.e+]+)\s*$", re.M)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _run(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(argv)
    return out.getvalue()


def _parts(text: str) -> tuple[str, str]:
    part1, part2 = text.split("\nPart 2:")
    return part1, part2


def _tutorial_rows(text: str) -> list[tuple[int, float, float]]:
    return [(int(s), float(e), float(c)) for s, e, c in ROW.findall(_parts(text)[0])]


def _digits_rows(text: str) -> list[tuple[int, float, float]]:
    return [(int(e), float(loss), float(acc)) for e, loss, acc in ROW.findall(_parts(text)[1])]


def _final_accuracy(text: str) -> float:
    return float(re.search(r"^final test accuracy: ([\d.]+) \(", text, re.M).group(1))


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> tuple[str, object]:
    """One quick run with --plot, shared by the tests that read its output."""
    png = tmp_path_factory.mktemp("demo") / "curves.png"
    return _run(["--quick", "--plot", str(png)]), png


def test_the_tutorial_loss_falls_and_eager_and_compiled_losses_agree(quick):
    text, _ = quick
    rows = _tutorial_rows(text)
    assert [step for step, _, _ in rows] == [0, 12, 24, 36, 48, 59]
    eager = [e for _, e, _ in rows]
    assert eager == sorted(eager, reverse=True)
    assert eager[-1] < eager[0] / 10
    for _, e, c in rows:
        assert c == pytest.approx(e, rel=1e-4)
    assert re.search(r"^eager and compiled losses agree: largest relative difference ", text, re.M)


def test_the_eager_and_compiled_step_times_are_printed(quick):
    text, _ = quick
    found = re.search(
        r"^per-step time: eager (\d+) us, compiled (\d+) us, ratio eager/compiled ", text, re.M
    )
    assert found
    assert int(found.group(1)) > 0
    assert int(found.group(2)) > 0


def test_the_digits_loss_falls_and_the_quick_accuracy_is_sane(quick):
    text, _ = quick
    rows = _digits_rows(text)
    assert [epoch for epoch, _, _ in rows] == [1, 2, 3, 4]
    assert rows[-1][1] < rows[0][1] / 2
    assert _final_accuracy(text) == rows[-1][2]
    assert _final_accuracy(text) > 0.85
    assert re.search(
        r"^final test accuracy: [\d.]+ \(\d+/450 test digits, trained on 1347\)$", text, re.M
    )


def test_the_digits_run_is_deterministic_given_the_seed(quick):
    from tapegrad.demo import _digits

    with contextlib.redirect_stdout(io.StringIO()):
        again = _digits.run(2, seed=0)  # the quick run's first two epochs, again
    printed = [acc for _, _, acc in _digits_rows(quick[0])][:2]
    assert [round(acc, 4) for acc in again.accuracies] == printed  # 1/450 apart: exact


def test_plot_writes_a_png_of_the_loss_curves(quick):
    text, png = quick
    assert f"loss curves saved to {png}" in text
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1100, 400)


@pytest.mark.parametrize(
    ("module", "argv", "name"),
    [("sklearn", ["--quick"], "scikit-learn"), ("matplotlib", ["--plot", "x.png"], "matplotlib")],
)
def test_a_missing_dependency_exits_with_the_install_command(monkeypatch, module, argv, name):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(SystemExit) as exc:
        main(argv)
    message = str(exc.value.code)
    assert message.startswith(f"The tapegrad demo needs {name}, which is not installed.")
    assert "pip install -e '.[demo]'" in message


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--steps", "0"], "argument --steps: must be at least 1, got 0"),
        (
            ["--plot", "/no/such/dir/x.png"],
            "argument --plot: directory /no/such/dir does not exist",
        ),
    ],
)
def test_bad_arguments_are_refused_before_training(capsys, argv, error):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert error in capsys.readouterr().err


def test_python_m_tapegrad_demo_runs_the_module():
    done = subprocess.run(
        [sys.executable, "-m", "tapegrad.demo", "--help"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m tapegrad.demo")
    assert "--plot FILE.png" in done.stdout


@pytest.mark.slow
def test_the_full_demo_reaches_0_95_test_accuracy_on_digits():
    text = _run([])
    assert "eager and compiled losses agree" in text
    assert len(_digits_rows(text)) == 30
    assert _final_accuracy(text) >= 0.95
