"""The mechanism control: synthetic CAM pairs of matched quality with complementary or correlated
false activations; the precision claims must be found in the first regime and not in the second."""
import numpy as np
import pytest

from benchlib.chapters.orandnet_voc import claims as C, control, data, pipeline as P
from benchlib.claims import evaluate
from benchlib.torchutil import set_threads


def _twin_split(n=48, size=40, seed=0):
    rng = np.random.default_rng(seed)
    scenes = [data.render_scene(rng, size) for _ in range(n)]
    keep = [s for s in scenes if s[2].any()]
    return data.Split([f"i{k}" for k in range(len(keep))], np.stack([s[0] for s in keep]),
                      np.stack([s[1] for s in keep]), np.stack([s[2] for s in keep]))


def test_synthetic_pairs_have_matched_quality_and_the_stated_error_overlap():
    split = _twin_split(n=12)
    rng = np.random.default_rng(0)
    for regime in control.REGIMES:
        for mask, cl in zip(split.masks, split.classes):
            c1, c2 = control.synthetic_pair(mask, cl, regime, rng)
            assert c1.shape == c2.shape == (len(cl), *mask.shape)
            assert np.allclose(c1.reshape(len(cl), -1).max(1), 1) and c1.min() >= 0
            for k, c in enumerate(cl):
                far = mask == 0  # background: where the false blobs live
                f1, f2 = (c1[k] > 0.3) & far, (c2[k] > 0.3) & far
                if regime == "correlated":
                    assert (f1 & f2).sum() >= 0.5 * min(f1.sum(), f2.sum())
                elif f1.sum() and f2.sum():
                    assert (f1 & f2).sum() <= 0.25 * min(f1.sum(), f2.sum())
    with pytest.raises(ValueError, match="regime"):
        control.synthetic_pair(split.masks[0], split.classes[0], "nope", rng)


@pytest.fixture(scope="module")
def controls():
    set_threads(1)
    cfg = P.Config(n_seeds=3, orand_epochs=12, device="cpu", image_size=40)
    split = _twin_split()
    return {r: control.control_run(split, r, cfg, log=lambda *_: None) for r in control.REGIMES}


def test_positive_control_holds_and_negative_control_does_not(controls):
    v = {r: evaluate(C.CONTROL_CLAIMS, run, n_boot=400).set_index("claim_id")["verdict"] for r, run in controls.items()}
    assert v["complementary"]["and_more_precise"] == "held"
    assert v["complementary"]["orandnet_more_precise"] == "held"
    for cid in ("and_more_precise", "orandnet_more_precise"):
        assert v["correlated"][cid] in ("inconclusive", "contradicted"), cid
    # the premise as measured: errors overlap far less than hits only with complementary errors
    jf, jt = C.jaccards(controls["complementary"])
    assert jf < 0.2 < 0.8 < jt
    jf, jt = C.jaccards(controls["correlated"])
    assert jf > 0.5


def test_the_chapter_modules_import_each_other_without_a_circle():
    """control and pipeline both build runs: the run types live in `runs`, below both (issue 25)."""
    import ast
    from pathlib import Path

    folder = Path(control.__file__).parent
    graph = {}
    for f in folder.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module} if node.module else {a.name for a in node.names}
        graph[f.stem] = {d for d in deps if (folder / f"{d}.py").exists()}
    assert "pipeline" not in graph["control"] and "runs" in graph["control"]

    def visit(m, path):
        assert m not in path, " → ".join([*path, m])
        for d in graph[m]:
            visit(d, (*path, m))

    for m in graph:
        visit(m, ())
