"""`benchlib new-chapter ID`: copy chapters/_template into a new chapter package, its notebook and
its tests, with every "template" word of the copy renamed after the new chapter."""
from __future__ import annotations

import re
from pathlib import Path

from .. import BenchlibError

TEMPLATE = Path(__file__).resolve().parent / "_template"
NOTEBOOK = "template.ipynb"
TESTS = "tests"          # the template's tests: written to the project's tests/chapters/<id>/
TITLE = "Template: a threshold beats the majority guess"
PACKAGE = "benchlib.chapters._template"


def renamed(text: str, chapter_id: str, package: str, title: str = "") -> str:
    """`text` of a template file for the chapter `chapter_id` imported as `package`: the module
    path, the id, the title (when given) and then every other "template" / "Template" (in words,
    names and identifiers: docstrings, the twin `synth-template`, test names) become the chapter's."""
    text = text.replace(PACKAGE, package).replace('"_template"', f'"{chapter_id}"')
    if title:
        text = text.replace(TITLE, title)
    return re.sub("template", chapter_id, text, flags=re.IGNORECASE)


def new_chapter(chapter_id: str, title: str = "", dest: Path | None = None, notebook: Path | None = None,
                package: str | None = None, tests: Path | None = None) -> list[Path]:
    """Write the package `dest` (default: chapters/<id>), the notebook (default:
    notebooks/<id>.ipynb of the project) and the chapter's tests (default: tests/chapters/<id>/ of
    the project for a chapter in this package; `<dest>_tests/` beside the package when `dest` is
    given); `package` is the module path the notebook and tests import (default:
    benchlib.chapters.<id>). Returns the files written; refuses to overwrite."""
    from ..paths import project_root

    if not re.fullmatch(r"[a-z][a-z0-9_]*", chapter_id):
        raise BenchlibError(f"chapter id {chapter_id!r}: use lower-case letters, digits and _ (a module name)")
    if tests is None:
        tests = (Path(dest).parent / f"{Path(dest).name}_tests" if dest
                 else project_root() / "tests" / "chapters" / chapter_id)
    dest = Path(dest) if dest else TEMPLATE.parent / chapter_id
    notebook = Path(notebook) if notebook else project_root() / "notebooks" / f"{chapter_id}.ipynb"
    package = package or f"benchlib.chapters.{chapter_id}"
    for p in (dest, notebook, Path(tests)):
        if p.exists():
            raise BenchlibError(f"{p}: already exists; pick another id or remove it")

    copies = {}   # template file -> where it goes
    for src in sorted(TEMPLATE.rglob("*")):
        rel = src.relative_to(TEMPLATE)
        if src.is_dir() or "__pycache__" in rel.parts or src.suffix == ".pyc":
            continue
        if rel.parts[0] == TESTS:
            copies[src] = Path(tests) / rel.relative_to(TESTS)
        elif src.name == NOTEBOOK:
            copies[src] = notebook
        else:
            copies[src] = dest / rel
    written = []
    for src, out in copies.items():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(renamed(src.read_text(encoding="utf-8"), chapter_id, package, title), encoding="utf-8")
        written.append(out)
    return written
