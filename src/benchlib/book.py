"""Render the HTML book with jupyter-book 1.x from already executed notebooks.

The book is assembled in a staging folder (`_build/.source`): the static pages of `book/`,
the summary page generated from the results files (`benchlib.summary`), and the executed
chapter notebooks of one profile, each dressed as a paper's companion (citation on top, the
parameters folded away, provenance at the bottom). Nothing is executed here.
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pandas as pd

from . import BenchlibError
from .chapters import all_specs
from .paths import default_data_root, default_results_root, project_root
from .results import read_run
from .runner import NOTEBOOK_NAME
from .summary import last_failure, md_table, status_line, summary_markdown

CHAPTER_TABLE_MARKER = "<!-- chapter table: generated from the chapter specs -->"
LONG_LOG_LINES = 12           # a cell that only prints more lines than this (a log) is folded
WARNINGS_FILE = "build-warnings.txt"
# Weight: the book is read offline and copied around, so photos travel as JPEG / WebP.
RECODE_MIN_BYTES = 60_000     # smaller images are left alone
# The text column is 772 px wide at 1400 px: an explorer frame is shown at most that wide, a figure
# a little wider keeps some sharpness for a zoom; more pixels only weigh.
MAX_FRAME_PX, MAX_OUTPUT_PX = 772, 1000
RECODE_MAX_RATIO = 0.7        # keep the lossy copy only when it saves ≥ 30 % (photos do; line plots don't)
JPEG_QUALITY, WEBP_QUALITY = 80, 70   # WebP 70: an explorer frame ≈ 8–12 KB, its text still crisp

# --------------------------------------------------------------------------- no machine paths in pages
# Absolute paths that say where this book was built (temporary and staging folders, home folders,
# the checkout): a reader's machine has none of them. Known roots get a name; any other such path
# keeps its last two parts. The look-behind skips base64 runs (images), which may hold "/tmp/".
MACHINE_PATH = re.compile(r"(?<![\w+/=.~\]-])(?:/(?:tmp|var/tmp|root|work|home|Users|mnt|scratch|private|var/folders)"
                          r"(?:/[^\s'\"<>`|,;:()\[\]{}]*)?)")
ANSI = re.compile(r"(\x1b\[[0-9;]*[A-Za-z])")
STAGING_PART = re.compile(r"\S*?/\.staging/[^/\s]+")


def path_scrubber(results_root=None):
    """A function text -> text that names this machine's folders instead of printing them."""
    roots = {}
    for path, label in ((default_data_root(), "[data]"), (results_root or default_results_root(), "[results]"),
                        (project_root(), "[project]"), (Path(tempfile.gettempdir()), "[tmp]"),
                        (Path.home(), "~")):
        for p in {str(Path(path)), str(Path(path).resolve())}:
            if len(p) > 1:
                roots.setdefault(p.rstrip("/"), label)
    ordered = sorted(roots.items(), key=lambda kv: -len(kv[0]))

    def tail(m):
        parts = [x for x in m.group(0).split("/") if x]
        return "…/" + "/".join(parts[-2:]) if len(parts) > 2 else "…"

    def scrub(text: str) -> str:
        if not text or "/" not in text:
            return text
        if "\x1b[" in text:   # a traceback's colours: scrub the text between the escape codes
            parts = ANSI.split(text)
            return "".join(p if i % 2 else scrub(p) for i, p in enumerate(parts))
        text = STAGING_PART.sub("[results]", text)
        for p, label in ordered:
            text = re.sub(r"(?<![\w/.~-])" + re.escape(p) + r"(?=/|\b|$)", label, text)
        return MACHINE_PATH.sub(tail, text)

    return scrub


def _scrub_value(v, scrub):
    if isinstance(v, str):
        return scrub(v)
    if isinstance(v, list):
        return [scrub(x) if isinstance(x, str) else x for x in v]
    return v


def _scrub_tree(obj, scrub):
    if isinstance(obj, str):
        return scrub(obj)
    if isinstance(obj, list):
        return [_scrub_tree(x, scrub) for x in obj]
    if isinstance(obj, dict):
        for k in list(obj):
            obj[k] = _scrub_tree(obj[k], scrub)
    return obj


def scrub_notebook(nb, scrub) -> None:
    """Machine paths out of every cell's source and every text output (images untouched), and out
    of the notebook's metadata (papermill records its input and output paths and parameters)."""
    for key in [k for k in nb.metadata if k != "widgets"]:
        nb.metadata[key] = _scrub_tree(nb.metadata[key], scrub)
    for cell in nb.cells:
        cell.source = scrub(cell.source)
        for o in cell.get("outputs", []):
            if "text" in o:
                o["text"] = _scrub_value(o["text"], scrub)
            if "traceback" in o:
                o["traceback"] = [scrub(t) for t in o["traceback"]]
            if "evalue" in o:
                o["evalue"] = scrub(o["evalue"])
            for mime in list(o.get("data", {})):
                if mime.startswith("text/") or mime == "image/svg+xml":
                    o["data"][mime] = _scrub_value(o["data"][mime], scrub)
    # the widgets' own text (labels, descriptions, options); their image buffers are left alone
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for model in state.values():
        st = model.get("state", {})
        for k, v in st.items():
            if isinstance(v, (str, list)):
                st[k] = _scrub_value(v, scrub)


# --------------------------------------------------------------------------- lighter images
def _recode(png: bytes, fmt: str, max_width: int | None = None) -> bytes | None:
    """The PNG as JPEG, WebP or (`fmt` "png") PNG, at most `max_width` px wide, when that saves
    enough, else None."""
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(png))
        im.load()
    except Exception:   # not an image PIL reads: leave it as it is
        return None
    if max_width and im.width > max_width:
        im = im.resize((max_width, max(1, round(im.height * max_width / im.width))), Image.LANCZOS)
    if fmt == "png":
        buf = io.BytesIO()
        im.save(buf, "PNG", optimize=True)
        out = buf.getvalue()
        return out if len(out) <= RECODE_MAX_RATIO * len(png) else None
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        flat = Image.new("RGB", im.size, "white")
        flat.paste(im, mask=im.split()[-1])
        im = flat
    elif im.mode != "RGB":
        im = im.convert("RGB")
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
    else:
        im.save(buf, "WEBP", quality=WEBP_QUALITY, method=6)
    out = buf.getvalue()
    return out if len(out) <= RECODE_MAX_RATIO * len(png) else None


def lighten_images(nb) -> tuple[int, int]:
    """Large PNG outputs become JPEG and the explorers' precomputed PNG frames WebP, where that
    saves ≥ 30 %. Returns (bytes before, bytes after) of the images touched."""
    before = after = 0
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            b64 = data.get("image/png")
            if not b64 or "image/jpeg" in data:
                continue
            raw = base64.b64decode("".join(b64) if isinstance(b64, list) else b64)
            if len(raw) < RECODE_MIN_BYTES:
                continue
            # a photo-like figure as JPEG; a drawing stays PNG, made narrower if it is very wide
            new, mime = _recode(raw, "jpeg", MAX_OUTPUT_PX), "image/jpeg"
            if new is None:
                new, mime = _recode(raw, "png", MAX_OUTPUT_PX), "image/png"
            if new is None:
                continue
            before, after = before + len(raw), after + len(new)
            del data["image/png"]
            data[mime] = base64.b64encode(new).decode("ascii")
            meta = o.get("metadata", {})
            if "image/png" in meta:
                meta[mime] = meta.pop("image/png")
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for model in state.values():
        if model.get("model_name") != "ImageModel" or model.get("state", {}).get("format") != "png":
            continue
        for buf in model.get("buffers", []):
            if buf.get("path") != ["value"] or buf.get("encoding") != "base64":
                continue
            raw = base64.b64decode(buf["data"])
            if len(raw) < RECODE_MIN_BYTES // 4:
                continue
            new = _recode(raw, "webp", MAX_FRAME_PX)
            if new is None:
                continue
            before, after = before + len(raw), after + len(new)
            buf["data"] = base64.b64encode(new).decode("ascii")
            model["state"]["format"] = "webp"
    return before, after


def chapter_table(specs) -> str:
    """The intro's table of chapters, from the specs (no hand-kept list)."""
    rows = pd.DataFrame([{"chapter": f"[{s.title}](chapters/{s.id})", "paper": s.citation or "-",
                          "what is regenerated": s.summary} for s in specs])
    return md_table(rows)


def render_toc(chapter_ids: list[str]) -> str:
    lines = ["# Generated by benchlib.book.render_toc; `benchlib book` writes the same into the build.",
             "format: jb-book", "root: book/intro", "parts:",
             "  - caption: Using the book", "    chapters:",
             "      - file: book/how_to_run", "      - file: book/summary",
             "  - caption: Chapters", "    chapters:"]
    lines += [f"      - file: book/chapters/{c}" for c in chapter_ids]
    return "\n".join(lines) + "\n"


def _placeholder_notebook(cid: str, title: str, profile: str, run: dict) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(
        f"# {title}\n\nThis chapter has no executed notebook for the `{profile}` profile "
        f"({status_line(run)}). Run `benchlib run --profile {profile} --only {cid}`.")]
    return nb


def _tag(cell, *tags) -> None:
    cell.metadata["tags"] = sorted(set(cell.metadata.get("tags", [])) | set(tags))


def _is_long_log(cell) -> bool:
    """Only printed text, and much of it: a training log (tables and figures stay open)."""
    outs = cell.get("outputs", [])
    text = "".join("".join(o.get("text", "")) for o in outs if o.get("output_type") == "stream")
    return bool(outs) and all(o.get("output_type") == "stream" for o in outs) and text.count("\n") > LONG_LOG_LINES


def dress(nb, citation: str, run: dict, failure: dict | None, scrub=None) -> nbformat.NotebookNode:
    """A chapter page that reads like a paper's companion (no machine path in it: `scrub`)."""
    params = run.get("runner_parameters") or run.get("parameters") or {}
    shown = {k: params[k] for k in ("profile", "data_root", "seed", "n_seeds") if k in params}
    head = [f"*Paper:* {citation}" if citation else "",
            "*Run with:* " + ", ".join(f"{k} `{v}`" for k, v in shown.items()) if shown else ""]
    if failure:
        head.append(f"```{{warning}}\n{status_line(run, failure)}\n```")
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            _tag(cell, "remove-cell")        # replaced by the one-line "Run with" note
        elif "parameters" in tags:
            _tag(cell, "hide-cell")
        elif cell.cell_type == "code" and _is_long_log(cell):
            _tag(cell, "hide-output")   # the paper-beside-ours tables stay open, however long
    versions = ", ".join(f"{k} {v}" for k, v in sorted((run.get("versions") or {}).items()))
    dur = run.get("runner_duration_s", run.get("duration_s"))
    prov = ("## Provenance\n\n" + md_table(pd.DataFrame([
        {"": "commit", "value": f"`{run.get('git_commit')}`"}, {"": "started", "value": run.get("started", "")},
        {"": "device", "value": run.get("device", "")}, {"": "duration", "value": f"{dur} s"},
        {"": "CPU time", "value": _cpu_line(run)},
        {"": "packages", "value": versions}])))
    at = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
    nb.cells.insert(at, nbformat.v4.new_markdown_cell("\n\n".join(h for h in head if h)))
    nb.cells.append(nbformat.v4.new_markdown_cell(prov))
    scrub_notebook(nb, scrub or path_scrubber())
    lighten_images(nb)
    return nb


def _cpu_line(run: dict) -> str:
    if run.get("cpu_user_s") is None:
        return ""
    load = [run.get("load_average_start"), run.get("load_average_end")]
    load = " → ".join(f"{v:.2f}" for v in load if v is not None)
    return (f"{run['cpu_user_s']} s user + {run.get('cpu_sys_s')} s system on {run.get('threads', '?')} thread(s)"
            + (f"; load average {load}" if load else ""))


def stage(profile: str, results_root=None, staging=None) -> tuple[Path, list[str]]:
    """Assemble the book's sources; returns (staging folder, chapter ids in the book)."""
    root = project_root()
    results_root = Path(results_root) if results_root else default_results_root()
    staging = Path(staging) if staging else root / "_build" / ".source"
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "book" / "chapters").mkdir(parents=True)
    shutil.copy2(root / "_config.yml", staging / "_config.yml")
    for p in (root / "book").rglob("*"):
        rel = p.relative_to(root)
        if p.is_file() and rel.parts[1] != "chapters" and rel != Path("book/summary.md"):
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, staging / rel)
    specs = all_specs()
    scrub = path_scrubber(results_root)
    intro = staging / "book" / "intro.md"
    intro.write_text(intro.read_text(encoding="utf-8").replace(CHAPTER_TABLE_MARKER, chapter_table(specs)),
                     encoding="utf-8")
    # Discovered chapters first, then any other chapter that has results for this profile.
    prof_dir = results_root / profile
    extra = sorted(p.name for p in prof_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                   and p.name not in {s.id for s in specs} and (p / "run.json").is_file()) \
        if prof_dir.is_dir() else []
    ids = [*(s.id for s in specs), *extra]
    titles = {s.id: s.title for s in specs}
    citations = {s.id: s.citation for s in specs}
    for cid in ids:
        run = read_run(prof_dir / cid) or {}
        titles.setdefault(cid, run.get("title", cid))
        executed = prof_dir / cid / NOTEBOOK_NAME.format(chapter=cid)
        target = staging / "book" / "chapters" / f"{cid}.ipynb"
        if executed.is_file():
            nb = dress(nbformat.read(executed, as_version=4), citations.get(cid, ""), run,
                       last_failure(profile, cid, results_root), scrub)
        else:
            nb = _placeholder_notebook(cid, titles[cid], profile, run)
        nbformat.write(nb, target)
    (staging / "_toc.yml").write_text(render_toc(ids), encoding="utf-8")
    (staging / "book" / "summary.md").write_text(
        scrub(summary_markdown(profile, ids, titles, results_root, staging / "book")), encoding="utf-8")
    return staging, ids


SOURCE_MAP_REF = re.compile(r"\n?(?://|/\*)# sourceMappingURL=\S+?(?:\s*\*/)?\s*$")


def slim(html: Path) -> None:
    """What a reader never needs, out of the built book: the themes' source maps (and the comments
    pointing to them), their build-time translations, TrueType and WOFF copies of WOFF2 fonts, and the widget state inside the downloadable notebooks (`_sources/`: the
    explorers live on the pages; in Jupyter they are recomputed with a kernel), so each executed
    notebook is downloadable once, without a second copy of every explorer frame."""
    for p in html.rglob("*.map"):
        p.unlink()
    # the theme's translations are read at build time only; a TrueType font is only the fallback
    # of a browser without WOFF2 (every current one has it)
    shutil.rmtree(html / "_static" / "locales", ignore_errors=True)
    for p in html.rglob("*.ttf"):
        if p.with_suffix(".woff2").is_file():
            p.unlink()
    # the widgets' icon fonts: WOFF2 and WOFF under hashed names, WOFF2 listed first in every font-face
    for folder in {p.parent for p in html.rglob("*.woff")}:
        woff, woff2 = sorted(folder.glob("*.woff")), list(folder.glob("*.woff2"))
        if len(woff2) >= len(woff):
            for p in woff:
                p.unlink()
    for p in [*html.rglob("*.js"), *html.rglob("*.css")]:
        text = p.read_text(encoding="utf-8", errors="surrogateescape")
        new = SOURCE_MAP_REF.sub("", text)
        if new != text:
            p.write_text(new, encoding="utf-8", errors="surrogateescape")
    for p in (html / "_sources").rglob("*.ipynb"):
        nb = json.loads(p.read_text(encoding="utf-8"))
        if nb.get("metadata", {}).pop("widgets", None) is not None:
            p.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def page_weights(html: Path) -> dict:
    """{page: bytes} for every HTML page with the images it shows (its own files, not the shared
    theme), plus "_total" for the whole folder."""
    html = Path(html)
    out = {}
    for page in html.rglob("*.html"):
        text = page.read_text(encoding="utf-8", errors="replace")
        size = page.stat().st_size
        for ref in set(re.findall(r"""<img\b[^>]*\bsrc=["']([^"'#?]+)""", text)):
            f = (page.parent / ref).resolve()
            if f.is_file() and "_static" not in f.parts:
                size += f.stat().st_size
        out[str(page.relative_to(html))] = size
    out["_total"] = sum(f.stat().st_size for f in html.rglob("*") if f.is_file())
    return out


# Warnings that mean a broken page rather than a cosmetic issue: these fail the build.
BROKEN_LINK = re.compile(r"(reference target not found|undefined label|unknown document|"
                         r"cross-reference target not found|xref_missing|image file not readable|"
                         r"download file not readable)", re.I)


def build(profile: str = "default", results_root=None, out_dir=None, echo=print) -> Path:
    """Build the HTML book; returns the path of index.html. Prints the build's warnings (also
    kept in <out>/build-warnings.txt) and fails on broken internal links."""
    root = project_root()
    out_dir = Path(out_dir).resolve() if out_dir else root / "_build"
    staging, ids = stage(profile, results_root, out_dir / ".source")
    echo(f"building the book ({len(ids)} chapter pages, profile '{profile}') ...")
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
           "build", str(staging), "--builder", "html"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log = out_dir / "book-build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(proc.stdout + "\n" + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        raise BenchlibError(f"jupyter-book build failed (exit {proc.returncode}); log: {log}\n"
                            + (proc.stderr or proc.stdout)[-2000:])
    warnings = [ln.strip() for ln in (proc.stdout + "\n" + proc.stderr).splitlines()
                if "WARNING" in ln or "ERROR" in ln]
    (out_dir / WARNINGS_FILE).write_text("\n".join(warnings) + ("\n" if warnings else ""), encoding="utf-8")
    for w in warnings:
        echo(f"book warning: {w}")
    broken = [w for w in warnings if BROKEN_LINK.search(w)]
    if broken:
        raise BenchlibError(f"the book has {len(broken)} broken internal link(s); first: {broken[0]} (log: {log})")
    html = out_dir / "html"
    if html.exists():
        shutil.rmtree(html)
    shutil.move(str(staging / "_build" / "html"), str(html))
    slim(html)
    index = html / "index.html"
    if not index.is_file():
        raise BenchlibError(f"jupyter-book finished but {index} is missing")
    return index
