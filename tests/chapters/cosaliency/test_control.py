"""Co-saliency chapter, the RFM control (issue 29): matched single / paired control images, the
pair-vs-single separation measure, and the control's verdicts and rows on a hand-made run."""
from types import SimpleNamespace

import numpy as np
import pytest

from benchlib.chapters.cosaliency import SPEC, control, data, report
from benchlib.chapters.cosaliency.evaluate import selectivity
from benchlib.results import ChapterResults


def test_control_images_differ_only_by_the_distractors_second_instance():
    single, paired = data.control_sets(6, seed=4)
    assert len(single) == len(paired) == 6
    for s, p in zip(single.items, paired.items):
        co_classes = {c for c, f in zip(s.classes, s.cosalient) if f}
        (dis,) = [c for c, f in zip(s.classes, s.cosalient) if not f]
        assert len(co_classes) == 1 and dis not in co_classes and 2 <= s.cosalient.sum() <= 3
        # paired: the same objects plus one more instance of the distractor's class, nothing else changed
        assert p.classes == s.classes + [dis] and not p.cosalient[-1]
        np.testing.assert_array_equal(p.boxes[:-1], s.boxes)
        np.testing.assert_array_equal(p.gt, s.gt)
        changed = (p.image != s.image).any(axis=2)
        x0, y0, x1, y1 = p.boxes[-1].astype(int)
        assert changed.any() and not changed[~np.pad(np.ones((y1 - y0, x1 - x0), bool),
                                                     ((y0, p.gt.shape[0] - y1), (x0, p.gt.shape[1] - x1)))].any()
        assert (p.salient & ~s.salient).any() and not (s.salient & ~p.salient).any()
    again = data.control_sets(6, seed=4)[0]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(again.items, single.items))  # seeded


def test_pair_vs_single_separation():
    image = np.array([0, 0, 0, 1, 1, 1])
    co = np.array([True, True, False, True, True, False])
    a, b = np.eye(3)[0], np.eye(3)[1]
    twins = np.stack([a, a, b, b, b + 0.1 * a, a])           # the pairs match, the singles do not
    assert control.pair_vs_single(twins, image, co) == 1.0
    same = np.ones((6, 3))                                    # every object alike: no separation
    assert control.pair_vs_single(same, image, co) == 0.5


def _fake_run(single_sel: float, paired_sel: float, n_seeds: int = 3):
    """A run whose control maps mark the co-salient objects fully and the distractor at 1 − selectivity,
    with a little per-image noise (else the interval has no width)."""
    single, paired = data.control_sets(8, seed=1)
    rng = np.random.default_rng(0)
    res = {"single": {}, "paired": {}, "rfm separation": {control.ONLINE: [0.5] * n_seeds}, "n": 8,
           "encoder separation": 0.9, "seconds": 0.0}
    for kind, items, sel in (("single", single, single_sel), ("paired", paired, paired_sel)):
        for _ in range(n_seeds):
            maps = []
            for it in items.items:
                co, dis = (it.gt > 128), it.salient & ~(it.gt > 128)
                m = co.astype(np.float32) + (dis * (1 - sel + rng.normal(0, 0.02))).astype(np.float32)
                maps.append(np.clip(m, 0, 1))
            res[kind].setdefault(control.ONLINE, []).append(selectivity(maps, items))
    return SimpleNamespace(control=res, seeds=list(range(n_seeds)), config=SimpleNamespace(seed=0), histories={},
                           splits={"cosal": SimpleNamespace(dataset="fake twin")})


def test_the_reference_comparator_passes_the_control():
    """Nothing trained: the salient objects weighted by the encoder's self-correlation suppress the single
    distractor and not its paired twin: the control can be passed by comparing instances."""
    from benchlib.chapters.cosaliency.models import build_encoder
    from benchlib.chapters.cosaliency.train import TrainConfig

    cfg = TrainConfig(train_size=160, width=16, out_stride=4, epochs=1, batch_size=3, lr=0.004, aug_copies=1,
                      cache_features=True, device="cpu")
    ctl = control.Control.build(build_encoder(), 24, 0, cfg)
    run = SimpleNamespace(control=ctl.results, seeds=[0, 1, 2], config=SimpleNamespace(seed=0))
    v = report.control_verdicts(run).set_index("claim_id")
    assert v.loc["control_single_comparator", "verdict"] == "held"
    assert v.loc["control_paired_comparator", "verdict"] != "held"
    assert ctl.results["encoder separation"] > 0.75


def test_control_verdicts_positive_held_negative_not():
    v = report.control_verdicts(_fake_run(0.6, 0.0)).set_index("claim_id")
    assert v.loc["control_single_online", "verdict"] == "held"
    assert v.loc["control_paired_online", "verdict"] != "held"
    assert v.loc["control_single_unet", "verdict"] == "not tested"   # not scored in this run
    assert v.loc["control_single_online", "n_seeds"] == 3 and v.loc["control_single_online", "n_units"] == 8
    # a model that does not suppress the single distractor: not held on the positive control either
    v = report.control_verdicts(_fake_run(0.0, 0.0)).set_index("claim_id")
    assert v.loc["control_single_online", "verdict"] != "held"


def test_control_rows_and_table_and_summary():
    res = ChapterResults(SPEC.id, "smoke")
    run = _fake_run(0.6, 0.0)
    run.histories = {"cosal": {control.ONLINE: [[{"rfm": 0.2}, {"rfm": 0.1}]] * 3}}
    verdicts = report._record_control(res, run)
    f = res.frame[res.frame.table == report.CONTROL_TABLE]
    sel = f[f.metric == "selectivity"].set_index("subset")
    assert sel.loc[control.KINDS["single"], "value"] == pytest.approx(0.6, abs=0.02)
    assert sel.loc[control.KINDS["single"], "note"].startswith("verdict of control_single_online")
    assert "held" in sel.loc[control.KINDS["single"], "note"]
    assert set(f[f.metric == "pair-vs-single AUC"].method) == {control.ONLINE, "frozen encoder (stride 16)"}
    table = report.tables(res, None)[report.CONTROL_TABLE]
    assert control.ONLINE in table.index
    text = report.control_summary(res, verdicts)
    assert "positive control" in text and "0.500" in text and "0.900" in text and "0.200" in text
    assert text.endswith("the RFM works on its own control.")
    # the verdicts are read from the verdict frame's column, not from the rows' notes
    text = report.control_summary(res, verdicts.assign(verdict="inconclusive"))
    listed = text.split(". The online")[0]     # the sentence that lists each selectivity with its verdict
    assert listed.count("], inconclusive") == 2 and "held" not in listed
    assert not text.endswith("the RFM works on its own control.")
    # no control run: one row that says why
    res = ChapterResults(SPEC.id, "smoke")
    report._record_control(res, SimpleNamespace(control={}))
    assert res.frame.note.iloc[0].startswith("not run")


def test_the_longer_trained_model_is_scored_and_read_by_the_summary(tmp_path):
    """control_epochs > 0: one more online model, scored on both controls under its own name; the summary
    reads its AUC and selectivity (here: a vector that separates, a map that does not suppress)."""
    from benchlib.chapters.cosaliency.models import build_encoder
    from benchlib.chapters.cosaliency.train import FeatureBank, TrainConfig, to_training_arrays

    cfg = TrainConfig(train_size=64, width=16, out_stride=4, epochs=1, batch_size=3, lr=0.004, aug_copies=1,
                      cache_features=True, device="cpu")
    data.write_twin(tmp_path, "cosal", n_images=4, seed=3)
    enc = build_encoder()
    ctl = control.Control.build(enc, 3, 0, cfg)
    ctl.score("U-Net + DA", None)   # not a control method: ignored
    bank = FeatureBank(enc, to_training_arrays(data.load_saliency_folder(tmp_path), 64), cfg)
    ctl.train_long(bank, cfg, 0)
    ctl.train_repair(bank, cfg, 0)
    name = control.long_name(1)
    assert set(ctl.results["single"]) == set(ctl.results["paired"]) == {name, control.COMPARATOR, control.REPAIRED}
    assert len(ctl.results["rfm separation"][name]) == 1 and 0 <= ctl.results["rfm separation"][name][0] <= 1
    run = _fake_run(0.0, 0.0)
    run.control["single"]["x"] = run.control["single"][control.ONLINE][:1]
    run.control["single"][control.long_name(20)] = run.control["single"].pop("x")
    run.control["rfm separation"][control.long_name(20)] = [0.8]
    run.histories = {}
    res = ChapterResults(SPEC.id, "smoke")
    text = report.control_summary(res, report._record_control(res, run))
    assert "20 epochs (one seed): RFM vectors' AUC 0.800" in text and text.endswith("not this implementation.")


@pytest.mark.parametrize("losses, sentence", [
    ((0.30, 0.25, 0.20), "it falls, so the training signal reaches the branch."),
    ((0.20, 0.22, 0.26), "it does not fall, so this run does not show that the training signal reaches the branch."),
])
def test_the_rfm_loss_rows_and_the_sentence_that_reads_them(losses, sentence):
    """The online model's RFM loss in its first and last epoch is a pair of result rows (means over seeds),
    and the summary says whether it falls from those rows."""
    run = _fake_run(0.6, 0.0, n_seeds=2)
    first, mid, last = losses
    # seed 0 ends 0.02 below `last`, seed 1 0.02 above: the mean of the last epoch is `last`
    run.histories = {"cosal": {control.ONLINE: [[{"rfm": first}, {"rfm": mid}, {"rfm": last - 0.02}],
                                                [{"rfm": first}, {"rfm": mid}, {"rfm": last + 0.02}]]}}
    res = ChapterResults(SPEC.id, "smoke")
    verdicts = report._record_control(res, run)
    rows = res.frame[(res.frame.table == report.CONTROL_TABLE) & (res.frame.subset == "training")].set_index("metric")
    assert list(rows.index) == ["RFM triplet loss, first epoch", "RFM triplet loss, last epoch"]
    assert rows.value.tolist() == pytest.approx([first, last])
    assert (rows.method == control.ONLINE).all() and (rows.n == 2).all() and (rows.dataset == "fake twin").all()
    text = report.control_summary(res, verdicts)
    assert f"goes from {first:.3f} (first epoch) to {last:.3f} (last), mean over seeds: {sentence}" in text
