"""The claims component (benchlib.claimsview) and the book's page hygiene (benchlib.book): machine
paths out, lighter images, what a reader never needs removed."""
import base64
import io
import json
import math
import re

import nbformat
import numpy as np
import pandas as pd
import pytest

from benchlib import BenchlibError, book
from benchlib.claimsview import claims_html, claims_table, interval_text, scoreboard_html


def _row(claim_id, verdict, effect=math.nan, lo=math.nan, hi=math.nan, **kw):
    base = dict(claim_id=claim_id, statement=f"statement of {claim_id}", source="Sec. 1", verdict=verdict,
                effect=effect, ci_low=lo, ci_high=hi, unit="points", margin=0.0, direction=1, reference=0.0,
                paper_effect=math.nan, on_paper_numbers="n/a", reason="", evidence="", design="", mde=math.nan,
                margin_source="", by_construction="", verdict_half_margin="", verdict_double_margin="")
    base.update(kw)
    return base


CLAIMS = pd.DataFrame([
    _row("not_run", "not tested", reason="not tested: rows of B — not met (not run)"),
    _row("twin_made_it", "held", 2.0, 1.5, 2.5, by_construction="the twin plants the effect",
         reason="held by construction on the twin (the twin plants the effect): ..."),
    _row("sized", "inconclusive", 1.23, 0.44, 2.01, margin=0.5, margin_source="'at least half a point'",
         verdict_half_margin="held", verdict_double_margin="inconclusive", paper_effect=1.1,
         on_paper_numbers="held", reason="inconclusive: the interval ±0.785 reaches across 0.5; unit SD 1"),
    _row("wrong_way", "contradicted", -3.0, -4.0, -2.0, statement="a <b>bold</b> claim\n\nover two paragraphs",
         reason="contradicted: 95 % interval [-4, -2] lies wholly on the wrong side", evidence="a 5.0; b 8.0"),
])


def test_claims_table_groups_rows_and_sets_apart_by_construction_and_not_tested():
    out = claims_html(CLAIMS)
    # judged rows first in their order, then by construction, then not tested, each group headed
    assert re.findall(r'data-verdict="([^"]+)"', out) == ["inconclusive", "contradicted", "held", "not tested"]
    heads = re.findall(r'<tr class="group"><th colspan="4">([^<]+)</th>', out)
    assert [h.split(" (")[0] for h in heads] == ["Judged on the twin", "Held by construction of the twin",
                                                 "Not tested"]
    assert heads[0].endswith("(2)") and heads[1].endswith("(1)") and heads[2].endswith("(1)")
    assert out.count('class="apart bc"') == 1 and out.count('class="apart nt"') == 1
    assert ">by construction</span>" in out and ">contradicted</span>" in out
    # the badge shows the verdict word, so the reason drops it; the statement is escaped
    assert ">the interval ±0.785 reaches across 0.5; unit SD 1<" in out
    assert "&lt;b&gt;bold&lt;/b&gt;" in out and "<b>bold</b>" not in out
    # one raw-HTML block in a markdown page: no blank line anywhere
    assert "\n\n" not in out and "\n" not in out.split("</style>")[1]


def test_claims_table_effect_interval_sensitivity_and_paper_cells():
    out = claims_html(CLAIMS)
    sized = out.split('data-verdict="inconclusive"')[1].split("</tr>")[0]
    # width 1.57 -> two significant digits of it: one decimal
    assert "<b>1.2</b> [0.4, 2.0]</span> points" in sized
    assert "claimed: above 0.5" in sized and "at ½ margin: held · at 2× margin: inconclusive" in sized
    assert ">1.1</span><div class=\"small\">held on the paper's numbers" in sized
    assert "<summary>evidence</summary>" in sized and "&#x27;at least half a point&#x27;" in sized
    # no margin: no sensitivity line; no paper effect: a dash
    wrong = out.split('data-verdict="contradicted"')[1].split("</tr>")[0]
    assert "margin" not in wrong.split("<details>")[0] and '<span class="small">—</span>' in wrong
    assert "<b>-3.0</b> [-4.0, -2.0]" in wrong


@pytest.mark.parametrize("args, text", [
    ((-0.0899, -0.234, 0.0586), "-0.09 [-0.23, 0.06]"),      # width 0.29: 2 decimals
    ((3.55e-15, -35.8, 35.8), "0 [-36, 36]"),                 # width 72: none, and no -0 or 4e-15
    ((-1e-9, -0.5, 0.4), "0.00 [-0.50, 0.40]"),             # width 0.9: 2 decimals, and no -0.00
    ((0.905, 0.873, 0.937), "0.905 [0.873, 0.937]"),          # width 0.064: 3 decimals
    ((2e-7, 1e-7, 3e-7), "2e-07 [1e-07, 3e-07]"),             # tiny width: significant digits
    ((5.2, math.nan, math.nan), "5.2"),
    ((math.nan, 0, 1), ""),
])
def test_interval_text_decimals_follow_the_interval_width(args, text):
    assert interval_text(*args) == text


def test_claims_table_object_displays_html_and_text_and_refuses_unknown_verdicts():
    t = claims_table(CLAIMS, pd.DataFrame([{"check_id": "c1", "statement": "1 + 1 = 2", "passed": "yes",
                                            "detail": "2"}]))
    html = t._repr_html_()
    assert "identity (not a claim)" in html and ">passed</span>" in html
    text = repr(t).splitlines()
    assert text[1].split()[:7] == ["by", "construction", "twin_made_it:", "2.0", "[1.5,", "2.5]", "points"]
    assert text[3].split()[:6] == ["contradicted", "wrong_way:", "-3.0", "[-4.0,", "-2.0]", "points"]
    assert text[-1] == "checks: c1 yes"
    bad = CLAIMS.assign(verdict=["held", "held", "probably", "held"])
    with pytest.raises(BenchlibError, match="probably"):
        claims_table(bad)


def test_scoreboard_links_chapters_and_heads_break_at_soft_hyphens():
    board = pd.DataFrame([{"chapter": "demo", "status": "ok", "held": 2, "contradicted": 0, "inconclusive": 1,
                           "not tested": 0, "by construction": 1, "checks": "3/3"}])
    out = scoreboard_html(board, {"demo": "chapters/demo.html"})
    assert '<a href="chapters/demo.html">demo</a>' in out
    assert "contra\u00addicted" in out and "<td><b>2</b></td>" in out and "<td>0</td>" in out
    assert len(re.findall(r"<col ", out)) == 8


# --------------------------------------------------------------------------- machine paths
def test_path_scrubber_names_known_folders_and_shortens_other_machine_paths(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("BENCHLIB_DATA", str(data))
    scrub = book.path_scrubber(tmp_path / "results")
    assert scrub(f"twin at {data}/synth-FORB-1a2b") == "twin at [data]/synth-FORB-1a2b"
    assert scrub(f"saved to {tmp_path}/results/.staging/123-abcdef12/smoke/forb") == "saved to [results]/smoke/forb"
    assert scrub("see /home/someone/proj/notes/a.txt") == "see …/notes/a.txt"
    assert scrub("\x1b[0;32m/work/elsewhere/deep/file.py\x1b[0m") == "\x1b[0;32m…/deep/file.py\x1b[0m"
    # not a machine path: a URL, a relative path, a base64 run, a ratio
    for keep in ("https://example.org/tmp/x", "data/tmp/x", "iVBORw0KGgo/tmp/abc", "mAP@1/tmp", "a / b"):
        assert scrub(keep) == keep


def test_scrub_notebook_reaches_markdown_streams_html_tracebacks_and_widget_labels_not_images(monkeypatch):
    monkeypatch.setenv("BENCHLIB_DATA", "/srv/benchdata")
    nb = nbformat.v4.new_notebook()
    png = base64.b64encode(b"\x89PNG/tmp/xyz").decode()
    code = nbformat.v4.new_code_cell("x = 1")
    code.outputs = [nbformat.v4.new_output("stream", text="read /srv/benchdata/twin\n"),
                    nbformat.v4.new_output("display_data", data={"text/html": "<p>/tmp/a/b/c</p>", "image/png": png}),
                    nbformat.v4.new_output("error", ename="E", evalue="in /scratch/x/y/z",
                                            traceback=["/scratch/q/r/s"])]
    nb.cells = [nbformat.v4.new_markdown_cell("data_root `/srv/benchdata`"), code]
    nb.metadata["papermill"] = {"input_path": "/work/x/nb.ipynb", "parameters": {"data_root": "/srv/benchdata",
                                                                                "seed": 0}}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {
        "m": {"model_name": "DropdownModel", "state": {"_options_labels": ["/tmp/one/two/three"]}}}}}
    book.scrub_notebook(nb, book.path_scrubber())
    assert nb.cells[0].source == "data_root `[data]`"
    assert nb.metadata["papermill"] == {"input_path": "…/x/nb.ipynb", "parameters": {"data_root": "[data]", "seed": 0}}
    assert code.outputs[0]["text"] == "read [data]/twin\n"
    assert code.outputs[1]["data"]["text/html"] == "<p>[tmp]/a/b/c</p>" and code.outputs[1]["data"]["image/png"] == png
    assert code.outputs[2]["evalue"] == "in …/y/z" and code.outputs[2]["traceback"] == ["…/r/s"]
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]["m"]["state"]
    assert state["_options_labels"] == ["[tmp]/one/two/three"]


# --------------------------------------------------------------------------- lighter images
def _png(arr) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _photo(n=320, seed=0, width=None):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:(width or n)] / n
    img = np.stack([np.sin(6 * x + 3 * y), np.cos(5 * y - 2 * x), np.sin(9 * x * y)], -1) * 90 + 128
    return np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)


def test_lighten_images_makes_photos_jpeg_and_explorer_frames_webp_and_leaves_drawings_alone():
    photo, drawing = _png(_photo(width=1200)), _png(np.full((200, 300, 3), 255, np.uint8))
    assert len(photo) > book.RECODE_MIN_BYTES and len(drawing) < book.RECODE_MIN_BYTES
    rng = np.random.default_rng(1)   # a wide drawing with sixteen flat colours: JPEG saves too little
    wide = _png(rng.integers(0, 256, (16, 3)).astype(np.uint8)[np.kron(rng.integers(0, 16, (150, 500)),
                                                                       np.ones((2, 2), int))])
    assert len(wide) > book.RECODE_MIN_BYTES
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(p).decode()},
                                           metadata={"image/png": {"width": 320}}) for p in (photo, drawing, wide)]
    nb.cells = [cell]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"img": {
        "model_name": "ImageModel", "state": {"format": "png"},
        "buffers": [{"path": ["value"], "encoding": "base64", "data": base64.b64encode(photo).decode()}]}}}}
    before, after = book.lighten_images(nb)
    from PIL import Image

    jpeg = base64.b64decode(cell.outputs[0]["data"]["image/jpeg"])
    assert jpeg[:2] == b"\xff\xd8" and "image/png" not in cell.outputs[0]["data"]
    assert Image.open(io.BytesIO(jpeg)).size == (1000, 267)       # 1200 × 320 → the 1000 px cap
    assert cell.outputs[2]["data"]["image/png"] == base64.b64encode(wide).decode()   # kept as it was
    assert cell.outputs[0]["metadata"] == {"image/jpeg": {"width": 320}}
    assert list(cell.outputs[1]["data"]) == ["image/png"]          # small drawing: untouched
    model = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]["img"]
    webp = base64.b64decode(model["buffers"][0]["data"])
    assert model["state"]["format"] == "webp" and webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    assert Image.open(io.BytesIO(webp)).size == (772, 206)       # a frame: the column's 772 px
    assert before == 2 * len(photo) and after == len(jpeg) + len(webp)


def test_recode_to_png_narrows_a_wide_line_plot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, ax = plt.subplots(figsize=(20, 3), dpi=100)
    rng = np.random.default_rng(0)
    for _ in range(12):
        ax.plot(np.cumsum(rng.normal(size=400)), lw=0.8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    narrower = book._recode(buf.getvalue(), "png", 1000)
    assert Image.open(io.BytesIO(narrower)).size == (1000, 150)
    assert len(narrower) <= 0.7 * len(buf.getvalue())
    assert book._recode(narrower, "png", 1000) is None        # nothing left to gain: left alone


def test_slim_drops_source_maps_translations_ttf_twins_and_download_widget_state(tmp_path):
    html = tmp_path / "html"
    (html / "_static" / "locales" / "fr").mkdir(parents=True)
    (html / "_static" / "locales" / "fr" / "sphinx.mo").write_bytes(b"x")
    (html / "_static" / "a.js").write_text("var a = 1;\n//# sourceMappingURL=a.js.map\n")
    (html / "_static" / "a.js.map").write_text("{}")
    (html / "_static" / "s.css").write_text("p{}\n/*# sourceMappingURL=s.css.map */")
    for name in ("f.ttf", "f.woff2", "g.ttf"):
        (html / "_static" / name).write_bytes(b"font")
    (html / "_static" / "hm").mkdir()
    for name in ("1a.woff2", "2b.woff", "3c.woff2", "4d.woff"):
        (html / "_static" / "hm" / name).write_bytes(b"font")
    (html / "_static" / "only").mkdir()
    (html / "_static" / "only" / "x.woff").write_bytes(b"font")
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"state": {}}
    nb.cells = [nbformat.v4.new_markdown_cell("kept")]
    (html / "_sources").mkdir()
    nbformat.write(nb, html / "_sources" / "c.ipynb")
    book.slim(html)
    assert sorted(p.name for p in (html / "_static").iterdir()) == ["a.js", "f.woff2", "g.ttf", "hm", "only", "s.css"]
    assert sorted(p.name for p in (html / "_static" / "hm").iterdir()) == ["1a.woff2", "3c.woff2"]
    assert [p.name for p in (html / "_static" / "only").iterdir()] == ["x.woff"]     # no WOFF2 beside it: kept
    assert (html / "_static" / "a.js").read_text() == "var a = 1;" and (html / "_static" / "s.css").read_text() == "p{}"
    again = json.loads((html / "_sources" / "c.ipynb").read_text())
    assert "widgets" not in again["metadata"] and "".join(again["cells"][0]["source"]) == "kept"


def test_page_weights_count_a_page_with_its_own_images_not_the_theme(tmp_path):
    (tmp_path / "_images").mkdir()
    (tmp_path / "_static").mkdir()
    (tmp_path / "_images" / "a.png").write_bytes(b"x" * 1000)
    (tmp_path / "_static" / "logo.png").write_bytes(b"x" * 500)
    page = '<img src="_images/a.png"><img src="_images/a.png"><img src="_static/logo.png">'
    (tmp_path / "p.html").write_text(page)
    w = book.page_weights(tmp_path)
    assert w["p.html"] == len(page) + 1000 and w["_total"] == len(page) + 1500


def test_dress_keeps_long_tables_open_and_folds_long_logs():
    nb = nbformat.v4.new_notebook()
    table = nbformat.v4.new_code_cell("paper_tables['II']")
    table.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<table>" + "<tr><td>1</td></tr>" * 40
                                                                               + "</table>"})]
    log = nbformat.v4.new_code_cell("run = pipeline.run(config)")
    log.outputs = [nbformat.v4.new_output("stream", text="".join(f"epoch {i}\n" for i in range(book.LONG_LOG_LINES + 1)))]
    short = nbformat.v4.new_code_cell("print(1)")
    short.outputs = [nbformat.v4.new_output("stream", text="1\n" * book.LONG_LOG_LINES)]
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), table, log, short]
    out = book.dress(nb, "", {}, None, book.path_scrubber())
    tags = {c.source: c.metadata.get("tags", []) for c in out.cells if c.cell_type == "code"}
    assert tags == {"paper_tables['II']": [], "run = pipeline.run(config)": ["hide-output"], "print(1)": []}
