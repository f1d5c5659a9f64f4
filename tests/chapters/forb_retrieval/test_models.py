"""FORB methods: RootSIFT, tf-idf by hand, word-restricted mutual matching against a brute-force
version, RANSAC inliers of a known homography, cosine search against numpy, index sizes."""
import cv2
import numpy as np
import pytest

from benchlib import BenchlibError
from benchlib.chapters.forb_retrieval import models as M


def test_rootsift_is_sqrt_of_l1_normalised_sift():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur((rng.random((96, 96, 3)) * 255).astype(np.uint8), (0, 0), 1.5)
    f = M.rootsift([img, np.zeros((40, 40, 3), np.uint8)], max_features=50)
    d = f.descriptors[0]
    assert 0 < len(d) <= 50 and f.points[0].shape == (len(d), 2)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-3)  # sqrt(L1-normalised) has unit L2
    sift = cv2.SIFT_create(nfeatures=50).detectAndCompute(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), None)[1]
    np.testing.assert_allclose(d ** 2 * sift.sum(1, keepdims=True), sift, rtol=1e-3, atol=1e-2)
    assert f.descriptors[1].shape == (0, 128)  # a flat image has no keypoints: empty, not an error


def _bow_with_known_words(db_words, n_words=4):
    """A BoW index whose descriptors are the centroids themselves, so each word is known."""
    import faiss

    bow = M.BoWIndex(n_words)
    bow.centroids = np.eye(n_words, 128, dtype=np.float32)
    bow._quantizer = faiss.IndexFlatL2(128)
    bow._quantizer.add(bow.centroids)
    feats = M.LocalFeatures([np.zeros((len(w), 2), np.float32) for w in db_words],
                            [bow.centroids[np.asarray(w, int)] for w in db_words])
    return bow.build(feats, np.arange(10, 10 + len(db_words))), feats


def test_tfidf_weights_by_hand():
    # 4 images over 4 words. df = [3, 1, 1, 0]; N = 4; idf = log(4/(df+1)) = [log 1, log 2, log 2, ·]
    # image 0: words 0,0,1 → tf (2, 1) → w = (sqrt(2·0), sqrt(1·log 2)) → normalised (0, 1)
    # image 1: words 0,2,2 → w = (0, 0, sqrt(2 log 2)) → (0, 0, 1)
    bow, _ = _bow_with_known_words([[0, 0, 1], [0, 2, 2], [0], [3 % 3]])
    np.testing.assert_allclose(bow.idf, [0.0, np.log(2), np.log(2), np.log(4)], rtol=1e-6)
    m = bow.matrix.toarray()
    np.testing.assert_allclose(m[0], [0, 1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(m[1], [0, 0, 1, 0], atol=1e-6)
    assert not m[2].any()  # only a word present everywhere-but-one: weight log(4/4) = 0
    # a query with words 1 and 2 (tf 1 each) → (0, 1/√2, 1/√2, 0): cosine 1/√2 with images 0 and 1
    q = M.LocalFeatures([np.zeros((2, 2), np.float32)], [bow.centroids[[1, 2]]])
    vec, words = bow.vectors(q)
    ids, scores = bow.search(vec, 3)
    assert set(ids[0, :2]) == {10, 11} and list(words[0]) == [1, 2]
    np.testing.assert_allclose(scores[0, :2], 1 / np.sqrt(2), rtol=1e-5)
    ids_d, _ = bow.search(vec, 5, subset=[1, 2])  # the distractor-only search sees only rows 1, 2
    assert list(ids_d[0]) == [11, 12]


def _brute_force_matches(da, wa, db, wb, ratio):
    d = np.linalg.norm(da[:, None] - db[None], axis=2)
    d = np.where(wa[:, None] == wb[None], d, np.inf)
    out = []
    for i in range(len(da)):
        srt = np.sort(d[i])
        j = int(np.argmin(d[i]))
        if not np.isfinite(srt[0]) or not srt[0] < ratio * (srt[1] if len(srt) > 1 else np.inf):
            continue
        col = np.sort(d[:, j])
        if int(np.argmin(d[:, j])) == i and col[0] < ratio * (col[1] if len(col) > 1 else np.inf):
            out.append((i, j))
    return sorted(out)


def test_word_restricted_mutual_ratio_matches_equal_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(20):
        da = rng.random((30, 128)).astype(np.float32)
        db = np.concatenate([da[:15] + rng.normal(0, 0.02, (15, 128)), rng.random((20, 128))]).astype(np.float32)
        da /= np.linalg.norm(da, axis=1, keepdims=True)
        db /= np.linalg.norm(db, axis=1, keepdims=True)
        wa, wb = rng.integers(0, 6, 30), rng.integers(0, 6, 35)
        wb[:15] = wa[:15]
        got = sorted(map(tuple, M._mutual_ratio_matches(da, wa, db, wb, 0.8).tolist()))
        assert got == _brute_force_matches(da, wa, db, wb, 0.8)
        assert len(got) >= 10  # the 15 planted pairs mostly survive


def test_ransac_counts_the_inliers_of_a_homography():
    rng = np.random.default_rng(2)
    pa = rng.uniform(0, 200, (40, 2)).astype(np.float32)
    H = np.array([[1.1, 0.1, 5.0], [-0.05, 0.95, 12.0], [1e-4, 0, 1]])
    pb = cv2.perspectiveTransform(pa[None], H)[0]
    pb[30:] = rng.uniform(0, 200, (10, 2))  # 10 outliers, far from their true place
    matches = np.stack([np.arange(40)] * 2, 1)
    assert M.count_inliers(pa, pb, matches, 10.0) == 30
    assert M.count_inliers(pa, pb, matches[:3], 10.0) == 0  # fewer than 4 matches


def test_cosine_search_matches_numpy_and_index_sizes():
    rng = np.random.default_rng(3)
    db, q = rng.normal(size=(50, 16)), rng.normal(size=(7, 16))
    index = M.GlobalIndex(db, np.arange(100, 150))
    ids, scores = index.search(q, 5)
    dn, qn = db / np.linalg.norm(db, axis=1, keepdims=True), q / np.linalg.norm(q, axis=1, keepdims=True)
    sim = qn @ dn.T
    np.testing.assert_array_equal(ids, 100 + np.argsort(-sim, axis=1)[:, :5])
    np.testing.assert_allclose(scores, np.sort(sim, axis=1)[:, ::-1][:, :5], rtol=1e-5)
    sub_ids, _ = index.search(q, 1, subset=np.arange(10, 20))
    np.testing.assert_array_equal(sub_ids[:, 0], 110 + np.argmax(sim[:, 10:20], axis=1))
    assert 50 * 16 * 4 <= index.index_bytes() < 50 * 16 * 4 + 1024  # float32 vectors + a header
    np.testing.assert_array_equal(index.bytes_per_image(), np.full(50, 16 * 4))
    with pytest.raises(BenchlibError, match="NaN"):
        M.GlobalIndex(np.full((2, 3), np.nan), [0, 1])


def test_rerank_moves_the_geometrically_consistent_candidate_up():
    from benchlib.chapters.forb_retrieval.render import render

    spec = dict(style=1, art=2, text=3, shape=4, palette=5, variant=6)
    img = render("paintings", spec, 160)
    other = render("paintings", {**spec, "art": 9}, 160)  # same style, other content (Figure 9c)
    warped = cv2.warpAffine(img, np.float32([[0.9, 0.1, 8], [-0.1, 0.9, 10]]), (160, 120))
    db = M.rootsift([other, img], 150)
    bow = M.BoWIndex(64, seed=0).fit_vocabulary(db).build(db, np.array([7, 8]))
    qf = M.rootsift([warped], 150)
    _, words = bow.vectors(qf)
    # pretend BoW ranked the wrong image first
    ids, scores, inl = bow.rerank(qf, words, np.array([[7, 8]]), np.array([[0.9, 0.5]]), shortlist=2)
    assert list(ids[0]) == [8, 7] and inl[0, 0] >= 10 > inl[0, 1]
    np.testing.assert_allclose(scores[0], [0.5, 0.9])  # scores stay the BoW cosines
    assert bow.index_bytes(True) > bow.index_bytes(False) + db.descriptors[1].nbytes
    # per-image bytes: image i adds 4·(2 + 128 + 1) bytes per keypoint (point, descriptor, word id),
    # 4 for its keypoint count, 8 per inverted-file entry, 4 + 8 for indptr and its id, plus half of
    # the shared vocabulary (64 × 128 float32) and idf (64 float32)
    n = np.array([len(p) for p in db.points])
    nnz = np.diff(bow.matrix.indptr)
    shared = (64 * 128 + 64) * 4 / 2
    np.testing.assert_allclose(bow.bytes_per_image(True), n * 4 * 131 + 4 + nnz * 8 + 12 + shared)
    np.testing.assert_allclose(bow.bytes_per_image(False), nnz * 8 + 12 + shared)
    for rerank in (True, False):  # the rest is the .npz container's headers
        assert 0 < bow.index_bytes(rerank) - bow.bytes_per_image(rerank).sum() < 4096


def test_user_embedder_hook_and_backbones(tmp_path):
    import torch

    assert M.import_embedder("numpy:ones") is np.ones
    with pytest.raises(BenchlibError, match="module:function"):
        M.import_embedder("numpy.ones")
    with pytest.raises(BenchlibError, match="cannot import"):
        M.import_embedder("numpy:no_such_function")
    net = M.build_backbone("vit_tiny", image_size=32)
    e = M.embed_images(net, [np.zeros((40, 30, 3), np.uint8)] * 3, 32)
    assert e.shape == (3, 192)
    bad = tmp_path / "w.pt"
    torch.save({"foo": torch.zeros(1)}, bad)
    with pytest.raises(BenchlibError, match="not a resnet18 state dict"):
        M.build_backbone("resnet18", str(bad))
    good = tmp_path / "r.pt"
    ref = M.build_backbone("resnet18")
    torch.save({f"{k}": v for k, v in torch.nn.Sequential().state_dict().items()} | ref.state_dict(), good)
    net = M.build_backbone("resnet18", str(good))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), ref.state_dict().values()))


def test_simclr_views_and_a_few_training_steps():
    import torch

    from benchlib.chapters.forb_retrieval.train import Settings, augment, nt_xent, simclr

    rng = np.random.default_rng(0)
    imgs = [np.full((40, 30, 3), v, np.uint8) for v in (0, 80, 160, 240)]
    assert augment(imgs[0], imgs[1], rng, 24).shape == (24, 24, 3)
    # NT-Xent by hand: two pairs of orthogonal unit vectors, temperature 1 → each row sees its
    # partner (similarity 1) against two others (similarity 0): loss = −log(e / (e + 2)).
    z1, z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert float(nt_xent(z1, z2, temperature=1.0)) == pytest.approx(-np.log(np.e / (np.e + 2)), rel=1e-5)
    model, losses = simclr(imgs, Settings(steps=3, batch=4, size=24), seed=0)
    assert len(losses) == 3 and np.isfinite(losses).all() and not model.training


def test_efficientnet_embedder_is_a_gem_of_the_imagenet_head():
    """GeM (p = 3) of the 1280-channel head lies between its mean (the classifier's pooling,
    `embed`) and its max, channel by channel (power-mean inequality); inputs use the Lite models'
    (x − 127) / 128, so a grey image of value 127 is all zeros."""
    import torch

    net, mean, std = M.efficientnet_embedder()
    assert mean * 255 == pytest.approx(127) and std * 255 == pytest.approx(128)
    x = torch.from_numpy(M._to_batch([np.random.default_rng(0).integers(0, 255, (40, 30, 3), np.uint8)], 64, mean, std))
    assert M._to_batch([np.full((8, 8, 3), 127, np.uint8)], 8, mean, std) == pytest.approx(0.0)
    with torch.no_grad():
        g = net(x)[0]
        head = torch.nn.functional.relu6(net.net._bn1(net.net._conv_head(net.net.features(x)[-1])))[0]
        assert g.shape == (1280,)
        assert torch.all(g >= net.net.embed(x)[0] - 1e-5) and torch.all(g <= head.amax((1, 2)) + 1e-5)
    e = M.embed_images(net, [np.zeros((40, 30, 3), np.uint8)] * 2, 64, (0.75, 1.0), mean=mean, std=std)
    assert e.shape == (2, 1280) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)


def test_colour_histogram_by_hand():
    # 8 levels per channel: 0..31 → 0, 224..255 → 7; cell = (r·8 + g)·8 + b
    a = np.zeros((2, 2, 3), np.uint8)
    a[0, 0] = (255, 0, 0)          # cell (7·8 + 0)·8 + 0 = 448
    a[0, 1] = a[1, 0] = (40, 255, 100)   # levels (1, 7, 3): cell (1·8 + 7)·8 + 3 = 123
    a[1, 1] = (31, 31, 31)         # cell 0
    h = M.colour_histogram([a, np.full((3, 5, 3), 224, np.uint8)])
    want = np.zeros(512)
    want[[448, 123, 0]] = np.sqrt([1 / 4, 2 / 4, 1 / 4])
    np.testing.assert_allclose(h[0], want)
    assert h[1, (7 * 8 + 7) * 8 + 7] == 1 and h[1].sum() == 1
    np.testing.assert_allclose(np.linalg.norm(h, axis=1), 1.0)  # sqrt of a distribution: unit norm


def test_imagenet_initialised_simclr_net_starts_as_the_imagenet_row():
    """Before training, the ImageNet-initialised SimCLR network is the ImageNet row's GeM
    (`efficientnet_embedder`, an independent forward through the shared loader): the same image,
    normalised with ImageNet statistics for the former and (x − 127) / 128 for the latter, gives
    the same 1280 numbers — the conversion inside is right. Its first 15 blocks and the stem are
    frozen, the rest trainable, and BatchNorm stays in eval mode when the module is put in training."""
    import torch


    img = [np.random.default_rng(1).integers(0, 255, (50, 40, 3), np.uint8)]
    ref, mean, std = M.efficientnet_embedder()
    net = M.imagenet_embed_net()
    with torch.no_grad():
        want = ref(torch.from_numpy(M._to_batch(img, 64, mean, std)))
        got = net(torch.from_numpy(M._to_batch(img, 64)))
    assert got.shape == (1, 1280)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    n = net.net
    assert not any(p.requires_grad for p in [*n._conv_stem.parameters(), *n._blocks[M.FROZEN_BLOCKS - 1].parameters()])
    assert all(p.requires_grad for p in [*n._blocks[M.FROZEN_BLOCKS].parameters(), *n._conv_head.parameters()])
    net.train()
    assert net.training and not any(m.training for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with pytest.raises(ValueError, match="frozen_blocks"):
        M.imagenet_embed_net(17)


def test_imagenet_initialised_simclr_trains_only_its_last_stage():
    """A few SimCLR steps from ImageNet: the frozen blocks and every BatchNorm statistic keep their
    ImageNet values, the trained last block moves, the losses are finite; an unknown init is refused."""
    import torch

    from benchlib import pretrained
    from benchlib.chapters.forb_retrieval.train import Settings, simclr

    imgs = [np.random.default_rng(i).integers(0, 255, (40, 30, 3), np.uint8) for i in range(4)]
    model, losses = simclr(imgs, Settings(steps=2, batch=4, size=32, init="imagenet"), seed=0)
    assert len(losses) == 2 and np.isfinite(losses).all() and not model.training
    before = pretrained.efficientnet_lite0().state_dict()
    after = model.net.state_dict()
    def frozen(k):  # stem, blocks 0–14, every BatchNorm statistic, the unused classifier
        return (k.startswith(("_conv_stem.", "_bn0.", "_fc.")) or "running_" in k or "num_batches" in k
                or (k.startswith("_blocks.") and int(k.split(".")[1]) < M.FROZEN_BLOCKS))

    assert sum(map(frozen, before)) > 200
    for k, v in before.items():
        if frozen(k):
            assert torch.equal(after[k], v), k
    assert not torch.equal(after[f"_blocks.{M.FROZEN_BLOCKS}._project_conv.weight"],
                           before[f"_blocks.{M.FROZEN_BLOCKS}._project_conv.weight"])
    assert not torch.equal(after["_conv_head.weight"], before["_conv_head.weight"])
    for k in ("_bn1.running_mean", "_bn1.running_var", f"_blocks.{M.FROZEN_BLOCKS}._bn1.running_var"):
        assert torch.equal(after[k], before[k]), k
    with pytest.raises(ValueError, match="init"):
        simclr(imgs, Settings(steps=1, batch=4, size=32, init="imagenet21k"), seed=0)
