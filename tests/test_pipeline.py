"""End to end: every chapter notebook on the smoke profile, a deliberately broken chapter,
and the HTML book built from the results (no re-execution)."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from benchlib import cli
from benchlib.chapters import all_specs
from tests._chapters import add_chapter

CHAPTERS = [s.id for s in all_specs()]

BROKEN = "broken_demo"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, monkeypatch_module):
    tmp = tmp_path_factory.mktemp("pipeline")
    add_chapter(tmp, monkeypatch_module, BROKEN, "A deliberately broken chapter",
                ["x = 1", "raise ValueError('deliberately broken')"])
    monkeypatch_module.setenv("BENCHLIB_DATA", str(tmp / "data"))
    results, out = tmp / "results", tmp / "book"
    # The README's main command: run every chapter, then render the book even though one failed.
    code = cli.main(["run", "--profile", "smoke", "--results-root", str(results), "--jobs", "2",
                     "--book", "--out", str(out)])
    return {"code": code, "results": results / "smoke", "html": out / "html", "out": out}


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_run_exit_code_reports_the_broken_chapter(smoke_run):
    assert smoke_run["code"] == 1


@pytest.mark.parametrize("chapter", list(CHAPTERS), ids=list(CHAPTERS))
def test_claims_recompute_from_saved_evidence_and_intervals_stay_in_range(smoke_run, chapter):
    """claims.csv is re-derived from claims_data.npz and the declarations; every tested claim has its
    reason, MDE and design; every not-tested one a reason; no interval leaves its quantity's range."""
    import numpy as np

    from benchlib.claims import recompute
    from benchlib.results import check_intervals

    d = smoke_run["results"] / chapter
    saved = pd.read_csv(d / "claims.csv", keep_default_na=False, na_values=[""])
    again = recompute(d)
    assert list(again["claim_id"]) == list(saved["claim_id"])
    assert list(again["verdict"]) == list(saved["verdict"])
    cols = ["effect", "ci_low", "ci_high"]
    np.testing.assert_allclose(again[cols].astype(float), saved[cols].astype(float), rtol=1e-9, equal_nan=True)
    text = lambda col: saved[col].astype(object).fillna("").astype(str)   # noqa: E731 - empty columns read as float
    tested = saved["verdict"] != "not tested"
    assert text("reason")[tested].str.len().gt(0).all() and text("design")[tested].str.len().gt(0).all()
    assert saved.loc[tested, "mde"].notna().all()
    assert text("reason")[~tested].str.startswith("not tested: ").all()
    assert not text("reason").str.contains("is not degenerate").any()
    check_intervals(pd.read_csv(d / "results.csv"), f"{chapter} results.csv")


@pytest.mark.parametrize("chapter", list(CHAPTERS), ids=list(CHAPTERS))
def test_every_chapter_runs_on_smoke_and_writes_results(smoke_run, chapter):
    d = smoke_run["results"] / chapter
    run = json.loads((d / "run.json").read_text())
    assert run["status"] == "ok", run.get("error")
    rows = pd.read_csv(d / "results.csv")
    assert len(rows) > 0 and rows["dataset"].notna().all()
    claims = pd.read_csv(d / "claims.csv")
    assert set(claims["verdict"]) <= {"held", "contradicted", "inconclusive", "not tested"}
    assert (d / "checks.csv").is_file()
    assert (d / f"{chapter}.ipynb").is_file()
    assert not (smoke_run["results"].parent / ".staging").exists() or not any(
        (smoke_run["results"].parent / ".staging").iterdir())


def test_broken_chapter_is_recorded_with_its_failing_cell(smoke_run):
    d = smoke_run["results"] / BROKEN
    run = json.loads((d / "run.json").read_text())
    assert run["status"] == "failed"
    # index in the executed notebook: parameters, injected-parameters, x = 1, raise
    assert run["failed_cell"] == 3 and "deliberately broken" in run["error"]
    assert not (d / "results.csv").exists()  # no partial results


def test_book_has_every_page_and_shows_the_failure(smoke_run):
    html = smoke_run["html"]
    assert (html / "index.html").is_file()
    for page in ["book/intro", "book/how_to_run", "book/summary",
                 *[f"book/chapters/{c}" for c in CHAPTERS], f"book/chapters/{BROKEN}"]:
        assert (html / f"{page}.html").is_file(), page
    summary = (html / "book" / "summary.html").read_text()
    assert "FAILED" in summary and "deliberately broken" in summary
    # numbers on the summary page come from the results files
    rows = pd.read_csv(smoke_run["results"] / "metrics_appendix" / "results.csv")
    miou = rows[(rows.table == "A1") & (rows.metric == "miou")]["value"].iloc[0]
    assert f"{miou:.3f}" in summary   # as results.paper_table writes a fraction (3 decimals)


def test_same_profile_and_seed_give_the_same_tables(smoke_run, tmp_path):
    again = tmp_path / "again"
    assert cli.main(["run", "--profile", "smoke", "--only", "metrics_appendix",
                     "--results-root", str(again), "--force"]) == 0
    first = pd.read_csv(smoke_run["results"] / "metrics_appendix" / "results.csv")
    second = pd.read_csv(again / "smoke" / "metrics_appendix" / "results.csv")
    pd.testing.assert_frame_equal(first, second)


def test_unchanged_chapter_is_skipped_by_the_cache(smoke_run, capsys):
    results_root = smoke_run["results"].parent
    before = json.loads((smoke_run["results"] / "metrics_appendix" / "run.json").read_text())
    assert cli.main(["run", "--profile", "smoke", "--only", "metrics_appendix",
                     "--results-root", str(results_root)]) == 0
    assert "skipped" in capsys.readouterr().out
    after = json.loads((smoke_run["results"] / "metrics_appendix" / "run.json").read_text())
    assert after["started"] == before["started"]  # not re-executed


def test_book_command_renders_without_re_executing(smoke_run, capsys):
    nb = smoke_run["results"] / "metrics_appendix" / "metrics_appendix.ipynb"
    mtime = nb.stat().st_mtime
    assert cli.main(["book", "--profile", "smoke", "--results-root", str(smoke_run["results"].parent),
                     "--out", str(smoke_run["out"])]) == 0
    assert str(smoke_run["html"] / "index.html") in capsys.readouterr().out
    assert nb.stat().st_mtime == mtime


# --------------------------------------------------------------------------- the book offline
OUTSIDE = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.I)


def test_no_page_loads_anything_from_an_outside_host(smoke_run):
    html = smoke_run["html"]
    for page in html.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        bad = [m.group(0) for m in OUTSIDE.finditer(text)
               if "rel=\"canonical\"" not in m.group(0)]
        assert not bad, f"{page.relative_to(html)} loads from an outside host: {bad[:3]}"
    for css in html.rglob("*.css"):
        assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", css.read_text(encoding="utf-8", errors="replace")), css


def test_smoke_book_builds_without_warnings(smoke_run):
    warnings = (smoke_run["out"] / "build-warnings.txt").read_text(encoding="utf-8").strip()
    assert warnings == "", warnings


def _browser():
    import shutil

    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    chrome, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chrome and driver):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    # No network: every host resolves to nothing and every request would go to a dead proxy.
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
              "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
              "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(driver), options=opts)


def _pages(html):
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts)


def _visible_images(browser, control):
    """The src of every image shown by the explorer that holds `control` (nearest ancestor with images)."""
    return browser.execute_script(
        "let e = arguments[0]; while (e && !e.querySelector('img')) e = e.parentElement;"
        "return e ? Array.from(e.querySelectorAll('img')).filter(i => i.offsetParent !== null).map(i => i.src) : [];",
        control)


def _move(browser, control):
    """Move a slider one step (back from its end) or pick another dropdown entry."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", control)
    if control.tag_name == "select":
        sel = Select(control)
        now = [o.get_attribute("value") for o in sel.options].index(sel.first_selected_option.get_attribute("value"))
        sel.select_by_index(1 if now == 0 else 0)
        return
    at_end = control.get_attribute("aria-valuenow") == control.get_attribute("aria-valuemax")
    control.click()
    control.send_keys(Keys.ARROW_LEFT if at_end else Keys.ARROW_RIGHT)


# The real-browser checks read the book as a reader does: opened from disk, no network, 1400×900.
FOREST_TEXT_PX = ("const s = document.querySelector('svg[aria-label^=\"forest plot\"]'); if (!s) return null;"
                  "return Array.from(s.querySelectorAll('text')).filter(t => t.textContent.trim())"
                  ".map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a);")
CLAIMS_OVERFLOW = """return Array.from(document.querySelectorAll('table.blc-claims')).map(t => {
  const art = t.closest('article') || document.body;
  let e = t, worst = t.scrollWidth - t.clientWidth;
  while (e && e !== art) { worst = Math.max(worst, e.scrollWidth - e.clientWidth); e = e.parentElement; }
  return Math.max(worst, t.getBoundingClientRect().right - art.getBoundingClientRect().right);
});"""


@pytest.mark.slow
def test_real_browser_offline_scoreboard_forest_plot_and_a_live_explorer(smoke_run):
    import time

    browser = _browser()
    try:
        browser.get((smoke_run["html"] / "book" / "summary.html").as_uri())
        time.sleep(1)
        heads = browser.execute_script("return Array.from(document.querySelectorAll('th')).map(e => e.textContent)")
        heads = {h.replace("\u00ad", "").strip() for h in heads}
        assert {"held", "contradicted", "inconclusive", "not tested", "by construction"} <= heads
        # the first screen says what the book is and shows the scoreboard
        first = browser.execute_script("return document.querySelector('table.blc-board').getBoundingClientRect().top")
        assert first < 900, f"the scoreboard starts below the first screen (y = {first})"
        text = browser.execute_script("return document.querySelector('article').innerText")
        assert "synthetic twin" in text and text.index("synthetic twin") < text.index("held")
        sizes = browser.execute_script(FOREST_TEXT_PX)
        assert sizes, "forest plot missing or has no text"
        assert min(sizes) >= 11, f"forest plot text down to {min(sizes):.1f} px at 1400 px"

        browser.get((smoke_run["html"] / "book" / "chapters" / "metrics_appendix.html").as_uri())
        time.sleep(3)
        handle = browser.find_element("css selector", ".noUi-handle")
        before = _visible_images(browser, handle)
        assert before, "the explorer widget did not render"
        _move(browser, handle)
        time.sleep(1)
        assert _visible_images(browser, handle) != before, "moving the slider did not change the image"
    finally:
        browser.quit()


@pytest.mark.slow
def test_real_browser_claims_tables_fit_1400px_and_every_explorer_changes_state(smoke_run):
    import time

    browser = _browser()
    tables = controls = 0
    try:
        for page in _pages(smoke_run["html"] / "book"):
            browser.get(page.as_uri())
            time.sleep(2 if "chapters" in page.parts else 0.5)
            name = page.relative_to(smoke_run["html"])
            over = browser.execute_script(CLAIMS_OVERFLOW)
            tables += len(over)
            assert all(o <= 1 for o in over), f"{name}: a claims table overflows sideways by {max(over):.0f} px"
            assert browser.execute_script("return document.documentElement.scrollWidth") <= 1400, name
            for i in range(len(browser.find_elements("css selector", ".jupyter-widgets .noUi-handle, "
                                                                      ".jupyter-widgets select"))):
                control = browser.find_elements("css selector", ".jupyter-widgets .noUi-handle, "
                                                                 ".jupyter-widgets select")[i]
                before = _visible_images(browser, control)
                assert before, f"{name}: control {i} has no image beside it"
                _move(browser, control)
                time.sleep(0.6)
                assert _visible_images(browser, control) != before, f"{name}: control {i} changes nothing"
                controls += 1
    finally:
        browser.quit()
    n_claims = sum(len(pd.read_csv(d / "claims.csv")) > 0 for d in smoke_run["results"].iterdir()
                   if (d / "claims.csv").is_file() and d.name != BROKEN)
    assert tables >= n_claims + 1, f"{tables} claims tables for {n_claims} chapters with claims (+ the summary)"
    assert controls >= 1


# Absolute paths of the machine that built the book: temporary, staging, home and checkout folders.
MACHINE_PATH = re.compile(r"(?<![\w+/=.~-])/(?:tmp|var/tmp|root|work|home|Users|mnt|scratch|private)/")


def test_no_machine_path_in_any_page(smoke_run):
    html = smoke_run["html"]
    here = [str(smoke_run["results"].parent), str(smoke_run["out"]), str(Path.home()), ".staging"]
    files = [*_pages(html), *html.glob("_sources/**/*.ipynb"), *html.glob("_sources/**/*.md")]
    for f in files:
        text = f.read_text(encoding="utf-8")
        found = [m.group(0) for m in MACHINE_PATH.finditer(text)] + [h for h in here if h in text]
        assert not found, f"{f.relative_to(html)} names machine paths: {found[:3]}"


def test_book_weight_budget(smoke_run):
    """Whole book ≤ 20 MB, no page (with its images) > 3 MB, each executed notebook downloadable
    once, no source maps."""
    html = smoke_run["html"]
    files = [f for f in html.rglob("*") if f.is_file()]
    total = sum(f.stat().st_size for f in files)
    assert total <= 20e6, f"the book weighs {total / 1e6:.1f} MB"
    for page in _pages(html):
        text = page.read_text(encoding="utf-8")
        size = page.stat().st_size + sum((page.parent / ref).stat().st_size for ref in
                                         set(re.findall(r'<img\b[^>]*\bsrc="(?!data:)([^"#?]+)"', text))
                                         if (page.parent / ref).is_file())
        assert size <= 3e6, f"{page.relative_to(html)} weighs {size / 1e6:.1f} MB"
    notebooks = [f.name for f in files if f.suffix == ".ipynb"]
    for c in [*CHAPTERS, BROKEN]:
        assert notebooks.count(f"{c}.ipynb") == 1, (c, notebooks)
    assert not [f for f in files if f.suffix == ".map"]


# --------------------------------------------------------------------------- nbval: same inputs, same book
SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")


def _nbval(notebooks, tmp_path):
    """Re-execute executed notebooks and compare every output cell (nbval), writing results into
    a scratch staging folder and with the runner's thread settings."""
    env = dict(os.environ, BENCHLIB_STAGING_ROOT=str(tmp_path / "stage"), OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", BENCHLIB_THREADS="1", OMP_WAIT_POLICY="PASSIVE",
               MPLBACKEND="module://matplotlib_inline.backend_inline")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                           "--nbval-sanitize-with", str(SANITIZE), "--rootdir", str(tmp_path),
                           *map(str, notebooks)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1800)


@pytest.mark.slow
def test_nbval_same_inputs_give_the_same_outputs_cell_by_cell(smoke_run, tmp_path):
    copies = []
    for chapter in CHAPTERS:
        src = smoke_run["results"] / chapter / f"{chapter}.ipynb"
        copies.append(tmp_path / src.name)
        shutil.copy2(src, copies[-1])
    out = _nbval(copies, tmp_path)
    assert out.returncode == 0, out.stdout[-4000:]


def test_nbval_catches_an_output_that_changes(tmp_path):
    import papermill as pm

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import random\nprint(random.random())")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src, done = tmp_path / "src.ipynb", tmp_path / "unseeded.ipynb"
    nbformat.write(nb, src)
    pm.execute_notebook(str(src), str(done), progress_bar=False)
    assert _nbval([done], tmp_path).returncode != 0
