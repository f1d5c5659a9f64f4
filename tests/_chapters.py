"""Test helper: a chapter package outside the repository, found through $BENCHLIB_CHAPTERS."""
from pathlib import Path

import nbformat


def add_chapter(tmp: Path, monkeypatch, chapter_id: str, title: str, cells: list[str], order: int = 99,
                params: str = "") -> Path:
    """Write package `<tmp>/pkgs/<id>` (SPEC + `<id>.ipynb` whose code cells are `cells`, after a
    parameters cell holding `params` too) and make it discoverable; returns the notebook path."""
    import os

    pkg = Path(tmp) / "pkgs" / chapter_id
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "from benchlib.chapters import ChapterSpec\n"
        f"SPEC = ChapterSpec(id={chapter_id!r}, title={title!r}, order={order})\n")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('profile = "default"\ndata_root = ""\nresults_root = ""\n' + params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = pkg / f"{chapter_id}.ipynb"
    nbformat.write(nb, path)
    monkeypatch.syspath_prepend(str(pkg.parent))
    monkeypatch.setenv("PYTHONPATH", str(pkg.parent))
    others = [c for c in os.environ.get("BENCHLIB_CHAPTERS", "").split(",") if c]
    monkeypatch.setenv("BENCHLIB_CHAPTERS", ",".join([*others, chapter_id]))
    return path
