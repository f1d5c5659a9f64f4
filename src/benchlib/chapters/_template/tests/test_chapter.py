"""The template chapter: loader errors on malformed files, hand-worked scores, the claim on the
paper's own numbers, the check on hand-worked labels, a resumed training equal to an uninterrupted
one, and a short run on the twin (`discovered`: conftest.py)."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from benchlib import BenchlibError
from benchlib.chapters._template import SPEC, claims, data, evaluate, models, pipeline, report, train
from benchlib.claims import PaperTables, paper_verdict, run_checks
from benchlib.torchutil import TrainingCheckpoint


def _write(folder, text: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "samples.csv").write_text(text)
    return folder


@pytest.mark.parametrize("text, problem", [
    ("x,y\n0.1,0\n", "columns must be x, label"),
    ("x,label\n0.1,2\n", "label must be 0 or 1"),
    ("x,label\nnan,1\n", "NaN or infinite"),
])
def test_template_loader_names_the_malformed_file(tmp_path, text, problem):
    root = _write(tmp_path / "data", text)
    with pytest.raises(BenchlibError, match=problem) as e:
        data.load(root)
    assert str(root / "samples.csv") in str(e.value)
    with pytest.raises(BenchlibError, match="missing"):
        data.load(tmp_path / "nowhere")


def test_template_halves_and_twin_in_the_published_layout(tmp_path):
    data.write_twin(tmp_path, 10, 1.0, seed=3)
    df = data.load(tmp_path)
    (x_train, y_train), (x_test, y_test) = data.halves(df)
    assert len(df) == 10 and len(x_train) == len(y_train) == 5 and len(x_test) == 5
    assert np.array_equal(np.concatenate([y_train, y_test]), df["label"].to_numpy())


def test_template_scores_worked_by_hand():
    model = models.Threshold()
    with torch.no_grad():   # logit 2x − 1: label 1 above x = 0.5
        model.linear.weight.fill_(2.0)
        model.linear.bias.fill_(-1.0)
    assert model.threshold == pytest.approx(0.5)
    predicted = evaluate.predict(model, [0.2, 0.7, 1.5, -3.0])
    assert predicted.tolist() == [0, 1, 1, 0]
    assert evaluate.correct(predicted, [0, 0, 1, 1]).tolist() == [True, False, True, False]
    # seed 1: 3 of 4 right; seed 2: 1 of 2
    assert evaluate.accuracies([evaluate.correct(predicted, [0, 0, 1, 0]), [True, False]]) == pytest.approx([75.0, 50.0])
    assert models.majority([0, 1, 1]) == 1 and models.majority([0, 0, 1]) == 0


def test_template_claim_holds_on_the_papers_numbers(discovered):
    paper = PaperTables(SPEC.id)
    claim = next(c for c in claims.CLAIMS if c.id == "threshold_beats_majority")
    verdict, value = paper_verdict(claim, paper)
    assert value == pytest.approx(84.1 - 50.2)   # Table 1: threshold − majority
    assert verdict == "held"


def test_template_majority_check_on_hand_worked_labels():
    """Training labels 1, 1, 0: the majority guess is 1; test labels 1, 0, 0, 0: guessing 1 is right
    on 1 of 4 (25 %). The same labels scored as if the guess were 0 (75 %) fail the check."""
    check = next(c for c in claims.CHECKS if c.id == "majority_is_test_share")
    labels = [(np.array([1, 1, 0]), np.array([1, 0, 0, 0]))]
    right = SimpleNamespace(labels=labels, correct={"majority": [np.array([True, False, False, False])]})
    wrong = SimpleNamespace(labels=labels, correct={"majority": [np.array([False, True, True, True])]})
    assert check.check(right)[0] and not check.check(wrong)[0]
    assert "gap 50 accuracy points" in check.check(wrong)[1]


class _Interrupted(Exception):
    pass


def test_template_resumed_training_equals_an_uninterrupted_one(tmp_path):
    data.write_twin(tmp_path, 40, 1.0, seed=0)
    (x, y), _ = data.halves(data.load(tmp_path))
    cfg = train.TrainConfig(epochs=6, lr=0.5, batch=8)
    whole = models.build(0)
    history = train.fit(whole, (x, y), cfg, seed=0, device="cpu")

    def checkpoint():
        return TrainingCheckpoint(tmp_path / "checkpoints", "threshold-seed0", "the same key", every=2)

    def stop_at_3(epoch):
        if epoch == 3:   # saved after epoch 2; epoch 3 is trained, then lost
            raise _Interrupted

    with pytest.raises(_Interrupted):
        train.fit(models.build(0), (x, y), cfg, seed=0, device="cpu", checkpoint=checkpoint(), on_epoch=stop_at_3)
    trained, resumed = [], models.build(1)   # other initial weights: the checkpoint's replace them
    resumed_history = train.fit(resumed, (x, y), cfg, seed=0, device="cpu", checkpoint=checkpoint(),
                                on_epoch=trained.append)
    assert trained == [3, 4, 5, 6]
    pd.testing.assert_frame_equal(resumed_history, history)
    for name, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name


def test_template_runs_on_the_twin_and_records_table_1(tmp_path, discovered):
    from benchlib.results import ChapterResults, check_tables

    config = pipeline.Config(n_samples=60, n_seeds=2, epochs=3, data_root=str(tmp_path / "data"),
                             results_root=str(tmp_path / "results"), checkpoint_every=1, threads=1)
    run = pipeline.run(config)
    assert [len(c) for c in run.correct["threshold"]] == [30, 30] and len(run.history) == 2
    assert not config.checkpoint_folder().exists()   # removed once the run succeeded
    res = ChapterResults(SPEC.id, "smoke", str(tmp_path / "results"))
    report.record(res, run)
    tables = check_tables(res, report.tables(res, run))
    assert list(tables) == ["1"] and list(tables["1"].index) == ["threshold", "majority"]
    assert "(84.1)" in tables["1"].loc["threshold"].iloc[0]
    assert (run_checks(claims.CHECKS, run)["passed"] == "yes").all()
