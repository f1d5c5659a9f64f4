"""FORB's baselines: a bag of visual words over RootSIFT (+ spatial re-ranking) and global
embeddings searched by cosine similarity.

- :class:`BoWIndex`: OpenCV SIFT → RootSIFT, a visual vocabulary by k-means (faiss), tf-idf
  weights sqrt(tf · log(N / (df + 1))), L2-normalised sparse vectors, cosine scoring as a sparse
  matrix product (the inverted file is the CSR matrix of the database).
- :meth:`BoWIndex.rerank`: mutual ratio test (0.8) between descriptors that share a visual word,
  RANSAC homography (10 px, OpenCV's USAC), shortlist re-sorted by inlier count. The score kept
  for t-mAP is still the BoW cosine (REFERENCE.md §1).
- :class:`GlobalIndex`: L2-normalised embeddings, exact inner-product search with faiss.
- :func:`colour_histogram`: a trivial colour-statistics baseline (not a FORB method).
- Embedders: EfficientNet-Lite0 with ImageNet weights (:func:`efficientnet_embedder`),
  torchvision CNN / ViT backbones (random init unless a weights file is given),
  the networks SimCLR trains (:func:`simclr_net`: :func:`small_embed_net` from scratch, or the last
  stage of EfficientNet-Lite0 from ImageNet, :func:`imagenet_embed_net`; trained in :mod:`.train`),
  and any user function ``images -> (n, d) array`` (:func:`import_embedder` resolves
  ``"module:function"``).
"""
from __future__ import annotations

import importlib
import io
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse as sp

from benchlib import BenchlibError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


# --------------------------------------------------------------------------- local features
@dataclass
class LocalFeatures:
    """Per image: keypoint positions (n, 2) float32 and RootSIFT descriptors (n, 128) float32."""
    points: list
    descriptors: list

    def __len__(self):
        return len(self.points)


def rootsift(images, max_features: int = 300) -> LocalFeatures:
    """OpenCV SIFT on the grey image, then RootSIFT (Arandjelović & Zisserman 2012): L1-normalise
    each descriptor and take the element-wise square root (so the result has unit L2 norm)."""
    sift = cv2.SIFT_create(nfeatures=max_features)
    pts, descs = [], []
    for img in images:
        kp, d = sift.detectAndCompute(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), None)
        if d is None or not kp:
            pts.append(np.zeros((0, 2), np.float32))
            descs.append(np.zeros((0, 128), np.float32))
            continue
        d = d.astype(np.float32)
        d = np.sqrt(d / (d.sum(1, keepdims=True) + 1e-7))
        pts.append(np.array([k.pt for k in kp], np.float32))
        descs.append(np.ascontiguousarray(d))
    return LocalFeatures(pts, descs)


def tfidf_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """FORB's idf: log(N / (df + 1)), clipped at 0 (a word in every image carries no weight)."""
    return np.maximum(np.log(n_docs / (df + 1.0)), 0.0)


def _same_word_pairs(wa, wb):
    """All (i, j) with wa[i] == wb[j], found by sorting (no |A|×|B| matrix)."""
    order = np.argsort(wb, kind="stable")
    sorted_b = wb[order]
    lo, hi = np.searchsorted(sorted_b, wa, "left"), np.searchsorted(sorted_b, wa, "right")
    cnt = hi - lo
    ii = np.repeat(np.arange(len(wa)), cnt)
    jj = order[np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(lo, cnt)]
    return ii, jj


def _best_two(key, other, dist, n):
    """Per key value (0..n−1): the partner with the smallest distance, that distance, and the
    second-smallest distance (inf when there is a single candidate)."""
    order = np.lexsort((dist, key))
    key, other, dist = key[order], other[order], dist[order]
    start = np.r_[True, key[1:] != key[:-1]]
    best = np.full(n, -1)
    d1 = np.full(n, np.inf)
    d2 = np.full(n, np.inf)
    best[key[start]] = other[start]
    d1[key[start]] = dist[start]
    second = np.r_[False, start[:-1]] & ~start  # the entry right after a group's first
    d2[key[second]] = dist[second]
    return best, d1, d2


def _mutual_ratio_matches(da, wa, db, wb, ratio: float):
    """Pairs (i, j) of descriptors with the same visual word that are each other's nearest
    neighbour among same-word descriptors and pass the ratio test (d1 < ratio · d2) both ways."""
    ii, jj = _same_word_pairs(np.asarray(wa), np.asarray(wb))
    if len(ii) == 0:
        return np.zeros((0, 2), int)
    # RootSIFT vectors have unit norm: |a − b|² = 2 − 2 a·b
    dist = np.sqrt(np.maximum(2.0 - 2.0 * np.einsum("ij,ij->i", da[ii], db[jj]), 0.0))
    fwd, f1, f2 = _best_two(ii, jj, dist, len(da))
    bwd, b1, b2 = _best_two(jj, ii, dist, len(db))
    i = np.flatnonzero((fwd >= 0) & (f1 < ratio * f2))
    j = fwd[i]
    keep = (bwd[j] == i) & (b1[j] < ratio * b2[j])
    return np.stack([i[keep], j[keep]], 1)


def count_inliers(pa, pb, matches, ransac_px: float = 10.0) -> int:
    """Inliers of a RANSAC homography between matched points (0 with fewer than 4 matches).

    OpenCV's USAC_DEFAULT (RANSAC with an SPRT test that drops a bad hypothesis after a few points,
    and local optimisation of the best one; fixed seed) rather than plain ``cv2.RANSAC``: a wrong
    shortlist candidate has few inliers, so plain RANSAC runs all 1000 hypotheses in full on it —
    35 s of the default run. On 80 queries of twin v5 USAC gave the same BoW (+ rerank) mAP@5 (65.1)
    at a tenth of the time (0.57 s vs 6.5 s), mean inliers per candidate 10.24 vs 10.26."""
    if len(matches) < 4:
        return 0
    H, mask = cv2.findHomography(pa[matches[:, 0]], pb[matches[:, 1]], cv2.USAC_DEFAULT, ransac_px,
                                 maxIters=1000, confidence=0.995)
    return 0 if H is None or mask is None else int(mask.sum())


class BoWIndex:
    """Visual-word index of a database of images."""

    def __init__(self, vocab_size: int = 1024, seed: int = 0, max_train_descriptors: int | None = None,
                 niter: int = 15):
        # k-means sees at most 40 descriptors per word (at least 20,000): enough for stable words
        self.max_train = max_train_descriptors or max(20_000, 40 * vocab_size)
        self.vocab_size, self.seed, self.niter = vocab_size, seed, niter
        self.centroids = None

    # vocabulary -----------------------------------------------------------
    def fit_vocabulary(self, features: LocalFeatures) -> "BoWIndex":
        import faiss

        x = np.concatenate([d for d in features.descriptors if len(d)]).astype(np.float32)
        rng = np.random.default_rng(self.seed)
        if len(x) > self.max_train:
            x = x[rng.choice(len(x), self.max_train, replace=False)]
        k = min(self.vocab_size, len(x))
        km = faiss.Kmeans(128, k, niter=self.niter, seed=self.seed, verbose=False, min_points_per_centroid=1,
                          max_points_per_centroid=max(256, len(x) // k + 1))
        km.train(np.ascontiguousarray(x))
        self.centroids = km.centroids.copy()
        self._quantizer = faiss.IndexFlatL2(128)
        self._quantizer.add(self.centroids)
        return self

    def words(self, descriptors: np.ndarray) -> np.ndarray:
        if len(descriptors) == 0:
            return np.zeros(0, np.int64)
        return self._quantizer.search(np.ascontiguousarray(descriptors, dtype=np.float32), 1)[1][:, 0]

    def _counts(self, words_list) -> sp.csr_matrix:
        rows = np.repeat(np.arange(len(words_list)), [len(w) for w in words_list])
        cols = np.concatenate(words_list) if words_list else np.zeros(0, np.int64)
        m = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)),
                          shape=(len(words_list), len(self.centroids)))
        m.sum_duplicates()
        return m

    def _weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        w = counts.multiply(self.idf[None, :]).tocsr()
        w.data = np.sqrt(w.data)  # sqrt(tf · idf)
        norms = np.sqrt(np.asarray(w.multiply(w).sum(1))).ravel()
        w = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ w
        w.eliminate_zeros()
        return w.tocsr().astype(np.float32)

    # database -------------------------------------------------------------
    def build(self, features: LocalFeatures, db_ids) -> "BoWIndex":
        if self.centroids is None:
            raise BenchlibError("BoWIndex.build: fit_vocabulary first")
        self.db_ids = np.asarray(db_ids)
        self.features = features
        self.db_words = [self.words(d) for d in features.descriptors]
        counts = self._counts(self.db_words)
        self.idf = tfidf_idf(np.asarray((counts > 0).sum(0)).ravel(), len(self.db_words)).astype(np.float32)
        self.matrix = self._weigh(counts)
        return self

    def vectors(self, features: LocalFeatures):
        words = [self.words(d) for d in features.descriptors]
        return self._weigh(self._counts(words)), words

    def search(self, qvec: sp.csr_matrix, topk: int, subset=None, chunk: int = 512):
        """Top-k (global ids, cosine scores) per query; ``subset`` = row positions of the
        database to search (the distractor-only search of t-mAP)."""
        rows = np.arange(self.matrix.shape[0]) if subset is None else np.asarray(subset)
        dbT = self.matrix[rows].T.tocsc()
        k = min(topk, len(rows))
        ids, scores = [], []
        for s in range(0, qvec.shape[0], chunk):
            sim = (qvec[s:s + chunk] @ dbT).toarray()
            top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
            ids.append(self.db_ids[rows[top]])
            scores.append(np.take_along_axis(sim, top, 1))
        return np.concatenate(ids), np.concatenate(scores)

    def rerank(self, qfeat: LocalFeatures, qwords, ids, scores, shortlist: int = 20,
               ratio: float = 0.8, ransac_px: float = 10.0):
        """Spatially verify the top ``shortlist`` candidates of each query and re-sort them by
        inlier count (ties: BoW score). Scores stay the BoW cosines. Returns (ids, scores, inliers)."""
        pos = {int(d): i for i, d in enumerate(self.db_ids)}
        ids, scores = ids.copy(), scores.copy()
        inl = np.zeros(ids.shape, np.int64)
        n = min(shortlist, ids.shape[1])
        for q in range(len(ids)):
            for c in range(n):
                j = pos[int(ids[q, c])]
                m = _mutual_ratio_matches(qfeat.descriptors[q], qwords[q], self.features.descriptors[j],
                                          self.db_words[j], ratio)
                inl[q, c] = count_inliers(qfeat.points[q], self.features.points[j], m, ransac_px)
            order = np.lexsort((-scores[q, :n], -inl[q, :n]))  # last key = primary
            ids[q, :n], scores[q, :n], inl[q, :n] = ids[q, :n][order], scores[q, :n][order], inl[q, :n][order]
        return ids, scores, inl

    # size -----------------------------------------------------------------
    def index_bytes(self, with_local_features: bool) -> int:
        """Bytes of the serialised index: vocabulary + inverted file (+ the keypoints, descriptors
        and word ids that re-ranking needs)."""
        parts = {"centroids": self.centroids, "idf": self.idf, "data": self.matrix.data,
                 "indices": self.matrix.indices, "indptr": self.matrix.indptr, "db_ids": self.db_ids}
        if with_local_features:
            parts.update(points=np.concatenate(self.features.points),
                         descriptors=np.concatenate(self.features.descriptors),
                         words=np.concatenate(self.db_words).astype(np.int32),
                         counts=np.array([len(p) for p in self.features.points], np.int32))
        buf = io.BytesIO()
        np.savez(buf, **parts)
        return buf.getbuffer().nbytes

    def bytes_per_image(self, with_local_features: bool) -> np.ndarray:
        """What each database image adds to :meth:`index_bytes`: its inverted-file entries (and
        its keypoints, descriptors and word ids), plus an equal share of the vocabulary and idf.
        The sum is the serialised size up to the file format's headers."""
        m = self.matrix
        nnz = np.diff(m.indptr)
        per = (nnz * (m.data.itemsize + m.indices.itemsize) + m.indptr.itemsize + self.db_ids.itemsize).astype(float)
        if with_local_features:
            n = np.array([len(p) for p in self.features.points])
            row = (self.features.points[0].itemsize * 2 + self.features.descriptors[0].itemsize * 128
                   + np.dtype(np.int32).itemsize) if len(n) else 0
            per += n * row + np.dtype(np.int32).itemsize  # + one int32 keypoint count per image
        return per + (self.centroids.nbytes + self.idf.nbytes) / len(per)


# --------------------------------------------------------------------------- global search
def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if not np.isfinite(x).all():
        raise BenchlibError("embedding contains NaN or inf")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class GlobalIndex:
    """Exact cosine search over L2-normalised embeddings (faiss IndexFlatIP = a matrix product)."""

    def __init__(self, embeddings: np.ndarray, db_ids):
        import faiss

        self.emb = l2_normalise(embeddings)
        self.db_ids = np.asarray(db_ids)
        self.index = faiss.IndexFlatIP(self.emb.shape[1])
        self.index.add(self.emb)

    def search(self, queries: np.ndarray, topk: int, subset=None):
        import faiss

        q = l2_normalise(queries)
        index, ids = self.index, self.db_ids
        if subset is not None:
            index = faiss.IndexFlatIP(self.emb.shape[1])
            index.add(self.emb[np.asarray(subset)])
            ids = self.db_ids[np.asarray(subset)]
        scores, top = index.search(q, min(topk, index.ntotal))
        return ids[top], scores

    def index_bytes(self) -> int:
        import faiss

        return int(faiss.serialize_index(self.index).nbytes)

    def bytes_per_image(self) -> np.ndarray:
        """One float32 vector per database image (the flat index stores nothing else per image)."""
        return np.full(len(self.emb), float(self.emb.shape[1] * self.emb.itemsize))


# --------------------------------------------------------------------------- embedders
def build_backbone(arch: str, weights_path: str = "", image_size: int = 224):
    """A torchvision backbone with its classifier removed. Random init unless ``weights_path`` names
    a state-dict file (e.g. torchvision's ImageNet weights, saved beforehand by the user); it is
    loaded with ``weights_only=True`` and nothing is downloaded.

    ``vit_tiny`` is a 4-layer, 192-wide ViT (torchvision's VisionTransformer class) that fits the
    CPU budget of the default profile; ``vit_b_16`` is the standard one."""
    import torch
    import torchvision

    from benchlib.torchutil import load_checkpoint

    if arch in ("resnet18", "resnet34", "resnet50"):
        model = getattr(torchvision.models, arch)(weights=None)
        head = "fc"
    elif arch == "vit_b_16":
        model = torchvision.models.vit_b_16(weights=None, image_size=image_size)
        head = "heads"
    elif arch == "vit_tiny":
        model = torchvision.models.VisionTransformer(image_size=image_size, patch_size=16, num_layers=4,
                                                     num_heads=3, hidden_dim=192, mlp_dim=768)
        head = "heads"
    else:
        raise BenchlibError(f"unknown backbone {arch!r}: resnet18 | resnet34 | resnet50 | vit_b_16 | vit_tiny")
    if weights_path:
        state = load_checkpoint(weights_path)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        state = {k: v for k, v in state.items() if not k.startswith(head + ".")}
        try:  # strict=False still raises on a shape mismatch (e.g. another ResNet depth's file)
            missing, _ = model.load_state_dict(state, strict=False)
        except RuntimeError as e:
            detail = str(e).splitlines()[-1].strip()
            raise BenchlibError(f"{weights_path}: not a {arch} state dict ({detail})") from None
        missing = [k for k in missing if not k.startswith(head + ".")]
        if missing:
            raise BenchlibError(f"{weights_path}: not a {arch} state dict (missing {len(missing)} keys, "
                                f"e.g. {missing[:3]})")
    setattr(model, head, torch.nn.Identity())
    return model.eval()


def _to_batch(images, size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Images → (n, 3, size, size) float32, normalised (ImageNet statistics unless given; squashed
    to a square)."""
    arr = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])
    return ((arr.astype(np.float32) / 255.0 - mean) / std).transpose(0, 3, 1, 2)


def gem(x, p=3.0):
    """Generalised-mean pooling over the spatial axes of (n, c, h, w) maps (p = 1: average, large
    p: towards max): the pooling of FORB's CNN baselines; ``p`` may be a learnable tensor."""
    return x.clamp(min=1e-6).pow(p).mean((2, 3)).pow(1.0 / p)


def lite_head_gem(net, h):
    """EfficientNet-Lite0's 1280-channel head (1×1 conv, BN, ReLU6) on the output of its last
    block, GeM-pooled: the ImageNet row's descriptor, and the ImageNet-initialised SimCLR network's."""
    import torch.nn.functional as F

    return gem(F.relu6(net._bn1(net._conv_head(h))))


def efficientnet_embedder():
    """EfficientNet-Lite0 with its ImageNet weights (the shared loader :mod:`benchlib.pretrained`,
    hash-checked) as a global descriptor: GeM pooling (p = 3) of its 1280-channel head, the
    pooling of FORB's CNN baselines (DELG's global feature, FIRe's backbone). Returns (module,
    mean, std) — the Lite models expect (x − 127) / 128, not ImageNet's statistics."""
    import torch

    from benchlib import pretrained

    net = pretrained.efficientnet_lite0()

    class LiteGeM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return lite_head_gem(self.net, self.net.features(x)[-1])

    return LiteGeM().eval(), np.float32(pretrained.MEAN), np.float32(pretrained.STD)


def embed_images(model, images, size: int, scales=(1.0,), device="cpu", batch: int = 32,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """Multi-scale global description: the L2-normalised embeddings at each scale are averaged and
    normalised again (FORB's baselines describe images at several scales). Batches of 32: at 64
    EfficientNet's expanded activations pass glibc's 32 MB mmap threshold and every batch
    page-faults its memory afresh (0.5 s of system time per 256 images at 80 px; none at 32)."""
    import torch

    from benchlib.torchutil import autocast

    model = model.to(device)
    if torch.device(device).type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    total = None
    with torch.inference_mode():
        for s in scales:
            side = max(16, int(round(size * s)))
            outs = []
            for i in range(0, len(images), batch):
                x = torch.from_numpy(_to_batch(images[i:i + batch], side, mean, std)).to(device)
                with autocast(device):
                    outs.append(model(x).float().cpu().numpy())
            e = l2_normalise(np.concatenate(outs))
            total = e if total is None else total + e
    return l2_normalise(total)



def colour_histogram(images, bins: int = 8) -> np.ndarray:
    """Joint RGB histogram (``bins`` levels per channel, bins³ cells) of each image, as a square-root
    normalised vector (its cosine is the Bhattacharyya coefficient). Not a FORB method: a trivial
    baseline that shows how far the colour statistics of the whole photo alone identify an object."""
    out = np.zeros((len(images), bins ** 3), np.float32)
    for i, img in enumerate(images):
        q = np.asarray(img).astype(np.int64) * bins // 256
        cell = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
        h = np.bincount(cell.ravel(), minlength=bins ** 3)
        out[i] = np.sqrt(h / max(h.sum(), 1))
    return out


def import_embedder(spec: str):
    """The user hook: ``"package.module:function"`` → the function. It must map a list of RGB uint8
    images (H×W×3 arrays) to an (n, d) float array, e.g. a CLIP image encoder the user has set up
    with their own weights. Its rows are then searched by cosine like the other global methods."""
    if ":" not in spec:
        raise BenchlibError(f"embedder {spec!r}: expected 'module:function'")
    mod, fn = spec.split(":", 1)
    try:
        f = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise BenchlibError(f"embedder {spec!r}: cannot import ({e})") from None
    if not callable(f):
        raise BenchlibError(f"embedder {spec!r} is not callable")
    return f


# --------------------------------------------------------------------------- SimCLR's networks
def small_embed_net(dim: int = 128, width: int = 16):
    """Four 3×3 conv-BN-ReLU stages (stride 2 each, widths w, 2w, 4w, 8w), GeM pooling, a linear
    embedding: small enough to train for a few hundred steps on two CPU cores. Its output width is
    ``out_dim`` (= ``dim``)."""
    import torch
    from torch import nn

    class GeM(nn.Module):
        def __init__(self, p: float = 3.0):
            super().__init__()
            self.p = nn.Parameter(torch.tensor(p))

        def forward(self, x):
            return gem(x, self.p)

    def block(cin, cout, stride):
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    w = width
    net = nn.Sequential(*block(3, w, 2), *block(w, 2 * w, 2), *block(2 * w, 4 * w, 2), *block(4 * w, 8 * w, 2),
                        GeM(), nn.Linear(8 * w, dim))
    net.out_dim = dim
    return net


SIMCLR_INITS = ("scratch", "imagenet")
# blocks of EfficientNet-Lite0 run frozen by the ImageNet-initialised network: 0–14 (up to stride
# 32); its last block (192 → 320 channels) and the 1×1 head to 1280 channels are trained. Training
# block 11 on as well costs 2.5× the CPU time per step (depthwise 5×5 backward) and did worse in 30 steps.
FROZEN_BLOCKS = 15


def imagenet_embed_net(frozen_blocks: int = FROZEN_BLOCKS):
    """EfficientNet-Lite0 with its ImageNet weights (the shared hash-checked loader), GeM (p = 3) of
    the 1280-channel head (``out_dim``): the stem and the first ``frozen_blocks`` blocks run without
    gradients, the rest is trainable. BatchNorm stays in eval mode (ImageNet statistics): SimCLR
    batches of a few dozen views would give noisy statistics. Inputs are ImageNet-normalised like
    the scratch CNN's (``train``'s batches, :func:`embed_images`' default) and converted inside to
    the Lite models' (x − 127) / 128, so both networks are trained and described by the same code.

    It is the issue's "SimCLR initialised from ImageNet" (``ssl_init="imagenet"``), an option, not
    the default row: at the default budget (≈ 30 steps per seed at 48 px fit the scratch CNN's CPU
    time) it stayed at the ImageNet row's level, below the scratch CNN, and 100 steps did not lift
    it (trials outside the book run, described in the notebook)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from benchlib import pretrained

    net = pretrained.efficientnet_lite0()
    if not 0 <= frozen_blocks <= len(net._blocks):
        raise ValueError(f"frozen_blocks must lie in 0..{len(net._blocks)}, got {frozen_blocks}")

    class LiteSimCLR(nn.Module):
        out_dim = 1280

        def __init__(self):
            super().__init__()
            self.net = net
            self.frozen = frozen_blocks
            for p in self.frozen_parameters():
                p.requires_grad_(False)
            # x_lite = (x_imagenet · std + mean − MEAN) / STD, per channel
            scale = torch.tensor(IMAGENET_STD / pretrained.STD, dtype=torch.float32).view(1, 3, 1, 1)
            shift = torch.tensor((IMAGENET_MEAN - pretrained.MEAN) / pretrained.STD, dtype=torch.float32)
            shift = shift.view(1, 3, 1, 1)
            self.register_buffer("scale", scale, persistent=False)
            self.register_buffer("shift", shift, persistent=False)

        def frozen_parameters(self):
            n = self.net
            return [*n._conv_stem.parameters(), *n._bn0.parameters(),
                    *(p for b in n._blocks[: self.frozen] for p in b.parameters())]

        def train(self, mode: bool = True):
            super().train(mode)
            for m in self.modules():  # frozen ImageNet BatchNorm statistics (see above)
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
            return self

        def forward(self, x):
            n = self.net
            x = x * self.scale + self.shift  # ImageNet mean/std → (x − 127) / 128
            with torch.no_grad():
                h = F.relu6(n._bn0(n._conv_stem(x)))
                for b in n._blocks[: self.frozen]:
                    h = b(h)
            for b in n._blocks[self.frozen:]:
                h = b(h)
            return lite_head_gem(n, h)

    return LiteSimCLR()


def simclr_net(init: str = "scratch", dim: int = 128):
    """The network SimCLR trains for ``init`` (:data:`SIMCLR_INITS`): the scratch CNN
    (:func:`small_embed_net`, ``dim`` wide) or EfficientNet-Lite0's last stage
    (:func:`imagenet_embed_net`, 1280 wide); its width is its ``out_dim``."""
    if init == "scratch":
        return small_embed_net(dim)
    if init == "imagenet":
        return imagenet_embed_net()
    raise ValueError(f"SimCLR init must be one of {SIMCLR_INITS}, got {init!r}")
