"""FORB loader: a hand-written tiny tree, the global-id offset rule, malformed metadata, the twin."""
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchlib import BenchlibError
from benchlib.datasets import MARKER
from benchlib.chapters.forb_retrieval.data import dataset, load_forb, read_image, write_forb_tree


def _img(v):
    return np.full((24, 32, 3), v, np.uint8)


def tiny_tree(root: Path) -> Path:
    """Two types; logos written FIRST in all_database_images.txt, so its offset is 0 and
    bookcovers' is 4 although bookcovers comes first in FORB's type order.
    logos db: L0 (index), L1 (index, colour variant of L0), L2 (distractor), L3 (index)
    bookcovers db: B0 (distractor), B1 (index)."""
    types = {
        "logos": {"database": [("l0", _img(10), True), ("l1", _img(20), True), ("l2", _img(30), False),
                               ("l3", _img(40), True)],
                  "queries": [("ql0", _img(11), "easy", [0, 1]), ("ql1", _img(41), "hard", [3])]},
        "bookcovers": {"database": [("b0", _img(50), False), ("b1", _img(60), True)],
                       "queries": [("qb0", _img(61), "medium", [1])]},
    }
    return write_forb_tree(root, types)


def test_tiny_tree_global_ids_follow_the_offset_rule(tmp_path):
    data = load_forb(tiny_tree(tmp_path))
    assert data.offsets == {"logos": 0, "bookcovers": 4}
    db = data.database.set_index("db_id")
    assert list(db.index) == [0, 1, 2, 3, 4, 5]
    assert db.loc[1, "image"].endswith("logos/database/l1.jpg")
    assert db.loc[5, "image"].endswith("bookcovers/database/b1.jpg")
    assert list(db["distractor"]) == [False, False, True, False, True, False]
    q = data.queries.set_index(["object_type", "query_id"])
    # local 1-based ids [1, 2] of logos → global [0, 1]; bookcovers local 2 → 2 - 1 + 4 = 5
    assert q.loc[("logos", 1), "positives"] == [0, 1]
    assert q.loc[("logos", 2), "positives"] == [3]
    assert q.loc[("bookcovers", 1), "positives"] == [5]
    assert q.loc[("logos", 1), "difficulty"] == "easy"
    assert sorted(data.distractor_ids) == [2, 4]
    assert read_image(db.loc[5, "image"]).shape == (24, 32, 3)
    assert data.summary().loc["logos", "max positives"] == 2


def _edit_line(path: Path, n: int, fn):
    lines = path.read_text().splitlines()
    obj = json.loads(lines[n - 1])
    fn(obj)
    lines[n - 1] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("case, file, match", [
    ("missing key", "logos_gt.ndjson", r"logos_gt.ndjson, line 2: missing key\(s\) 'difficulty'"),
    ("id out of range", "logos_gt.ndjson", r"logos_gt.ndjson, line 1: groundtruth id\(s\) \[5\] out of range 1..4"),
    ("dotdot path", "bookcovers_database.ndjson", r"bookcovers_database.ndjson, line 2: .*leaves the data root"),
    ("absolute path", "bookcovers_query.ndjson", r"bookcovers_query.ndjson, line 1: .*is absolute"),
    ("missing image", "logos_database.ndjson", r"logos_database.ndjson, line 3: image .*l2.jpg.* not found"),
    ("bad difficulty", "bookcovers_gt.ndjson", r"bookcovers_gt.ndjson, line 1: difficulty 'extreme'"),
])
def test_malformed_metadata_names_file_and_line(tmp_path, case, file, match):
    root = tiny_tree(tmp_path)
    meta = root / "metadata" / file
    if case == "missing key":
        _edit_line(meta, 2, lambda o: o.pop("difficulty"))
    elif case == "id out of range":
        _edit_line(meta, 1, lambda o: o.update(groundtruth_ids=[1, 5]))
    elif case == "dotdot path":
        _edit_line(meta, 2, lambda o: o.update(image="bookcovers/../../outside.jpg"))
    elif case == "absolute path":
        _edit_line(meta, 1, lambda o: o.update(image=str(root / "bookcovers/query/qb0.jpg")))
    elif case == "missing image":
        (root / "logos" / "database" / "l2.jpg").unlink()
    elif case == "bad difficulty":
        _edit_line(meta, 1, lambda o: o.update(difficulty="extreme"))
    with pytest.raises(BenchlibError, match=match):
        load_forb(root)


def test_corrupt_and_inconsistent_files(tmp_path):
    root = tiny_tree(tmp_path)
    # a JPEG that is not a JPEG
    (root / "bookcovers" / "query" / "qb0.jpg").write_bytes(b"not an image")
    with pytest.raises(BenchlibError, match=r"bookcovers_query.ndjson, line 1: .*not a JPEG"):
        load_forb(root)
    root2 = tiny_tree(tmp_path / "b")
    lst = root2 / "metadata" / "all_database_images.txt"
    lines = lst.read_text().splitlines()
    lines[0], lines[1] = lines[1], lines[0]  # the logos block no longer matches its database file
    lst.write_text("\n".join(lines) + "\n")
    with pytest.raises(BenchlibError, match="all_database_images.txt: the block of logos"):
        load_forb(root2)
    root3 = tiny_tree(tmp_path / "c")
    (root3 / "metadata" / "logos_gt.ndjson").write_text("{not json\n")
    with pytest.raises(BenchlibError, match=r"logos_gt.ndjson, line 1: not valid JSON"):
        load_forb(root3)
    with pytest.raises(BenchlibError, match="data root not found"):
        load_forb(tmp_path / "nowhere")


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != MARKER:
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_twin_is_deterministic_loadable_and_has_logo_variants(tmp_path):
    kw = dict(n_index=2, n_queries=3, n_distractors=2, size=64, object_types=("logos", "bookcovers"))
    ds = dataset(tmp_path / "a", seed=3, **kw)
    a, b = ds.root, dataset(tmp_path / "b", seed=3, **kw).root
    assert ds.is_twin and ds.name == "synth-FORB twin, seed 3"
    assert a.name == b.name and _tree_digest(a) == _tree_digest(b)
    assert dataset(tmp_path / "a", seed=3, **kw).root == a  # reused, not rewritten
    assert not [p for p in a.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left
    data = load_forb(a)  # through the same loader as real data
    assert set(data.queries["object_type"]) == {"logos", "bookcovers"}
    logo_pos = data.queries.loc[data.queries["object_type"] == "logos", "positives"]
    assert all(2 <= len(p) <= 3 for p in logo_pos)  # colour variants: several positives
    book_pos = data.queries.loc[data.queries["object_type"] == "bookcovers", "positives"]
    assert all(len(p) == 1 for p in book_pos)
    # positives are index images (never in the distractor-only database) of the query's type
    types = dict(zip(data.database["db_id"], data.database["object_type"]))
    for q in data.queries.itertuples():
        assert all(types[p] == q.object_type for p in q.positives)
        assert not set(q.positives) & set(data.distractor_ids)
    assert len(data.distractor_ids) == 4 and set(data.codebook) == set(
        data.database.loc[data.database["distractor"], "image"])
    assert dataset(tmp_path / "a", seed=4, **kw).root != a  # another seed: another twin


def test_a_real_forb_tree_under_data_root_is_used_as_is(tmp_path):
    tiny_tree(tmp_path / "FORB")
    ds = dataset(tmp_path, seed=0)
    assert not ds.is_twin and ds.root == tmp_path / "FORB" and ds.name.startswith("FORB at ")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("synth-FORB")]  # no twin written


@pytest.mark.parametrize("orientation", range(1, 9))
def test_read_image_matches_opencv_imread_with_exif_orientation(tmp_path, orientation):
    """read_image decodes through benchlib.safeio (PIL); OpenCV's imread, which the chapter used
    before, is the independent reference: same pixels, same EXIF turn, same shrinking."""
    import cv2
    from PIL import Image

    rng = np.random.default_rng(orientation)
    a = cv2.GaussianBlur(rng.integers(0, 255, (90, 130, 3), dtype=np.uint8), (5, 5), 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.jpg"
    Image.fromarray(a).save(path, quality=90, exif=exif)
    ref = cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert ref.shape[:2] == ((130, 90) if orientation >= 5 else (90, 130))  # imread does turn it
    assert np.array_equal(read_image(path), ref)
    small = cv2.resize(np.ascontiguousarray(ref[:, :, ::-1]), (32, 46) if orientation >= 5 else (46, 32),
                       interpolation=cv2.INTER_AREA)[:, :, ::-1]
    assert np.array_equal(read_image(path, max_side=46), small)


def test_twin_objects_of_a_type_share_a_few_palettes():
    """Colour must not identify a twin object: every non-logo object of a type draws its palette
    from N_PALETTES shared ones; logos keep one palette per colour variant (variants are positives)."""
    from benchlib.chapters.forb_retrieval import render

    for t in ("paintings", "bookcovers", "animated_cards", "photorealistic_cards", "currency", "packaged_goods",
              "movie_posters"):
        objs = render.make_objects(t, np.random.default_rng(0), 24, 40)
        assert len({o["spec"]["palette"] for o in objs}) <= render.N_PALETTES, t
    logos = render.make_objects("logos", np.random.default_rng(0), 10, 10)
    assert len({o["spec"]["palette"] for o in logos}) == len(logos)
    # a painting's colours come from its palette, its content from its art seed
    a = render.render("paintings", dict(style=1, art=2, text=3, shape=4, palette=5, variant=6), 96)
    b = render.render("paintings", dict(style=9, art=8, text=3, shape=4, palette=5, variant=6), 96)
    c = render.render("paintings", dict(style=1, art=2, text=3, shape=4, palette=7, variant=6), 96)

    def hist(im):
        return np.histogramdd(im.reshape(-1, 3), bins=4, range=[(0, 256)] * 3)[0].ravel() / im[..., 0].size

    assert np.abs(hist(a) - hist(b)).sum() < np.abs(hist(a) - hist(c)).sum()
    assert not np.array_equal(a, b)


def test_twin_art_has_a_global_composition_that_differs_per_work():
    """Twin v6: under the fine texture every work has a layout of large light and dark masses
    drawn from its art seed. Measured on the 4×4 block means of the grey art of 20 works sharing
    one palette: the blocks differ within a work (v5's stationary strokes: std 2.7 grey levels)
    and between works (v5: 2.9 on average); v6 gives ≥ 28 and ≥ 31 for every kind of art."""
    from benchlib.chapters.forb_retrieval import render

    def blocks(img):
        return cv2.resize(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(float), (4, 4), interpolation=cv2.INTER_AREA)

    pal = render._palette(np.random.default_rng(3), 6)
    for kind in ("strokes", "photo", "cartoon", "dark"):
        b = [blocks(render._art(100 + k, 120, 160, kind, palette=pal)) for k in range(20)]
        assert np.mean([x.std() for x in b]) >= 20, kind
        assert np.mean([np.abs(b[i] - b[j]).mean() for i in range(20) for j in range(i)]) >= 20, kind
        assert np.array_equal(render._art(100, 120, 160, kind, palette=pal), render._art(100, 120, 160, kind, palette=pal))
