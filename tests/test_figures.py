"""Every figure block in README.md and docs/ is what benchmarks/figures.py renders from the committed results."""

import pytest

from benchmarks import figures


def test_every_figure_block_is_current() -> None:
    assert figures.update(check=True) == [], "run `make figures` (PYTHONPATH=. python benchmarks/figures.py)"


def test_blocks_are_rendered_in_place_and_unknown_ones_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(figures, "RENDERERS", {"answer": lambda: "| 42 |\n"})
    text = "before\n<!-- figure: answer -->\nold\n<!-- /figure -->\nafter\n"
    new, changed = figures.render_blocks(text, "doc.md")
    assert new == "before\n<!-- figure: answer -->\n| 42 |\n<!-- /figure -->\nafter\n" and changed == ["answer"]
    assert figures.render_blocks(new, "doc.md") == (new, [])
    with pytest.raises(SystemExit, match=r"doc\.md: unknown figure block 'other'"):
        figures.render_blocks("<!-- figure: other -->\n<!-- /figure -->", "doc.md")
