"""The claims component: one readable table of verdicts, used by every chapter page and the summary.

Each claim is a row: a verdict badge (colour and word), the statement with its one-line reason, the
effect with its 95 % interval and unit (and, where the claim has a margin, the verdict at half and
double that margin), the same effect on the paper's own numbers, and the evidence behind a
`<details>` toggle. Rows are grouped: claims judged on the twin first, then those that hold by
construction of the twin (counted apart), then those not tested — each group headed and shaded.

The table has fixed column widths and wraps its text, so it never scrolls sideways in a page of a
book read at 1400 px (tested in a real browser). The HTML has no blank line, so the same string is
also a raw-HTML block inside a MyST markdown page (the summary).
"""
from __future__ import annotations

import html
import math
import re

import pandas as pd

from .claims import PAPER_VERDICTS, VERDICTS

# Badge colours: the forest plot uses the same ones (plots.VERDICT_COLOURS).
COLOURS = {"held": "#1a7f37", "contradicted": "#cf222e", "inconclusive": "#9a6700", "not tested": "#6e7781"}
BY_CONSTRUCTION_COLOUR = "#8250df"
TABLE_CLASS = "blc-claims"

STYLE = f"""<style>
table.{TABLE_CLASS} {{width: 100%; max-width: 100%; table-layout: fixed; border-collapse: collapse; margin: 0.4em 0 1em; font-size: 0.88rem; line-height: 1.35;}}
table.{TABLE_CLASS} th, table.{TABLE_CLASS} td {{padding: 0.35em 0.45em; vertical-align: top; text-align: left; overflow-wrap: anywhere; word-break: normal; white-space: normal; border-bottom: 1px solid rgba(127,127,127,0.25);}}
table.{TABLE_CLASS} col.v {{width: 8.3em;}} table.{TABLE_CLASS} col.e {{width: 11.5em;}} table.{TABLE_CLASS} col.p {{width: 7.5em;}}
table.{TABLE_CLASS} .badge {{display: inline-block; padding: 0.1em 0.5em; border-radius: 0.8em; color: #fff; font-weight: 600; font-size: 0.82rem; white-space: nowrap;}}
table.{TABLE_CLASS} .badge.bc {{background: #fff !important; border: 2px dashed {BY_CONSTRUCTION_COLOUR}; color: {BY_CONSTRUCTION_COLOUR};}}
table.{TABLE_CLASS} .id {{font-family: monospace; font-size: 0.78rem; opacity: 0.75;}}
table.{TABLE_CLASS} .reason, table.{TABLE_CLASS} .small {{font-size: 0.8rem; opacity: 0.85;}}
table.{TABLE_CLASS} .reason {{margin-top: 0.2em;}}
table.{TABLE_CLASS} details {{font-size: 0.8rem; margin-top: 0.2em;}} table.{TABLE_CLASS} summary {{cursor: pointer; opacity: 0.8;}}
table.{TABLE_CLASS} tr.group th {{font-size: 0.82rem; padding-top: 0.8em; border-bottom: 2px solid rgba(127,127,127,0.45);}}
table.{TABLE_CLASS} tr.apart td {{background: rgba(127,127,127,0.09);}}
table.{TABLE_CLASS} tr.apart.bc td:first-child {{border-left: 3px dashed {BY_CONSTRUCTION_COLOUR};}}
table.{TABLE_CLASS} tr.apart.nt td:first-child {{border-left: 3px solid {COLOURS['not tested']};}}
table.{TABLE_CLASS} .num {{font-variant-numeric: tabular-nums;}}
table.blc-board td, table.blc-board th {{font-size: 0.9rem;}}
</style>"""

GROUPS = (("tested", "Judged on the twin"),
          ("bc", "Held by construction of the twin (counted apart: the twin was built so)"),
          ("nt", "Not tested (the reason says what is missing)"))


def _esc(v) -> str:
    # no newline either: a blank line would end the raw-HTML block in a markdown page
    return html.escape("" if v is None or (isinstance(v, float) and math.isnan(v)) else " ".join(str(v).split()))


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _g(v, digits: int = 3) -> str:
    v = _num(v)
    return "" if not math.isfinite(v) else f"{v:.{digits}g}"


def _text(row, col) -> str:
    v = row.get(col, "")
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()


def _group(row) -> str:
    if _text(row, "verdict") == "not tested":
        return "nt"
    if _text(row, "by_construction") and _text(row, "verdict") == "held":
        return "bc"
    return "tested"


def _badge(verdict: str, group: str) -> str:
    if group == "bc":
        return '<span class="badge bc" title="held, but only because of how the twin is made">by construction</span>'
    colour = COLOURS.get(verdict, "#57606a")
    return f'<span class="badge" style="background:{colour}">{_esc(verdict or "?")}</span>'


def _reason(row) -> str:
    """The engine's one-line reason, less the verdict word the badge already shows."""
    r = _text(row, "reason")
    return re.sub(r"^(held|contradicted|inconclusive|not tested):\s*", "", r)


def interval_text(e, lo, hi) -> str:
    """e [lo, hi] with as many decimals as the interval's width warrants (two significant digits of
    the width: 3.6e-15 on a ±36 interval reads 0); 3 significant digits when there is no width or it
    is tiny."""
    e, lo, hi = _num(e), _num(lo), _num(hi)
    if not math.isfinite(e):
        return ""
    has_ci = math.isfinite(lo) and math.isfinite(hi)
    width = hi - lo if has_ci else 0.0
    dec = 1 - math.floor(math.log10(width)) if width > 0 else None
    if dec is None or dec > 4:
        return f"{e:.3g}" + (f" [{lo:.3g}, {hi:.3g}]" if has_ci else "")
    dec = max(0, dec)

    def f(v):
        return f"{0.0 if abs(v) < 0.5 * 10 ** -dec else v:.{dec}f}"

    return f"{f(e)} [{f(lo)}, {f(hi)}]"


def effect_cell(row) -> str:
    e, lo, hi = _num(row.get("effect")), _num(row.get("ci_low")), _num(row.get("ci_high"))
    if not math.isfinite(e):
        return '<span class="small">—</span>'
    unit = _esc(_text(row, "unit"))
    txt = interval_text(e, lo, hi)
    point, _, ci = txt.partition(" [")
    out = f'<span class="num"><b>{point}</b>{" [" + ci if ci else ""}</span> {unit}'.rstrip()
    margin = _num(row.get("margin"))
    if math.isfinite(margin) and margin != 0:
        d = _num(row.get("direction"))
        ref = _num(row.get("reference"))
        ref = ref if math.isfinite(ref) else 0.0
        target = ref + (d if math.isfinite(d) and d != 0 else 1.0) * margin
        side = "below" if math.isfinite(d) and d < 0 else "above"
        out += f'<div class="small">claimed: {side} {_g(target)}</div>'
        half, double = _text(row, "verdict_half_margin"), _text(row, "verdict_double_margin")
        if half or double:
            out += (f'<div class="small" title="the verdict if the claimed size were half / double the margin">'
                    f'at ½ margin: {_esc(half or "?")} · at 2× margin: {_esc(double or "?")}</div>')
    return out


def paper_cell(row) -> str:
    p = _g(row.get("paper_effect"))
    on_paper = _text(row, "on_paper_numbers")
    if not p and on_paper in ("", "n/a"):
        return '<span class="small">—</span>'
    out = f'<span class="num">{p or "—"}</span>'
    if on_paper and on_paper in PAPER_VERDICTS and on_paper != "n/a":
        out += f'<div class="small">{_esc(on_paper)} on the paper\'s numbers</div>'
    return out


def _evidence(row) -> str:
    parts = [("evidence", _text(row, "evidence")), ("design", _text(row, "design")),
             ("smallest effect detected with 80 % power", _g(row.get("mde"))),
             ("margin from", _text(row, "margin_source")), ("by construction", _text(row, "by_construction")),
             ("precondition", _text(row, "precondition")), ("source", _text(row, "source"))]
    items = "".join(f"<li><b>{_esc(k)}:</b> {_esc(v)}</li>" for k, v in parts if v)
    if not items:
        return ""
    return f'<details><summary>evidence</summary><ul style="margin:0.2em 0 0 1.1em;padding:0">{items}</ul></details>'


def _row(row, chapter_col: bool) -> str:
    group = _group(row)
    verdict = _text(row, "verdict")
    cls = "" if group == "tested" else f' class="apart {group}"'
    where = f"{_esc(_text(row, 'chapter'))} · " if chapter_col and _text(row, "chapter") else ""
    claim = (f'<div>{_esc(_text(row, "statement"))}</div>'
             f'<div class="id">{where}{_esc(_text(row, "claim_id"))}</div>'
             + (f'<div class="reason">{_esc(_reason(row))}</div>' if _reason(row) else "")
             + _evidence(row))
    return (f'<tr{cls} data-verdict="{_esc(verdict)}"><td>{_badge(verdict, group)}</td><td>{claim}</td>'
            f"<td>{effect_cell(row)}</td><td>{paper_cell(row)}</td></tr>")


def claims_html(claims: pd.DataFrame, style: bool = True) -> str:
    """The claims table (claims.csv rows; a `chapter` column, if any, is shown with each claim id)."""
    if claims is None or len(claims) == 0:
        return "<p><em>(no claims)</em></p>"
    rows = [dict(r) for r in claims.to_dict("records")]
    chapter_col = "chapter" in claims.columns
    body = []
    for key, title in GROUPS:
        members = [r for r in rows if _group(r) == key]
        if not members:
            continue
        if key != "tested" or len(members) < len(rows):
            body.append(f'<tr class="group"><th colspan="4">{_esc(title)} ({len(members)})</th></tr>')
        body += [_row(r, chapter_col) for r in members]
    head = ('<colgroup><col class="v"><col class="c"><col class="e"><col class="p"></colgroup>'
            "<thead><tr><th>verdict</th><th>claim · reason</th><th>effect [95 % interval]</th>"
            "<th>paper's effect</th></tr></thead>")
    table = f'<table class="{TABLE_CLASS}">{head}<tbody>{"".join(body)}</tbody></table>'
    return f'<div class="{TABLE_CLASS}-wrap">' + (STYLE.replace("\n", "") if style else "") + f"{table}</div>"


def checks_html(checks: pd.DataFrame, style: bool = True) -> str:
    """Checks (identities, not claims): passed badge, statement, detail."""
    if checks is None or len(checks) == 0:
        return ""
    body = []
    for r in checks.to_dict("records"):
        ok = str(r.get("passed", "")).strip().lower() in ("yes", "true", "1")
        badge = (f'<span class="badge" style="background:{COLOURS["held" if ok else "contradicted"]}">'
                 f'{"passed" if ok else "FAILED"}</span>')
        body.append(f'<tr><td>{badge}</td><td><div>{_esc(_text(r, "statement"))}</div>'
                    f'<div class="id">{_esc(_text(r, "check_id"))}</div></td>'
                    f'<td colspan="2"><span class="small">{_esc(_text(r, "detail"))}</span></td></tr>')
    head = ('<colgroup><col class="v"><col class="c"><col class="e"><col class="p"></colgroup>'
            '<thead><tr><th>check</th><th>identity (not a claim)</th><th colspan="2">detail</th></tr></thead>')
    return (f'<div class="{TABLE_CLASS}-wrap">' + (STYLE.replace("\n", "") if style else "")
            + f'<table class="{TABLE_CLASS}">{head}<tbody>{"".join(body)}</tbody></table></div>')


SCORE_HEADS = {"held": "held", "contradicted": "contra\u00addicted", "inconclusive": "incon\u00adclusive",
               "not tested": "not tested", "by construction": "by con\u00adstruc\u00adtion"}


def scoreboard_html(board: pd.DataFrame, links: dict | None = None) -> str:
    """The summary's scoreboard: one row per chapter, the verdict counts under coloured heads; fixed
    column widths so it fits the text column (long heads break at soft hyphens). `links`: chapter ->
    the page's relative URL."""
    links = links or {}
    cols = list(board.columns)
    widths = {"chapter": "19%", "status": "13%", "checks": "9%"}
    rest = (100 - 19 - 13 - (9 if "checks" in cols else 0)) / max(1, len([c for c in cols if c not in widths]))
    colgroup = "".join(f'<col style="width:{widths.get(c, f"{rest:.1f}%")}">' for c in cols)
    heads = []
    for c in cols:
        colour = COLOURS.get(c, BY_CONSTRUCTION_COLOUR if c == "by construction" else "")
        label = html.escape(SCORE_HEADS.get(c, c))
        heads.append(f'<th style="border-bottom:3px solid {colour}">{label}</th>' if colour else f"<th>{label}</th>")
    body = []
    for r in board.to_dict("records"):
        cells = []
        for c in cols:
            v = _esc(r.get(c))
            if c == "chapter" and r.get(c) in links:
                v = f'<a href="{html.escape(links[r[c]])}">{v}</a>'
            elif c in SCORE_HEADS and str(r.get(c)) not in ("0", ""):
                v = f"<b>{v}</b>"
            cells.append(f"<td>{v}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="{TABLE_CLASS}-wrap">{STYLE.replace(chr(10), "")}<table class="{TABLE_CLASS} blc-board">'
            f'<colgroup>{colgroup}</colgroup><thead><tr>{"".join(heads)}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def claims_text(claims: pd.DataFrame) -> str:
    """A plain-text rendering (terminals, text/plain outputs)."""
    if claims is None or len(claims) == 0:
        return "(no claims)"
    lines = []
    for r in claims.to_dict("records"):
        g = _group(r)
        v = "by construction" if g == "bc" else _text(r, "verdict")
        eff = interval_text(_num(r.get("effect")), _num(r.get("ci_low")), _num(r.get("ci_high")))
        lines.append(f"{v:>15}  {_text(r, 'claim_id')}: {eff} {_text(r, 'unit')}".rstrip()
                     + (f"  — {_reason(r)}" if _reason(r) else ""))
    return "\n".join(lines)


class ClaimsTable:
    """What a notebook displays: `claims_table(res.judge(...), res.checks)` as a cell's last line."""

    def __init__(self, claims: pd.DataFrame, checks: pd.DataFrame | None = None):
        unknown = set(claims["verdict"].dropna()) - set(VERDICTS) if len(claims) else set()
        if unknown:
            from . import BenchlibError

            raise BenchlibError(f"claims table: unknown verdict(s) {sorted(unknown)} (expected {VERDICTS})")
        self.claims, self.checks = claims, checks

    def _repr_html_(self) -> str:
        out = claims_html(self.claims)
        if self.checks is not None and len(self.checks):
            out += checks_html(self.checks, style=False)
        return out

    def __repr__(self) -> str:
        out = claims_text(self.claims)
        if self.checks is not None and len(self.checks):
            out += "\nchecks: " + ", ".join(f"{r['check_id']} {r['passed']}" for r in self.checks.to_dict("records"))
        return out


def claims_table(claims: pd.DataFrame, checks: pd.DataFrame | None = None) -> ClaimsTable:
    return ClaimsTable(claims, checks)


__all__ = ["ClaimsTable", "checks_html", "claims_html", "claims_table", "claims_text", "scoreboard_html"]
