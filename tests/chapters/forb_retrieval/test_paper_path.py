"""The paper profile's path through `pipeline.run` (issue 18 item 3), once per device: a FORB tree
written by this test without the chapter's writer (`metadata/<type>_{query,database,gt}.ndjson`,
the three image lists, `<type>/{query,database}/<uuid>.jpg`; two object types, the second listed
first in `all_database_images.txt` so its global ids are offset), the paper's methods (RootSIFT BoW
with a 16384-word vocabulary and re-ranking of the top 100, torchvision ResNet-50 and ViT-B/16
global embeddings at 224 px, the ImageNet EfficientNet-Lite0 row, SimCLR at 96 px with batches of
256), with the user's ResNet-50 / ViT-B/16 weight files written by this test and read through
`cnn_weights` / `vit_weights`.

Reduced from the paper profile (and why), all for CPU time: 5 database images and 2 queries, one
SimCLR step and one seed instead of 5000 steps × 3 seeds, and the ResNet-50 described at 64 px
(`global_size`) instead of 224 (a CNN takes any size; the ViT-B/16 stays at 224, the size its
position embeddings and the user's weights are made for, which the pipeline fixes). Torch runs one
thread: the chapter sets no thread count, and two threads on a busy two-core machine run several
times slower than one.
"""
import json
import uuid

import numpy as np
import pytest
import torch
from PIL import Image

from benchlib import BenchlibError
from benchlib.chapters.forb_retrieval import SPEC
from benchlib.chapters.forb_retrieval import models as M
from benchlib.chapters.forb_retrieval import pipeline as P

from tests._paper_trees import DEVICES, assert_finite, one_thread, paper_config  # noqa: F401 (one_thread: a fixture)

# every test: one torch thread, the budget the runner gives a chapter (see tests/_paper_trees.py)
pytestmark = pytest.mark.usefixtures("one_thread")


# object type -> database (name, is an index image) and queries (of which database images)
TREE = {"paintings": {"database": [("p0", True), ("p1", False)], "queries": [("hard", [0])]},
        "logos": {"database": [("l0", True), ("l1", True), ("l2", False)],
                  "queries": [("medium", [0, 1])]}}  # l1: a colour variant of l0, a second positive


def _texture(rng, h=96, w=128):
    """A blocky random texture with edges and corners (SIFT finds keypoints on it)."""
    small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.NEAREST))


def _forb_tree(root):
    rng = np.random.default_rng(0)
    meta = root / "metadata"
    meta.mkdir(parents=True)
    lists = {"all_database_images.txt": [], "oods_database_images.txt": [], "images_for_building_codebook.txt": []}
    positives = {}
    for t in ("logos", "paintings"):  # logos first: offset 0, paintings offset 3
        spec = TREE[t]
        for sub in ("database", "query"):
            (root / t / sub).mkdir(parents=True)
        db, images = [], []
        for k, (_, is_index) in enumerate(spec["database"]):
            img = _texture(rng) if not (t == "logos" and k == 1) else images[0][:, :, ::-1]  # l1: colour variant
            rel = f"{t}/database/{uuid.UUID(int=int(rng.integers(1 << 62)))}.jpg"
            Image.fromarray(np.ascontiguousarray(img)).save(root / rel, quality=92)
            db.append(rel)
            images.append(img)
            lists["all_database_images.txt"].append(rel)
            if not is_index:
                lists["oods_database_images.txt"].append(rel)
                lists["images_for_building_codebook.txt"].append(rel)
        q_lines, gt_lines = [], []
        for qid, (difficulty, pos) in enumerate(spec["queries"], 1):
            # a photo of the object: shifted, slightly zoomed, on a grey border
            obj = Image.fromarray(images[pos[0]]).resize((112, 84))
            photo = Image.new("RGB", (144, 112), (128, 128, 128))
            photo.paste(obj, (16, 14))
            rel = f"{t}/query/{uuid.UUID(int=int(rng.integers(1 << 62)))}.jpg"
            photo.save(root / rel, quality=90)
            q_lines.append({"image": rel, "image_url": "https://example.org/" + rel})
            gt_lines.append({"query_id": qid, "query_image": rel, "groundtruth_ids": [p + 1 for p in pos],
                             "groundtruth_images": [db[p] for p in pos], "difficulty": difficulty})
            positives[t, qid] = [p + (0 if t == "logos" else 3) for p in pos]
        for name, rows in (("database", [{"image": r, "image_url": "https://example.org/" + r} for r in db]),
                           ("query", q_lines), ("gt", gt_lines)):
            (meta / f"{t}_{name}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    for name, rows in lists.items():
        (meta / name).write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    return root, positives


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """The user's files: torchvision ResNet-50 and ViT-B/16 state dicts (ImageNet-format, random
    values: the path, not the accuracy, is under test)."""
    from torchvision.models import resnet50, vit_b_16

    d = tmp_path_factory.mktemp("weights")
    torch.manual_seed(2)
    torch.save(resnet50().state_dict(), d / "resnet50.pth")
    torch.save(vit_b_16().state_dict(), d / "vit_b_16.pth")
    return d


def _config(root, device, weights, **kw):
    kw = {"ssl_steps": 1, **kw}
    torch.set_num_threads(1)  # restored by the one_thread fixture
    return paper_config(SPEC, P.Config, device, data_root=str(root), n_seeds=1, global_size=64,
                        cnn_weights=str(weights / "resnet50.pth"), vit_weights=str(weights / "vit_b_16.pth"), **kw)


@pytest.mark.parametrize("device", DEVICES)
def test_paper_profile_runs_on_a_real_forb_tree(tmp_path, weights, device):
    root, positives = _forb_tree(tmp_path / "FORB")
    cfg = _config(tmp_path, device, weights)
    assert (cfg.cnn_arch, cfg.vit_arch, cfg.vocab_size, cfg.ssl_batch) == ("resnet50", "vit_b_16", 16384, 256)
    run = P.run(cfg)

    assert not run.is_twin and run.dataset.startswith("FORB at ") and run.device == device
    q = run.data.queries
    assert {(t, i): p for t, i, p in zip(q["object_type"], q["query_id"], q["positives"])} == positives
    # the paper profile's rows (the chapter may add references of its own beside them)
    paper_rows = {"BoW", "BoW (+ rerank)", P.PRETRAINED, "resnet50 (weights file)", "vit_b_16 (weights file)", P.SSL}
    assert paper_rows <= set(run.runs)
    n_db, n_q = len(run.data.database), len(q)
    for name, (r,) in run.runs.items():
        k = min(P.TOPK, n_db)
        assert r.ids.shape[0] == n_q and r.ids.shape[1] >= k and r.scores.shape == r.ids.shape, name
        valid = r.ids[r.ids >= 0]
        assert ((0 <= valid) & (valid < n_db)).all(), name
        assert_finite(r.distractor_top, name)
        assert r.index_bytes > 0 and r.latency_ms > 0, name
        if r.family == "global":  # one float32 vector per database image
            assert r.bytes_per_image.shape == (n_db,), name
            assert r.bytes_per_image.sum() == pytest.approx(r.index_bytes, rel=0.05), name
    assert all(run.first(name).meaningful for name in paper_rows)
    for name in ("resnet50 (weights file)", "vit_b_16 (weights file)"):
        assert isinstance(run.first(name).note, str) and "weights " in run.first(name).note
    # the ResNet-50 rows are those of the user's file (torchvision's network, head removed), searched here
    net = M.build_backbone("resnet50")
    state = torch.load(weights / "resnet50.pth", weights_only=True)
    net.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")})
    db = run.data.database

    def embed(paths, max_side):
        return M.embed_images(net, P.images(paths, max_side), cfg.global_size, tuple(cfg.scales), device)

    ids, scores = M.GlobalIndex(embed(db["image"], cfg.image_size), db["db_id"].to_numpy()).search(
        embed(q["image"], cfg.query_size), P.TOPK)
    r = run.first("resnet50 (weights file)")
    np.testing.assert_allclose(r.scores, scores, atol=1e-5 if device == "cpu" else 2e-2)
    if device == "cpu":
        np.testing.assert_array_equal(r.ids, ids)
    assert len(run.ssl_losses) == 1 and len(run.ssl_losses[0]) == 1 and np.isfinite(run.ssl_losses[0]).all()
    ssl = run.first(P.SSL)
    assert ssl.trained is True and ssl.seed == cfg.seed and not run.first("BoW").trained
    # every method scored every query at k = 1 and 5, both divisors
    for key, (s,) in run.scores.items():
        assert s.ap.shape == (n_q,) and ((0 <= s.ap) & (s.ap <= 1)).all() and np.isfinite(s.tap).all(), key


def test_a_corrupt_weights_file_is_named(tmp_path, weights):
    root, _ = _forb_tree(tmp_path / "FORB")
    bad = tmp_path / "resnet50_truncated.pth"
    bad.write_bytes((weights / "resnet50.pth").read_bytes()[:4096])
    cfg = _config(tmp_path, "cpu", weights, vit_arch="", pretrained=False, ssl_steps=0)
    cfg.cnn_weights = str(bad)
    with pytest.raises(BenchlibError, match="resnet50_truncated.pth.*cannot load checkpoint"):
        P.run(cfg)
    vit_as_cnn = _config(tmp_path, "cpu", weights, vit_arch="", pretrained=False, ssl_steps=0)
    vit_as_cnn.cnn_weights = vit_as_cnn.vit_weights
    with pytest.raises(BenchlibError, match="vit_b_16.pth: not a resnet50 state dict"):
        P.run(vit_as_cnn)


def test_weights_of_another_resnet_depth_are_named(tmp_path):
    from torchvision.models import resnet18

    root, _ = _forb_tree(tmp_path / "FORB")
    small = tmp_path / "resnet18.pth"
    torch.save(resnet18().state_dict(), small)
    cfg = paper_config(SPEC, P.Config, "cpu", data_root=str(tmp_path), n_seeds=1, ssl_steps=0, vit_arch="",
                       pretrained=False, cnn_weights=str(small))
    with pytest.raises(BenchlibError, match="resnet18.pth"):
        P.run(cfg)
