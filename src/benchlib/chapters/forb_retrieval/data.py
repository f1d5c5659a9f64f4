"""FORB (pxiangwu/FORB): the real on-disk layout, its validation, and a seeded synthetic twin.

Layout (REFERENCE.md §2 "FORB")::

    <root>/metadata/<type>_query.ndjson      {"image": "<type>/query/<uuid>.jpg", "image_url": ...}
    <root>/metadata/<type>_database.ndjson   {"image": "<type>/database/<uuid>.jpg", "image_url": ...}
    <root>/metadata/<type>_gt.ndjson         {"query_id": 1-based, "query_image", "groundtruth_ids":
                                              1-based lines of <type>_database.ndjson,
                                              "groundtruth_images", "difficulty"}
    <root>/metadata/all_database_images.txt  every database image, one path a line
    <root>/metadata/oods_database_images.txt the database minus the index images (distractors)
    <root>/metadata/images_for_building_codebook.txt   (optional) images for the BoW vocabulary
    <root>/<type>/{query,database}/<uuid>.jpg

Global 0-based database id = local 1-based id − 1 + offset of the type, where the offset is the
position of the type's block in ``all_database_images.txt``. (The plain-text lists may sit in
``metadata/`` or in the root; FORB's release keeps them in ``metadata/``.)

The twin (:func:`write_twin`, :func:`resolve_forb_root`) writes exactly this layout, with
procedurally rendered flat objects of the eight types, photo-like query scenes graded easy /
medium / hard, distractors built like the paper's Figure 9 and colour variants of logos as
several positives per query; see :mod:`.render` for the images themselves. The twin is written
once through :func:`benchlib.datasets.ensure_twin` (folder named after the generator's
:data:`TWIN_VERSION` and the sizes).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchlib import BenchlibError
from benchlib.datasets import Dataset, resolve
from benchlib.safeio import contained, read_text
from benchlib.safeio import read_image as _read_image_safe

from . import render

OBJECT_TYPES = ("animated_cards", "photorealistic_cards", "bookcovers", "paintings", "currency",
                "logos", "packaged_goods", "movie_posters")
DIFFICULTIES = ("easy", "medium", "hard")
LIST_FILES = ("all_database_images.txt", "oods_database_images.txt")
CODEBOOK_FILE = "images_for_building_codebook.txt"
_IMAGE_KEYS = ("image",)
_GT_KEYS = ("query_id", "query_image", "groundtruth_ids", "difficulty")
_JPEG_MAGIC = b"\xff\xd8\xff"
TWIN_NAME = "synth-FORB"
TWIN_VERSION = render.VERSION  # bump render.VERSION when the images change: a new twin folder


@dataclass
class ForbData:
    """What :func:`load_forb` returns.

    ``database``: db_id (global, 0-based), object_type, image (absolute path), distractor (bool:
    listed in oods_database_images.txt). ``queries``: query_id (1-based, per type, as in the gt
    file), object_type, image, difficulty, positives (list of global db ids). ``codebook``: image
    paths for the BoW vocabulary / self-supervised training (the distractors when no codebook list
    is shipped). ``offsets``: object type → global id of its first database image.
    """
    root: Path
    database: pd.DataFrame
    queries: pd.DataFrame
    codebook: list = field(default_factory=list)
    offsets: dict = field(default_factory=dict)

    @property
    def distractor_ids(self) -> np.ndarray:
        return self.database.loc[self.database["distractor"], "db_id"].to_numpy()

    def summary(self) -> pd.DataFrame:
        """Counts per object type, like FORB's dataset table."""
        q = self.queries.groupby("object_type")["difficulty"].value_counts().unstack(fill_value=0)
        db = self.database.groupby("object_type").agg(database=("db_id", "size"),
                                                      distractors=("distractor", "sum"))
        out = db.join(q).reindex([t for t in OBJECT_TYPES if t in db.index]).fillna(0).astype(int)
        out["queries"] = out[[d for d in DIFFICULTIES if d in out]].sum(axis=1)
        out["max positives"] = self.queries.groupby("object_type")["positives"].apply(
            lambda p: max(map(len, p)))
        return out


# --------------------------------------------------------------------------- reading
def _metadata_file(root: Path, name: str, required: bool = True) -> Path | None:
    for p in (root / "metadata" / name, root / name):
        if p.is_file():
            return p
    if required:
        raise BenchlibError(f"{root / 'metadata' / name}: file not found (not a FORB layout?)")
    return None


def _lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, stripped text) of the non-empty lines; safeio refuses other encodings
    and NUL bytes. Split on "\\n" only: a U+2028 inside a JSON string is not a line break."""
    return [(n, s.strip()) for n, s in enumerate(read_text(path).split("\n"), 1) if s.strip()]


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs) -> dict:
    """json.loads would keep the last of two equal keys; a line that says two things is refused."""
    out = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _read_ndjson(path: Path, keys) -> list[dict]:
    rows = []
    for n, line in _lines(path):
        try:
            obj = json.loads(line, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as e:
            raise BenchlibError(f"{path}, line {n}: not valid JSON ({e.msg})") from None
        except _DuplicateKey as e:
            raise BenchlibError(f"{path}, line {n}: key {e.args[0]!r} given twice") from None
        if not isinstance(obj, dict):
            raise BenchlibError(f"{path}, line {n}: expected a JSON object")
        missing = [k for k in keys if k not in obj]
        if missing:
            raise BenchlibError(f"{path}, line {n}: missing key(s) {', '.join(map(repr, missing))}")
        obj["_line"] = n
        rows.append(obj)
    return rows


def _safe_image(root: Path, rel, where: str, check_file: bool = True) -> str:
    """Relative path → normalised posix string, kept inside the data root by
    :func:`benchlib.safeio.contained` (absolute paths, `..` escapes and NUL bytes refused) and,
    when asked, refused when the file is missing or not a JPEG. Only the three magic bytes are
    read here: decoding (with the size check) happens in :func:`read_image`, when the pixels are
    needed — decoding the 68k images of the real FORB just to load the metadata would take long."""
    if not isinstance(rel, str) or not rel:
        raise BenchlibError(f"{where}: image path must be a non-empty string, got {rel!r}")
    full = contained(root, rel, where)
    rel = full.relative_to(root).as_posix()
    if check_file:
        try:
            with open(full, "rb") as f:
                head = f.read(3)
        except OSError:
            raise BenchlibError(f"{where}: image {rel!r} not found or unreadable ({full})") from None
        if head != _JPEG_MAGIC:
            raise BenchlibError(f"{where}: image {rel!r} is not a JPEG file ({full})")
    return rel


def _no_duplicates(items, path: Path, what: str) -> None:
    """``items``: (line, key) pairs; a key seen twice is an error naming both lines (a repeated
    line would count a query twice or give one image two ids)."""
    seen = {}
    for n, key in items:
        if key in seen:
            raise BenchlibError(f"{path}, line {n}: {what} {key!r} repeats line {seen[key]}")
        seen[key] = n


def _int_id(value, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise BenchlibError(f"{where}: {key} must be an integer, got {value!r}")
    return int(value)


def is_forb_root(root) -> bool:
    root = Path(root)
    return any((root / "metadata").glob("*_gt.ndjson"))


def _types_to_load(root: Path, object_types, listed: set) -> list[str]:
    """The object types with a ground-truth file. A type that has images or metadata but no
    ``<type>_gt.ndjson`` is an error, not a silent omission: every table would lose its queries.
    ``listed``: the first path components of ``all_database_images.txt``."""
    asked = list(object_types or OBJECT_TYPES)
    types, missing = [], []
    for t in asked:
        gt = root / "metadata" / f"{t}_gt.ndjson"
        if gt.is_file():
            types.append(t)
            continue
        evidence = [f"{name} exists" for name in (f"{t}_query.ndjson", f"{t}_database.ndjson")
                    if _metadata_file(root, name, required=False) is not None]
        if (root / t).is_dir():
            evidence.append(f"the image folder {t}/ exists")
        if t in listed:
            evidence.append("all_database_images.txt lists its images")
        if evidence or object_types:
            missing.append(f"{gt}: not found, but {'; '.join(evidence) or 'this type was asked for'}")
    if missing:
        raise BenchlibError("; ".join(missing) + " (without its ground truth an object type's queries "
                            "would silently drop out of every table)")
    if not types:
        raise BenchlibError(f"{root / 'metadata'}: no <type>_gt.ndjson files of the types {', '.join(asked)}")
    return types


def _check_groundtruth_images(r: dict, db: list[str], local: list[int], root: Path, where: str) -> None:
    """``groundtruth_images`` (optional) must name the database lines that ``groundtruth_ids``
    point at: if the two columns disagree, one of them is wrong and the ids cannot be trusted."""
    names = r.get("groundtruth_images")
    if names is None:
        return
    if not isinstance(names, list) or len(names) != len(local):
        raise BenchlibError(f"{where}: groundtruth_images must be a list as long as groundtruth_ids "
                            f"({len(local)}), got {names!r}")
    for g, name in zip(local, names):
        if _safe_image(root, name, where, check_file=False) != db[g - 1]:
            raise BenchlibError(f"{where}: groundtruth_images names {name!r} but groundtruth id {g} is "
                                f"{db[g - 1]!r}")


def load_forb(root, object_types=None, check_images: bool = True) -> ForbData:
    """Read and validate a FORB tree (real or twin). Errors name the file and line."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise BenchlibError(f"{root}: FORB data root not found")

    all_path = _metadata_file(root, "all_database_images.txt")
    position = {}
    for n, rel in _lines(all_path):
        rel = _safe_image(root, rel, f"{all_path}, line {n}", check_file=False)
        if rel in position:
            raise BenchlibError(f"{all_path}, line {n}: {rel!r} listed twice")
        position[rel] = len(position)
    types = _types_to_load(root, object_types, {rel.split("/", 1)[0] for rel in position})

    db_rows, q_rows, offsets = [], [], {}
    for t in types:
        db_file = _metadata_file(root, f"{t}_database.ndjson")
        q_file = _metadata_file(root, f"{t}_query.ndjson")
        gt_file = _metadata_file(root, f"{t}_gt.ndjson")
        db_meta = _read_ndjson(db_file, _IMAGE_KEYS)
        db = [_safe_image(root, r["image"], f"{db_file}, line {r['_line']}", check_images) for r in db_meta]
        if not db:
            raise BenchlibError(f"{db_file}: empty database")
        _no_duplicates(zip((r["_line"] for r in db_meta), db), db_file, "image")
        # The type's block in all_database_images.txt fixes its offset; it must hold the type's
        # database in the same order, or local ids would not map onto global ids.
        if db[0] not in position:
            raise BenchlibError(f"{all_path}: {db[0]!r} (line 1 of {db_file.name}) is not listed")
        off = position[db[0]]
        for i, rel in enumerate(db):
            if position.get(rel) != off + i:
                raise BenchlibError(f"{all_path}: the block of {t} does not match {db_file.name} "
                                    f"line {i + 1} ({rel!r}); offsets follow the order of this list")
        offsets[t] = off
        db_rows += [{"db_id": off + i, "object_type": t, "image": str(root / rel), "_rel": rel}
                    for i, rel in enumerate(db)]

        queries = _read_ndjson(q_file, _IMAGE_KEYS)
        q_images = [_safe_image(root, r["image"], f"{q_file}, line {r['_line']}", check_images) for r in queries]
        _no_duplicates(zip((r["_line"] for r in queries), q_images), q_file, "query image")
        gt_rows = _read_ndjson(gt_file, _GT_KEYS)
        if not gt_rows:
            raise BenchlibError(f"{gt_file}: no ground-truth lines, but {q_file.name} lists "
                                f"{len(q_images)} queries")
        judged = {}
        for r in gt_rows:
            where = f"{gt_file}, line {r['_line']}"
            qid = _int_id(r["query_id"], where, "query_id")
            if not 1 <= qid <= len(q_images):
                raise BenchlibError(f"{where}: query_id {qid} out of range 1..{len(q_images)} ({q_file.name})")
            if qid in judged:  # a repeated line would count the query twice
                raise BenchlibError(f"{where}: query_id {qid} repeats line {judged[qid]}")
            judged[qid] = r["_line"]
            qimg = _safe_image(root, r["query_image"], where, check_file=False)
            if qimg != q_images[qid - 1]:
                raise BenchlibError(f"{where}: query_image {qimg!r} is not line {qid} of {q_file.name}")
            gts = r["groundtruth_ids"]
            if not isinstance(gts, list) or not gts:
                raise BenchlibError(f"{where}: groundtruth_ids must be a non-empty list, got {gts!r}")
            local = [_int_id(g, where, "groundtruth_ids") for g in gts]
            bad = [g for g in local if not 1 <= g <= len(db)]
            if bad:
                raise BenchlibError(f"{where}: groundtruth id(s) {bad} out of range 1..{len(db)} ({db_file.name})")
            _check_groundtruth_images(r, db, local, root, where)
            if r["difficulty"] not in DIFFICULTIES:
                raise BenchlibError(f"{where}: difficulty {r['difficulty']!r} is not one of {DIFFICULTIES}")
            q_rows.append({"query_id": qid, "object_type": t, "image": str(root / qimg),
                           "difficulty": r["difficulty"],
                           "positives": sorted({g - 1 + off for g in local})})
        # every listed query needs a ground-truth line: FORB's evaluation iterates over the
        # ground-truth lines, so a query without one would silently drop out of every table
        missing = [i for i in range(1, len(q_images) + 1) if i not in judged]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise BenchlibError(f"{q_file}, line {queries[missing[0] - 1]['_line']}: query "
                                f"{q_images[missing[0] - 1]!r} has no ground-truth line in {gt_file.name}{more}")

    database = pd.DataFrame(db_rows).sort_values("db_id", ignore_index=True)
    oods_path = _metadata_file(root, "oods_database_images.txt")
    oods_lines = [(n, _safe_image(root, rel, f"{oods_path}, line {n}", check_file=False))
                  for n, rel in _lines(oods_path)]
    _no_duplicates(oods_lines, oods_path, "image")
    oods = set()
    known = set(database["_rel"])
    for n, rel in oods_lines:
        if rel not in position:
            raise BenchlibError(f"{oods_path}, line {n}: {rel!r} is not in all_database_images.txt")
        if rel in known:
            oods.add(position[rel])
    database["distractor"] = database["db_id"].isin(oods)
    queries = pd.DataFrame(q_rows, columns=["query_id", "object_type", "image", "difficulty", "positives"])
    is_distractor = dict(zip(database["db_id"], database["distractor"]))
    for q in queries.itertuples():
        if any(is_distractor[p] for p in q.positives):
            raise BenchlibError(f"{oods_path}: a positive of {q.object_type} query {q.query_id} is listed "
                                "as a distractor (the oods list must exclude index images)")

    cb_path = _metadata_file(root, CODEBOOK_FILE, required=False)
    if cb_path is not None:
        cb_lines = [(n, _safe_image(root, rel, f"{cb_path}, line {n}", check_images)) for n, rel in _lines(cb_path)]
        _no_duplicates(cb_lines, cb_path, "image")  # a repeat would weigh one image twice in k-means
        codebook = [str(root / rel) for _, rel in cb_lines]
    else:
        codebook = database.loc[database["distractor"], "image"].tolist()
    return ForbData(root, database.drop(columns="_rel"), queries, codebook, offsets)


# PIL transpose for each EXIF orientation (2..8), written as numpy index operations on (H, W, C)
_ORIENT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
           7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1)}


def _exif_orientation(path) -> int:
    """The EXIF orientation tag (1 when absent or unreadable). Only the header is parsed, after
    :func:`benchlib.safeio.read_image` has accepted the file."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block is ignored, as OpenCV ignores it
        return 1


def read_image(path, max_side: int | None = None) -> np.ndarray:
    """RGB uint8 image, decoded by :func:`benchlib.safeio.read_image` (size checked from the header,
    truncated or corrupt files refused with a BenchlibError naming them) and turned upright by its
    EXIF orientation, as OpenCV's ``imread`` did before (phone photos carry one). Optionally shrunk
    so that its long side is at most ``max_side`` (real FORB images are large; the methods work at
    small size)."""
    import cv2

    img = _read_image_safe(path, mode="RGB")
    img = np.ascontiguousarray(_ORIENT.get(_exif_orientation(path), lambda a: a)(img))
    if max_side and max(img.shape[:2]) > max_side:
        s = max_side / max(img.shape[:2])
        img = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))),
                         interpolation=cv2.INTER_AREA)
    return img


def read_images(paths, max_side: int | None = None) -> list[np.ndarray]:
    return [read_image(p, max_side) for p in paths]


# --------------------------------------------------------------------------- writing (the twin)
def _write_ndjson(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def write_forb_tree(root, types: dict) -> Path:
    """Write a FORB-layout tree. ``types``: object type → dict with ``database`` (list of
    (name, RGB image, is_index)), ``queries`` (list of (name, RGB image, difficulty, list of
    0-based positions in that type's database)). Used by the twin and by tests."""
    import cv2

    root = Path(root)
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    all_db, oods, codebook = [], [], []
    for t, spec in types.items():
        for sub in ("query", "database"):
            (root / t / sub).mkdir(parents=True, exist_ok=True)
        db_rows = []
        for name, img, is_index in spec["database"]:
            rel = f"{t}/database/{name}.jpg"
            cv2.imwrite(str(root / rel), np.ascontiguousarray(img[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 92])
            db_rows.append({"image": rel, "image_url": f"synthetic://{rel}"})
            all_db.append(rel)
            if not is_index:
                oods.append(rel)
                codebook.append(rel)
        q_rows, gt_rows = [], []
        for i, (name, img, difficulty, pos) in enumerate(spec["queries"], 1):
            rel = f"{t}/query/{name}.jpg"
            cv2.imwrite(str(root / rel), np.ascontiguousarray(img[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90])
            q_rows.append({"image": rel, "image_url": f"synthetic://{rel}"})
            gt_rows.append({"query_id": i, "query_image": rel, "groundtruth_ids": [p + 1 for p in pos],
                            "groundtruth_images": [db_rows[p]["image"] for p in pos], "difficulty": difficulty})
        _write_ndjson(root / "metadata" / f"{t}_database.ndjson", db_rows)
        _write_ndjson(root / "metadata" / f"{t}_query.ndjson", q_rows)
        _write_ndjson(root / "metadata" / f"{t}_gt.ndjson", gt_rows)
    for name, lines in (("all_database_images.txt", all_db), ("oods_database_images.txt", oods),
                        (CODEBOOK_FILE, codebook)):
        (root / "metadata" / name).write_text("".join(s + "\n" for s in lines), encoding="utf-8")
    return root


def _uuid(rng) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16)))


def twin_types(seed: int, n_index: int, n_queries: int, n_distractors: int, size: int, query_size: int,
               difficulty_mix=(0.25, 0.5, 0.25), object_types=OBJECT_TYPES) -> dict:
    """Render the twin in memory (see :func:`write_forb_tree` for the structure): index images with
    long side ``size``, query scenes of ``query_size``² (a photo holds the object at about the index
    resolution when easy, less when hard)."""
    out = {}
    for ti, t in enumerate(object_types):
        rng = np.random.default_rng([seed, ti])
        objects = render.make_objects(t, rng, n_index, n_distractors)
        order = rng.permutation(len(objects))  # index and distractors interleaved, as in FORB
        db, where = [], {}
        for pos, j in enumerate(order):
            o = objects[j]
            where[j] = pos
            db.append((_uuid(rng), render.render(t, o["spec"], size), o["is_index"]))
        groups = {}  # logos: colour variants of one pattern are all positives
        for j, o in enumerate(objects):
            if o["is_index"]:
                groups.setdefault(o["group"], []).append(j)
        group_ids = sorted(groups)
        queries = []
        for i in range(n_queries):
            g = group_ids[i % len(group_ids)] if i < len(group_ids) else group_ids[rng.integers(len(group_ids))]
            members = groups[g]
            src = objects[members[rng.integers(len(members))]]
            difficulty = DIFFICULTIES[rng.choice(3, p=np.asarray(difficulty_mix) / sum(difficulty_mix))]
            clean = render.render(t, src["spec"], size)
            scene = render.query_scene(clean, difficulty, rng, out_size=query_size)
            queries.append((_uuid(rng), scene, difficulty, sorted(where[m] for m in members)))
        out[t] = {"database": db, "queries": queries}
    return out


def twin_settings(seed: int, n_index: int, n_queries: int, n_distractors: int, size: int,
                  query_size: int, object_types=OBJECT_TYPES) -> dict:
    """What the twin's folder name hashes (with :data:`TWIN_VERSION`): profiles never share a twin."""
    return dict(seed=seed, n_index=n_index, n_queries=n_queries, n_distractors=n_distractors, size=size,
                query_size=query_size, object_types=list(object_types))


def write_twin(folder, seed: int = 0, n_index: int = 24, n_queries: int = 40, n_distractors: int = 120,
               size: int = 160, query_size: int = 256, object_types=OBJECT_TYPES) -> Path:
    """Render the twin and write it, in FORB's layout, into ``folder``."""
    return write_forb_tree(folder, twin_types(seed, n_index, n_queries, n_distractors, size, query_size,
                                              object_types=object_types))


def find_forb_root(base: Path) -> Path | None:
    """The real FORB tree at ``base`` (or in its ``FORB`` / ``forb`` subfolder), else None."""
    return next((c for c in (base, base / "FORB", base / "forb") if is_forb_root(c)), None)


def dataset(data_root="", seed: int = 0, n_index: int = 24, n_queries: int = 40, n_distractors: int = 120,
            size: int = 160, query_size: int = 256, object_types=OBJECT_TYPES) -> Dataset:
    """The real FORB tree when ``data_root`` holds one, else the twin of these sizes under
    ``data_root`` (default: the benchlib data cache), written on first use."""
    settings = twin_settings(seed, n_index, n_queries, n_distractors, size, query_size, object_types)
    return resolve(data_root, find_real=find_forb_root, real_name="FORB", twin_name=TWIN_NAME,
                   twin_version=TWIN_VERSION, twin_settings=settings,
                   write_twin=lambda f: write_twin(f, seed, n_index, n_queries, n_distractors, size,
                                                   query_size, object_types), seed=seed)
