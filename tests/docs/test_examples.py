"""Every ```python block of every docs page runs, and prints what the page says it prints.

The docs convention: the blocks of one page run in order in one shared namespace (a fresh one
per page, like a notebook), with the repository root as working directory. A ```python block
followed (only blank lines between) by a ```text block must print exactly that text, trailing
newlines aside. Nothing is skipped. ``docs/dev-notes.md`` is not part of the site and is not run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import pathlib
import re
import traceback

import pytest
import yaml

import tapegrad

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
NOT_ON_SITE = {"dev-notes.md"}
PAGES = sorted(
    path.relative_to(DOCS).as_posix()
    for path in DOCS.rglob("*.md")
    if path.relative_to(DOCS).as_posix() not in NOT_ON_SITE
)

# Opening fence: indentation (inside admonitions or lists), backticks or tildes, the language.
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)")
# Languages that look like Python but would escape execution: use ```python.
PYTHON_ALIASES = {"py", "py3", "python3", "pycon", "ipython", "pyi"}


@dataclasses.dataclass
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the block's first code line
    fence_line: int  # 1-based line of the opening fence
    end_line: int  # 1-based line of the closing fence


def parse_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, lang = match["indent"], match["fence"], match["lang"].lower()
        closing = re.compile(rf"^[ \t]*{fence[0]}{{{len(fence)},}}[ \t]*$")
        body = []
        j = i + 1
        while j < len(lines) and not closing.match(lines[j]):
            line = lines[j]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            j += 1
        if j == len(lines):
            raise ValueError(f"line {i + 1}: code block is never closed")
        blocks.append(Block(lang, "\n".join(body) + "\n", i + 2, i + 1, j + 1))
        i = j + 1
    return blocks


def examples(page: str) -> list[tuple[Block, str | None]]:
    """The page's python blocks, each with the text its ```text block says it prints (or None)."""
    return pair_outputs((DOCS / page).read_text(encoding="utf-8"))


def pair_outputs(text: str) -> list[tuple[Block, str | None]]:
    """The python blocks of ``text``, each with the ```text block that follows it (or None)."""
    lines = text.splitlines()
    blocks = parse_blocks(text)
    result = []
    for k, block in enumerate(blocks):
        if block.lang != "python":
            continue
        expected = None
        after = blocks[k + 1] if k + 1 < len(blocks) else None
        if after is not None and after.lang == "text":
            between = lines[block.end_line : after.fence_line - 1]
            if all(not line.strip() for line in between):
                expected = after.code
        result.append((block, expected))
    return result


@pytest.fixture
def _restored_state(monkeypatch):
    """Run a page from the repository root and undo the global settings a page may change."""
    monkeypatch.chdir(ROOT)
    dtype = tapegrad.get_default_dtype()
    printoptions = tapegrad.get_printoptions()
    rng_state = tapegrad.get_rng_state()
    yield
    tapegrad.set_default_dtype(dtype)
    tapegrad.set_printoptions(**printoptions)
    tapegrad.set_rng_state(rng_state)
    tapegrad.set_grad_enabled(True)


@pytest.mark.usefixtures("_restored_state")
@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run_and_print_what_the_page_shows(page):
    path = DOCS / page
    namespace = {"__name__": "__main__"}
    for block, expected in examples(page):
        # Padding with newlines makes tracebacks point at the block's real lines in the page.
        code = compile("\n" * (block.line - 1) + block.code, str(path), "exec")
        out = io.StringIO()
        error = None
        try:
            with contextlib.redirect_stdout(out):
                exec(code, namespace)
        except Exception:
            error = traceback.format_exc()
        if error is not None:
            pytest.fail(
                f"docs/{page}, block at line {block.line} raised:\n{error}"
                f"\nIt printed:\n{out.getvalue()}",
                pytrace=False,
            )
        if expected is not None:
            where = f"docs/{page}, block at line {block.line}: printed output differs"
            assert out.getvalue().rstrip("\n") == expected.rstrip("\n"), where


class _AnyTagLoader(yaml.SafeLoader):
    """mkdocs.yml may hold tags such as ``!!python/name:``; the nav does not need them."""


_AnyTagLoader.add_multi_constructor("", lambda loader, suffix, node: None)


def _nav_pages(entry) -> list[str]:
    if isinstance(entry, str):
        return [entry]
    if isinstance(entry, list):
        return [page for item in entry for page in _nav_pages(item)]
    if isinstance(entry, dict):
        return [page for value in entry.values() for page in _nav_pages(value)]
    return []


def test_every_page_is_in_the_nav_once():
    # The other direction, every nav entry exists, is what `mkdocs build --strict` checks.
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_AnyTagLoader)
    nav = _nav_pages(config["nav"])
    assert [page for page in PAGES if page not in nav] == []
    assert len(nav) == len(set(nav)), "a page is listed twice in the nav"


@pytest.mark.parametrize("page", PAGES)
def test_page_has_an_executed_example_and_no_hidden_python(page):
    assert examples(page), f"docs/{page} has no ```python block"
    for block in parse_blocks((DOCS / page).read_text(encoding="utf-8")):
        assert block.lang not in PYTHON_ALIASES, (
            f"docs/{page}, block at line {block.line}: ```{block.lang} is not executed; "
            "use ```python"
        )


def test_the_parser_pairs_blocks_with_their_output():
    text = (
        "Intro\n\n```python\nprint(1)\n```\n\n```text\n1\n```\n\n"
        "!!! note\n    ```python\n    x = 2\n    ```\n    Words.\n\n    ```text\n    2\n    ```\n"
    )
    pairs = [(block.code, block.line, expected) for block, expected in pair_outputs(text)]
    assert pairs == [("print(1)\n", 4, "1\n"), ("x = 2\n", 13, None)]
