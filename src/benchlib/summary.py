"""The book's summary page: a scoreboard of verdicts, a forest plot of every claim, compact
tables in the paper's layout and downloads — built only from the results files."""
from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .claims import BY_CONSTRUCTION, VERDICTS, counts
from .claimsview import checks_html, claims_html, scoreboard_html
from .results import chapter_dir, load_results, paper_table, read_run


def md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_(no rows)_\n"
    df = df.astype(str).map(lambda s: s.replace("|", "\\|").replace("\n", " "))
    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join(["---"] * len(df.columns)) + "|"
    body = ["| " + " | ".join(r) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, sep, *body]) + "\n"


def last_failure(profile: str, cid: str, results_root) -> dict:
    from .runner import FAILURE_DIR

    return read_run(chapter_dir(profile, cid, results_root) / FAILURE_DIR) or {}


def status_line(run: dict, failure: dict | None = None) -> str:
    if failure:
        where = f" at cell {failure['failed_cell']}" if failure.get("failed_cell") is not None else ""
        return (f"**the last run FAILED**{where}: `{failure.get('error', 'unknown error')}` — shown: the last "
                f"successful run ({status_line(run)})")
    if not run:
        return "**not run** on this profile"
    if run.get("status") != "ok":
        where = f" at cell {run['failed_cell']}" if run.get("failed_cell") is not None else ""
        return f"**FAILED**{where}: `{run.get('error', 'unknown error')}`"
    dur = run.get("runner_duration_s", run.get("duration_s"))
    dur = f"{dur:.1f} s" if isinstance(dur, (int, float)) else "?"
    return f"ok — {dur}, commit `{run.get('git_commit')}`, {run.get('device', '')}"


def _downloads(cid: str, src: Path, dest: Path) -> str:
    links = []
    for name in ("results.csv", "claims.csv", "checks.csv", "run.json"):
        if (src / name).is_file():
            (dest / cid).mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / name, dest / cid / name)
            links.append(f"{{download}}`{name} <downloads/{cid}/{name}>`")
    return " · ".join(links) or "-"


def forest_figure(all_claims: pd.DataFrame, path: Path) -> str:
    """The forest plot as SVG (written to `path`) and as the inline markup the page shows ("" when no
    claim was tested): inline, its text is the page's text — searchable, and at 11 px or more at
    1400 px (tested in a real browser)."""
    if not all_claims.empty:   # the plot shows what was measured; not-tested claims are listed below it
        all_claims = all_claims[all_claims["verdict"] != "not tested"]
    if all_claims.empty:
        return ""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plots

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "forest"}):
        fig = plots.forest_plot(all_claims)
        fig.savefig(path, format="svg")
    plt.close(fig)
    svg = Path(path).read_text(encoding="utf-8")
    svg = svg[svg.index("<svg"):]
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="forest plot of every tested claim" '
                      f'style="width: 100%; max-width: {plots.FOREST_WIDTH_PX}px; height: auto" ', 1)
    # one line: a blank line would end the raw-HTML block in the markdown page
    return '<div class="forest-plot">' + " ".join(svg.split()) + "</div>"


def intro_markdown(profile: str) -> str:
    """What the book is and what a verdict means: the summary's first screen, above the scoreboard."""
    return (
        "Each chapter re-runs a paper's pipeline on a **synthetic twin**: generated data in the real "
        "dataset's on-disk format, small enough for a CPU (the same code reads the real dataset when it is "
        f"given one). This page is the `{profile}` profile's run. A verdict says whether the paper's claim "
        "holds **on the twin** — not whether the paper's numbers are reproduced. "
        "**held**: the claim's whole 95 % interval (over seeds and test units) lies beyond the claimed size; "
        "**contradicted**: the whole interval lies short of it; **inconclusive**: the interval reaches across; "
        "**not tested**: the run lacks what the claim needs (the reason says what); **by construction**: "
        "held only because of how the twin was made (counted apart). Checks (identities) are never counted "
        "as claims. How every number and interval is computed: "
        "[the appendix](chapters/metrics_appendix).")


def reference_section(profile: str, results_root, reference_root=None) -> str:
    """The "this run against the reference" block: `benchlib compare reference/<profile>
    results/<profile>` as markdown; empty when there is no reference for the profile. A comparison
    that cannot be made (a malformed file) is shown as such, and the page is still built."""
    from . import BenchlibError
    from .compare import compare, comparison_markdown, default_reference_root

    ref_dir = Path(reference_root or default_reference_root()) / profile
    if not ref_dir.is_dir():
        return ""
    try:
        report = compare(ref_dir, Path(results_root) / profile)
    except BenchlibError as e:
        return (f"## This run against the reference\n\nThe comparison with `reference/{profile}/` could not be "
                f"made: `{e}`\n")
    return comparison_markdown(report, f"reference/{profile}")


def summary_markdown(profile: str, chapter_ids: list[str], titles: dict, results_root, page_dir: Path,
                     reference_root=None) -> str:
    """The summary page; writes its figure and downloads under `page_dir` (the page's folder).
    `reference_root`: where `<profile>/` of the reference results is looked for (default
    `<project>/reference`)."""
    root = Path(results_root)
    board, files, sections, every = [], [], [], []
    for cid in chapter_ids:
        res, claims, checks, run = load_results(profile, cid, root)
        failure = last_failure(profile, cid, root)
        status = "not run" if not run else ("ok" if run.get("status") == "ok" else "FAILED")
        if failure:
            status = "FAILED (last good results shown)"
        n = counts(claims)
        board.append({"chapter": cid, "status": status,
                      **{v: n[v] for v in (*VERDICTS, BY_CONSTRUCTION)},
                      "checks": f"{int((checks['passed'] == 'yes').sum())}/{len(checks)}" if len(checks) else "-"})
        files.append({"chapter": titles.get(cid, cid),
                      "files": _downloads(cid, chapter_dir(profile, cid, root), page_dir / "downloads")})
        if len(claims):
            every.append(claims.assign(chapter=cid))
        sec = [f"## {titles.get(cid, cid)}", "", f"Status: {status_line(run, failure)}", ""]
        if len(claims):
            sec += ["### Claims", "", claims_html(claims), ""]
        if len(checks):
            sec += ["### Checks (identities, not claims)", "", checks_html(checks), ""]
        for table in sorted(res["table"].astype(str).unique(), key=lambda t: (len(t), t)):
            # every row, tidy, is in the chapter's page and its results.csv (Downloads): not repeated here
            sec += [f"```{{dropdown}} Table {table}: ours (paper)",
                    md_table(paper_table(res, table, flat=True).reset_index()), "```", ""]
        sections.append("\n".join(sec))
    all_claims = pd.concat(every, ignore_index=True) if every else pd.DataFrame()
    plot = forest_figure(all_claims, page_dir / "forest.svg")
    out = [f"# Results summary ({profile} profile)", "", intro_markdown(profile), "",
           scoreboard_html(pd.DataFrame(board), {c: f"chapters/{c}.html" for c in chapter_ids}), ""]
    if plot:
        n_out = int((all_claims["verdict"] == "not tested").sum())
        out += ["## Every tested claim at a glance", "",
                "Effects point the claim's way (right is for the claim; 0 = no effect). Claims the paper's "
                "own numbers support share one axis, the effect ÷ the paper's effect (1 = the paper's size, "
                "◇); the others keep their own unit, each row its own axis. Bars: 95 % intervals; dashed: the "
                "claimed size; the numbers as measured are on the right. "
                + (f"{n_out} claim(s) not tested are listed, with their reasons, in the chapters' sections "
                   "below." if n_out else ""), "", plot, ""]
    out += [f"Built {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from `results/{profile}/`.", ""]
    block = reference_section(profile, root, reference_root)
    if block:
        out += [block, ""]
    out += ["## Downloads", "", md_table(pd.DataFrame(files)), ""]
    out += sections
    return "\n".join(out) + "\n"
