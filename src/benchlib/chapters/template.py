"""`benchlib new-chapter ID`: copy chapters/_template into a new chapter package and notebook."""
from __future__ import annotations

import re
from pathlib import Path

from .. import BenchlibError

TEMPLATE = Path(__file__).resolve().parent / "_template"
NOTEBOOK = "template.ipynb"


def new_chapter(chapter_id: str, title: str = "", dest: Path | None = None, notebook: Path | None = None,
                package: str | None = None) -> list[Path]:
    """Write the package `dest` (default: chapters/<id>) and the notebook (default:
    notebooks/<id>.ipynb of the project); `package` is the module path the notebook imports
    (default: benchlib.chapters.<id>). Returns the files written; refuses to overwrite."""
    from ..paths import project_root

    if not re.fullmatch(r"[a-z][a-z0-9_]*", chapter_id):
        raise BenchlibError(f"chapter id {chapter_id!r}: use lower-case letters, digits and _ (a module name)")
    dest = Path(dest) if dest else Path(__file__).resolve().parent / chapter_id
    notebook = Path(notebook) if notebook else project_root() / "notebooks" / f"{chapter_id}.ipynb"
    package = package or f"benchlib.chapters.{chapter_id}"
    for p in (dest, notebook):
        if p.exists():
            raise BenchlibError(f"{p}: already exists; pick another id or remove it")

    def fill(text: str) -> str:
        text = text.replace("benchlib.chapters._template", package).replace('"_template"', f'"{chapter_id}"')
        if title:
            text = text.replace("Template: a threshold beats the majority guess", title)
        return text

    written = []
    for src in sorted(TEMPLATE.rglob("*")):
        if src.is_dir() or "__pycache__" in src.parts or src.name == NOTEBOOK:
            continue
        out = dest / src.relative_to(TEMPLATE)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(fill(src.read_text(encoding="utf-8")), encoding="utf-8")
        written.append(out)
    notebook.parent.mkdir(parents=True, exist_ok=True)
    notebook.write_text(fill((TEMPLATE / NOTEBOOK).read_text(encoding="utf-8")), encoding="utf-8")
    return [*written, notebook]
