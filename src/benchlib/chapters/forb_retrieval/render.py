"""Procedural flat objects and query scenes for the FORB twin.

Every object is described by a small ``spec`` of integer seeds, one per component (style, art,
text, palette, ...). A distractor built like the paper's Figure 9 re-uses some components of an
index object and re-draws the others:

- cards, paintings, currency: same style (frame, palette, guilloche family), other content (9c);
- book covers and movie posters: same title text, other art (9e, 9g);
- logos: same shape family, slightly different geometry / glyph (9d); the index holds each logo
  in 2–3 colour schemes, all positives of a query (FORB counts colour variants as matches);
- packaged goods: same brand and layout, other flavour (9f).

Colour does not identify an object (twin version 5): every non-logo object of a type takes its
colours from one of :data:`N_PALETTES` palettes shared by the whole type, so many objects of a type
have similar global colour statistics — FORB's types are series of like objects (one card game's
frames, one currency's notes, paintings, covers and posters sharing contents, textures and styles:
Figure 9(a)–(c)). Identity lies in layout, shapes, texture and text. (In version 4 each object drew
its own palette and a plain RGB colour histogram retrieved better than any global embedding.)

Every work has a global composition (twin version 6, :func:`_composition`): under the fine texture
of a painting, a cover, a card's picture, a poster or a banknote's portrait lies a layout of a few
large masses of distinct luminance — a horizon or diagonal split, one to three big subject shapes,
which of them is light — drawn from the work's art seed. The supplementary's figures show real
flat objects: paintings with a subject and a horizon (Fig. 4), covers, posters and cards with a
large picture (Figs. 1–3, 8), and its Fig. 9(c) calls index and distractor images that share a
style "different contents". In version 5 the art was a stationary texture — strokes or shapes
scattered uniformly over a two-colour gradient — so two works of one palette were alike at every
scale above a stroke and identity lay only in the exact fine arrangement, which local features can
match and no global embedding can; real works differ in composition, which is what lets FORB's
global baselines work on easy queries (supplementary Table 1, mAP@1 easy: DINO 83.1, DINOv2 91.0,
CLIP 96.6). The shapes of cartoon and photo art are now fewer and smaller, so that they texture the
composition instead of covering it, and a painting's strokes take their colour from the
composition under them (tinted by the palette), as a painter's strokes follow the picture's
masses. Look-alike distractors are unchanged: they keep the style, palette or text of an index
object and re-draw the art, so they now differ in composition, as the content of real look-alikes
does. Queries, their distortions and difficulty grades are unchanged. (What the global rows
retrieve on this twin is measured by the chapter, not assumed here.)

Queries place an index object into a cluttered photo-like scene with perspective, scale,
truncation, occlusion, blur and colour change, graded by difficulty (:data:`DIFFICULTY`).
"""
from __future__ import annotations

import cv2
import numpy as np

VERSION = 6  # bump when the images change: the twin's folder name depends on it

_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
          cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)
_SYLLABLES = ("ka", "ro", "mi", "len", "dor", "sa", "vi", "tum", "el", "bra", "qu", "ix", "on",
              "ta", "zer", "lu", "ny", "phe", "gor", "wen", "cha", "mo", "rit", "sel")

# Portrait / landscape / square aspect (height / width) of each type.
_ASPECT = {"animated_cards": 1.4, "photorealistic_cards": 1.4, "bookcovers": 1.5, "paintings": 0.75,
           "currency": 0.48, "logos": 1.0, "packaged_goods": 1.25, "movie_posters": 1.48}

# Palettes per object type (logos excepted: their colour variants are positives of one another).
N_PALETTES = 4

# Scene parameters per difficulty: object size as a fraction of the scene, perspective jitter
# (fraction of the object size per corner), in-plane rotation (deg), how far the object may leave
# the frame (fraction of its size), occluded fraction, blur sigma (px), colour change strength.
DIFFICULTY = {
    "easy": dict(scale=(0.8, 0.92), persp=0.03, rot=5, trunc=0.0, occl=(0.0, 0.0), blur=(0.0, 0.6), colour=0.08),
    "medium": dict(scale=(0.58, 0.8), persp=0.07, rot=12, trunc=0.1, occl=(0.0, 0.12), blur=(0.3, 1.0), colour=0.2),
    "hard": dict(scale=(0.45, 0.65), persp=0.11, rot=25, trunc=0.22, occl=(0.08, 0.25), blur=(0.6, 1.4), colour=0.3),
}


# --------------------------------------------------------------------------- small helpers
def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


def _colour(rng, lo=0, hi=255):
    return tuple(int(c) for c in rng.integers(lo, hi, 3))


def _palette(rng, n=5):
    """n colours around a random hue (a 'style')."""
    hue = rng.uniform(0, 180)
    hsv = np.zeros((1, n, 3), np.uint8)
    hsv[0, :, 0] = (hue + rng.normal(0, 18, n)) % 180
    hsv[0, :, 1] = rng.integers(90, 255, n)
    hsv[0, :, 2] = rng.integers(70, 255, n)
    return [tuple(int(c) for c in v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0]]


def _word(rng, lo=2, hi=4):
    return "".join(rng.choice(_SYLLABLES, rng.integers(lo, hi + 1))).capitalize()


def _gradient(h, w, c0, c1, angle):
    xx = np.arange(w, dtype=np.float32)[None, :] / max(w, 1)
    yy = np.arange(h, dtype=np.float32)[:, None] / max(h, 1)
    t = np.cos(angle) * xx + np.sin(angle) * yy  # broadcast: no h×w index grids
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return (np.asarray(c0, np.float32) * (1 - t[..., None]) + np.asarray(c1, np.float32) * t[..., None]).astype(np.uint8)


def _text(img, rng, text, org, height, colour, font=None, thick=1):
    """Draw text whose cap height is about ``height`` px."""
    font = _FONTS[rng.integers(4)] if font is None else font
    scale = max(0.2, height / 22.0)
    cv2.putText(img, text, (int(org[0]), int(org[1])), font, scale, colour, max(1, int(thick)), cv2.LINE_AA)


def _text_block(img, rng, x0, y0, x1, y1, colour, line_h=7):
    """Lines of small pseudo-words (rules text, credits, ingredients)."""
    y = y0 + line_h
    while y < y1:
        x = x0
        while x < x1 - 10:
            w = _word(rng, 1, 3).lower()
            _text(img, rng, w, (x, y), line_h * 0.8, colour, cv2.FONT_HERSHEY_SIMPLEX)
            x += int(len(w) * line_h * 0.55) + 4
        y += line_h + 3


def _shapes(img, rng, n, palette, outline=None, size=(0.05, 0.3)):
    h, w = img.shape[:2]
    for _ in range(n):
        c = palette[rng.integers(len(palette))]
        kind = rng.integers(4)
        cx, cy = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        r = int(rng.uniform(*size) * min(h, w)) + 2
        if kind == 0:
            cv2.circle(img, (cx, cy), r, c, -1, cv2.LINE_AA)
            if outline is not None:
                cv2.circle(img, (cx, cy), r, outline, 2, cv2.LINE_AA)
        elif kind == 1:
            pts = np.array([(cx + r * np.cos(a), cy + r * np.sin(a))
                            for a in np.sort(rng.uniform(0, 2 * np.pi, rng.integers(3, 7)))], np.int32)
            cv2.fillPoly(img, [pts], c, cv2.LINE_AA)
            if outline is not None:
                cv2.polylines(img, [pts], True, outline, 2, cv2.LINE_AA)
        elif kind == 2:
            cv2.ellipse(img, (cx, cy), (r, max(2, r // 2)), float(rng.uniform(0, 180)), 0, 360, c, -1, cv2.LINE_AA)
        else:
            cv2.line(img, (cx, cy), (int(cx + rng.normal(0, r)), int(cy + rng.normal(0, r))), c,
                     int(rng.integers(1, 5)), cv2.LINE_AA)


# --------------------------------------------------------------------------- artwork kinds
def _shade(colour, f):
    """``colour`` with its brightness scaled by ``f`` (f < 1 darker, f > 1 towards white)."""
    c = np.asarray(colour, np.float32)
    return tuple(int(v) for v in (c * f if f <= 1 else c + (255 - c) * min(f - 1, 1)))


def _composition(rng, h, w, pal):
    """A work's global composition (twin version 6): a horizon or diagonal split into two masses of
    distinct luminance, then one to three large soft-edged masses (a subject, a building, a sun),
    each a palette colour shaded dark or light — where they sit, how big they are and which is
    light come from the art seed. Two works sharing a palette thus differ in their layout of light
    and dark, as two paintings of one painter or two covers of one series do."""
    light = rng.random() < 0.5
    f_top, f_bottom = (rng.uniform(1.15, 1.5), rng.uniform(0.3, 0.6))[:: 1 if light else -1]
    c = [_shade(pal[rng.integers(len(pal))], f) for f in (f_top, f_bottom)]
    img = np.empty((h, w, 3), np.uint8)
    y = (np.arange(h, dtype=np.float32)[:, None] / h) - rng.uniform(0.3, 0.7)
    x = np.arange(w, dtype=np.float32)[None, :] / w - 0.5
    tilt = rng.uniform(-0.35, 0.35) if rng.random() < 0.7 else rng.uniform(-1.5, 1.5)  # horizon or diagonal
    below = (y - tilt * x) > 0
    img[~below], img[below] = c[0], c[1]
    for _ in range(int(rng.integers(1, 4))):
        col = _shade(pal[rng.integers(len(pal))], rng.choice([rng.uniform(0.2, 0.5), rng.uniform(1.2, 1.6)]))
        cx, cy = int(rng.uniform(0.15, 0.85) * w), int(rng.uniform(0.15, 0.85) * h)
        r = rng.uniform(0.12, 0.3) * min(h, w)
        if rng.random() < 0.5:
            cv2.ellipse(img, (cx, cy), (int(r * rng.uniform(0.7, 1.4)), int(r * rng.uniform(0.7, 1.4))),
                        float(rng.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA)
        else:
            a = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7))))
            rr = r * rng.uniform(0.7, 1.3, len(a))
            cv2.fillPoly(img, [np.stack([cx + rr * np.cos(a), cy + rr * np.sin(a)], 1).astype(np.int32)], col,
                         cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), 0.02 * max(h, w))


def _art(seed, h, w, kind, palette=None):
    rng = _rng(seed)
    pal = palette or _palette(rng, 6)
    img = _composition(_rng([seed, 1]), h, w, pal)
    if kind == "cartoon":  # flat colours, black outlines
        _shapes(img, rng, 8, pal, outline=(20, 20, 20), size=(0.05, 0.18))
    elif kind == "photo":  # smooth blobs, soft light, sensor noise
        _shapes(img, rng, 12, pal, size=(0.04, 0.16))
        img = cv2.GaussianBlur(img, (0, 0), 1.2)
        _shapes(img, rng, 10, _palette(rng, 4), size=(0.02, 0.08))
        img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    elif kind == "strokes":  # painting: many short brush strokes in the local colour, tinted by the palette
        n = 260  # every stroke's numbers drawn at once (a Python loop of draws cost ~2 s per twin)
        x, y = rng.uniform(0, w, n), rng.uniform(0, h, n)
        a, L = rng.uniform(0, np.pi, n), rng.uniform(4, 16, n)
        tint = np.asarray(pal, np.float32)[rng.integers(len(pal), size=n)]
        under = img[np.minimum(y.astype(int), h - 1), np.minimum(x.astype(int), w - 1)].astype(np.float32)
        colours = (0.6 * under + 0.4 * tint).astype(int).tolist()
        ends = np.stack([x + L * np.cos(a), y + L * np.sin(a)], 1).astype(int).tolist()
        starts = np.stack([x, y], 1).astype(int).tolist()
        for p0, p1, c, t in zip(starts, ends, colours, rng.integers(2, 5, n).tolist()):
            cv2.line(img, p0, p1, c, t, cv2.LINE_AA)
        img = cv2.GaussianBlur(img, (3, 3), 0)
    elif kind == "dark":  # poster: dark backdrop, silhouettes, a light source
        img = (img * 0.45).astype(np.uint8)
        cv2.circle(img, (int(rng.uniform(0, w)), int(rng.uniform(0, h * 0.5))), int(0.25 * w), pal[2], -1, cv2.LINE_AA)
        img = cv2.GaussianBlur(img, (0, 0), 6)
        _shapes(img, rng, 9, [(10, 10, 15), (30, 25, 35)] + pal[3:], size=(0.08, 0.3))
    return img


def _guilloche(img, rng_style, rng_content, colour):
    """Banknote-like rosettes: r(θ) = R + a·cos(kθ) + b·sin(mθ) drawn as thin curves."""
    h, w = img.shape[:2]
    k, m = int(rng_style.integers(5, 13)), int(rng_style.integers(3, 9))
    centres = [(w * rng_content.uniform(0.2, 0.8), h * rng_content.uniform(0.3, 0.7)) for _ in range(2)]
    th = np.linspace(0, 2 * np.pi, 720)
    for cx, cy in centres:
        R = rng_content.uniform(0.15, 0.3) * h
        for j in range(14):
            a, b = R * 0.25 * (1 + j / 14), R * 0.12
            r = R + a * np.cos(k * th + j * 0.3) + b * np.sin(m * th)
            pts = np.stack([cx + r * np.cos(th), cy + r * np.sin(th)], 1).astype(np.int32)
            cv2.polylines(img, [pts], True, colour, 1, cv2.LINE_AA)


# --------------------------------------------------------------------------- the eight types
def _card(spec, h, w, art_kind):
    ct = _rng(spec["text"])
    pal = _palette(_rng(spec["palette"]), 6)
    img = np.full((h, w, 3), pal[0], np.uint8)
    b = max(4, w // 18)
    cv2.rectangle(img, (b // 2, b // 2), (w - b // 2, h - b // 2), pal[1], b // 2)
    cv2.rectangle(img, (b, b), (w - b, b + h // 10), pal[2], -1)
    _text(img, ct, _word(ct, 2, 4), (b + 3, b + h // 10 - 4), h * 0.055, (15, 15, 15))
    cv2.circle(img, (w - 2 * b, b + h // 20), h // 28, pal[3], -1, cv2.LINE_AA)
    ay0, ay1 = b + h // 10 + 3, int(h * 0.6)
    img[ay0:ay1, b:w - b] = _art(spec["art"], ay1 - ay0, w - 2 * b, art_kind, palette=pal)
    cv2.rectangle(img, (b, int(h * 0.63)), (w - b, h - b), (235, 230, 215), -1)
    _text_block(img, ct, b + 3, int(h * 0.63), w - b - 3, h - b - 4, (30, 30, 30), line_h=max(5, h // 32))
    return img


def _bookcover(spec, h, w):
    tt = _rng(spec["text"])
    img = _art(spec["art"], h, w, ["photo", "cartoon", "strokes"][spec["art"] % 3],
               palette=_palette(_rng(spec["palette"]), 6))
    title, author = _word(tt, 2, 3).upper(), f"{_word(tt, 1, 2)} {_word(tt, 2, 3)}".upper()
    band = _palette(tt, 2)[0]
    cv2.rectangle(img, (0, int(h * 0.08)), (w, int(h * 0.24)), band, -1)
    _text(img, tt, title, (6, int(h * 0.2)), h * 0.075, (250, 250, 245), thick=2)
    _text(img, tt, author, (6, int(h * 0.93)), h * 0.04, (250, 250, 250))
    return img


def _painting(spec, h, w):
    pal = _palette(_rng(spec["palette"]), 6)  # the painter's palette
    img = _art(spec["art"], h, w, "strokes", palette=pal)
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), (90, 60, 25), max(3, w // 40))
    return img


def _currency(spec, h, w):
    ct = _rng(spec["art"])
    pal = _palette(_rng(spec["palette"]), 4)
    img = _gradient(h, w, pal[0], (235, 232, 220), 0.3)
    _guilloche(img, _rng(spec["style"]), ct, pal[1])
    value = str(int(ct.choice([1, 2, 5, 10, 20, 50, 100, 500])))
    _text(img, ct, value, (6, int(h * 0.3)), h * 0.2, pal[2], cv2.FONT_HERSHEY_TRIPLEX, 2)
    _text(img, ct, value, (int(w * 0.72), int(h * 0.93)), h * 0.16, pal[2], cv2.FONT_HERSHEY_TRIPLEX, 2)
    cx, cy = int(w * 0.62), int(h * 0.48)
    portrait = _art(spec["art"] + 7, int(h * 0.6), int(h * 0.45), "photo",
                    palette=_palette(_rng(spec["palette"]), 6))
    mask = np.zeros(portrait.shape[:2], np.uint8)
    cv2.ellipse(mask, (mask.shape[1] // 2, mask.shape[0] // 2), (mask.shape[1] // 2 - 1, mask.shape[0] // 2 - 1), 0, 0, 360, 1, -1)
    y0, x0 = cy - portrait.shape[0] // 2, cx - portrait.shape[1] // 2
    roi = img[y0:y0 + portrait.shape[0], x0:x0 + portrait.shape[1]]
    roi[mask > 0] = (0.6 * portrait[mask > 0] + 0.4 * roi[mask > 0]).astype(np.uint8)
    _text(img, ct, _word(_rng(spec["style"]), 3, 4).upper(), (int(w * 0.05), int(h * 0.9)), h * 0.07, pal[3])
    return img


def _logo(spec, h, w):
    """A simple geometric mark (few corners: little for SIFT to hold on to)."""
    sh, pal_rng = _rng(spec["shape"]), _rng(spec["palette"])
    bg, fg, acc = (_colour(pal_rng, 200, 256), _colour(pal_rng, 0, 160), _colour(pal_rng, 0, 220))
    if pal_rng.random() < 0.35:  # dark background variant
        bg, fg = fg, bg
    img = np.full((h, w, 3), bg, np.uint8)
    c = np.array([w / 2, h / 2])
    kind = int(sh.integers(4))
    n = int(sh.integers(3, 8))
    r = min(h, w) * 0.32
    jitter = _rng(spec["variant"]).normal(0, 0.06, 8)  # Figure 9(d): same family, other geometry
    if kind == 0:
        cv2.circle(img, tuple(c.astype(int)), int(r * (1 + jitter[0])), fg, int(r * 0.25), cv2.LINE_AA)
    elif kind == 1:
        pts = np.array([c + r * (1 + jitter[i % 8]) * np.array([np.cos(2 * np.pi * i / n), np.sin(2 * np.pi * i / n)])
                        for i in range(n)], np.int32)
        cv2.fillPoly(img, [pts], fg, cv2.LINE_AA)
    elif kind == 2:
        for i in range(3):
            a = 2 * np.pi * i / 3 + jitter[i]
            p = (c + 0.45 * r * np.array([np.cos(a), np.sin(a)])).astype(int)
            cv2.circle(img, tuple(p), int(r * 0.45), fg if i != 1 else acc, -1, cv2.LINE_AA)
    else:
        cv2.rectangle(img, tuple((c - r).astype(int)), tuple((c + r * (1 + jitter[0])).astype(int)), fg, -1)
        cv2.circle(img, tuple(c.astype(int)), int(r * 0.5), bg, -1, cv2.LINE_AA)
    letter = _word(_rng(spec["variant"] + 1), 1, 1)[0]
    _text(img, sh, letter, (int(c[0] - r * 0.3), int(c[1] + r * 0.3)), r * 0.8, acc,
          cv2.FONT_HERSHEY_DUPLEX, max(2, int(r / 12)))
    _text(img, sh, _word(sh, 2, 3).upper(), (int(w * 0.12), int(h * 0.93)), h * 0.07, fg, thick=2)
    return img


def _packaged(spec, h, w):
    br, fl = _rng(spec["style"]), _rng(spec["art"])
    brand_col, flav = _palette(br, 3), _palette(_rng(spec["palette"]), 3)
    img = np.full((h, w, 3), brand_col[0], np.uint8)
    _text(img, br, _word(br, 2, 3).upper(), (6, int(h * 0.16)), h * 0.09, (255, 255, 255), thick=2)
    cv2.rectangle(img, (0, int(h * 0.22)), (w, int(h * 0.5)), flav[0], -1)
    for _ in range(int(fl.integers(2, 5))):  # 'fruit'
        cv2.circle(img, (int(fl.uniform(0.2, 0.8) * w), int(fl.uniform(0.28, 0.44) * h)), int(fl.uniform(0.06, 0.13) * w),
                   flav[1], -1, cv2.LINE_AA)
    _text(img, fl, _word(fl, 2, 3), (8, int(h * 0.6)), h * 0.06, flav[2], thick=2)
    _text_block(img, fl, 6, int(h * 0.64), w - 6, int(h * 0.82), (240, 240, 240), line_h=max(5, h // 34))
    x = 8
    while x < w * 0.5:  # barcode
        bw = int(br.integers(1, 4))
        cv2.rectangle(img, (x, int(h * 0.86)), (x + bw - 1, int(h * 0.97)), (10, 10, 10), -1)
        x += bw + int(fl.integers(1, 3))
    return img


def _poster(spec, h, w):
    tt = _rng(spec["text"])
    img = _art(spec["art"], h, w, "dark", palette=_palette(_rng(spec["palette"]), 6))
    title = _word(tt, 2, 3).upper()
    _text(img, tt, title, (6, int(h * 0.16)), h * 0.08, (245, 230, 180), thick=2)
    _text(img, tt, _word(tt, 3, 5), (6, int(h * 0.8)), h * 0.045, (230, 230, 230))
    _text_block(img, tt, 6, int(h * 0.84), w - 6, h - 4, (200, 200, 200), line_h=max(4, h // 40))
    return img


_RENDER = {
    "animated_cards": lambda s, h, w: _card(s, h, w, "cartoon"),
    "photorealistic_cards": lambda s, h, w: _card(s, h, w, "photo"),
    "bookcovers": _bookcover, "paintings": _painting, "currency": _currency, "logos": _logo,
    "packaged_goods": _packaged, "movie_posters": _poster,
}
# Which spec components a Figure-9 distractor keeps from its index object.
_KEEP = {"animated_cards": ("style", "palette"), "photorealistic_cards": ("style", "palette"),
         "bookcovers": ("text",), "paintings": ("style", "palette"), "currency": ("style", "palette"),
         "logos": ("shape",), "packaged_goods": ("style",), "movie_posters": ("text",)}
_COMPONENTS = ("style", "art", "text", "shape", "palette", "variant")


def render(object_type: str, spec: dict, size: int) -> np.ndarray:
    """The clean (index) image of an object: RGB uint8, long side = ``size``."""
    a = _ASPECT[object_type]
    h, w = (size, int(round(size / a))) if a >= 1 else (int(round(size * a)), size)
    return _RENDER[object_type](spec, h, w)


def make_objects(object_type: str, rng, n_index: int, n_distractors: int) -> list[dict]:
    """Specs of the index objects (``is_index``) and of the distractors. Half of the distractors
    are Figure-9 look-alikes of an index object, the rest independent objects of the type. Logos
    come as 2–3 colour variants per pattern (one ``group``: all positives of a query)."""
    palettes = rng.integers(2**31, size=N_PALETTES)  # the type's shared palettes

    def fresh():
        spec = {c: int(rng.integers(2**31)) for c in _COMPONENTS}
        if object_type != "logos":
            spec["palette"] = int(palettes[rng.integers(N_PALETTES)])
        return spec

    objs = []
    for g in range(n_index):
        spec = fresh()
        if object_type == "logos":
            for _ in range(int(rng.integers(2, 4))):
                objs.append({"spec": {**spec, "palette": int(rng.integers(2**31))}, "is_index": True, "group": g})
        else:
            objs.append({"spec": spec, "is_index": True, "group": g})
    index_specs = [o["spec"] for o in objs]
    for i in range(n_distractors):
        spec = fresh()
        if i % 2 == 0:
            src = index_specs[rng.integers(len(index_specs))]
            spec.update({c: src[c] for c in _KEEP[object_type]})
        objs.append({"spec": spec, "is_index": False, "group": -1})
    return objs


# --------------------------------------------------------------------------- query scenes
def background(rng, size: int) -> np.ndarray:
    """Cluttered photo-like scene: a lit surface, objects, texture and text snippets, defocus."""
    pal = _palette(rng, 6) + _palette(rng, 4)
    img = _gradient(size, size, _colour(rng, 40, 220), _colour(rng, 40, 220), rng.uniform(0, np.pi))
    _shapes(img, rng, 30, pal, size=(0.03, 0.25))
    for _ in range(3):
        _text(img, rng, _word(rng), (rng.uniform(0, size * 0.7), rng.uniform(10, size)), size * 0.04, _colour(rng))
    img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 2.5)))
    _shapes(img, rng, 12, pal, size=(0.01, 0.06))
    # Real rooms are less saturated than flat objects: halve the saturation.
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    hsv[..., 1] //= 2
    img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def query_scene(obj: np.ndarray, difficulty: str, rng, out_size: int = 256) -> np.ndarray:
    """Place ``obj`` into a scene with the distortions of ``difficulty`` (see :data:`DIFFICULTY`)."""
    p = DIFFICULTY[difficulty]
    h, w = obj.shape[:2]
    scene = background(rng, out_size)
    # Destination quad: scaled, rotated, perspective-jittered, shifted (possibly out of frame).
    s = rng.uniform(*p["scale"]) * out_size / max(h, w)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    centred = (corners - [w / 2, h / 2]) * s
    a = np.deg2rad(rng.uniform(-p["rot"], p["rot"]))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    quad = centred @ rot.T + rng.normal(0, p["persp"] * max(h, w) * s, (4, 2))
    ext = quad.max(0) - quad.min(0)
    room = np.maximum(out_size - ext, 0) / 2 + p["trunc"] * ext
    centre = out_size / 2 + rng.uniform(-room, room)
    dst = (quad + centre).astype(np.float32)
    M = cv2.getPerspectiveTransform(corners, dst)
    warped = cv2.warpPerspective(obj, M, (out_size, out_size), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.ones((h, w), np.float32), M, (out_size, out_size))[..., None]
    scene = (warped * mask + scene * (1 - mask)).astype(np.uint8)
    # Occlusion: a hand-like blob / a second object over part of the target.
    occl = rng.uniform(*p["occl"])
    if occl > 0:
        area = occl * float(mask.sum())
        r = np.sqrt(area / np.pi)
        inside = np.argwhere(mask[..., 0] > 0.5)
        cy, cx = inside[rng.integers(len(inside))] if len(inside) else (out_size // 2, out_size // 2)
        col = _colour(rng, 60, 230)
        cv2.ellipse(scene, (int(cx), int(cy)), (int(r * 1.3), int(r * 0.8)), float(rng.uniform(0, 180)), 0, 360,
                    col, -1, cv2.LINE_AA)
    # Colour change: white balance, exposure, contrast, hue shift.
    c = p["colour"]
    f = scene.astype(np.float32) * (1 + rng.uniform(-c, c, 3)) + rng.uniform(-40, 40) * c
    f = (f - f.mean()) * (1 + rng.uniform(-c, c)) + f.mean()
    scene = np.clip(f, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(scene, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(int) + int(rng.uniform(-30, 30) * c)) % 180).astype(np.uint8)
    scene = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    sigma = rng.uniform(*p["blur"])
    if sigma > 0.3:
        scene = cv2.GaussianBlur(scene, (0, 0), sigma)
    return np.clip(scene + rng.normal(0, 3, scene.shape), 0, 255).astype(np.uint8)
