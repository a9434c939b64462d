"""The whole-digit judge (whole.py): its stored weights, how well it tells whole digits on validation
numbers, and the script that trains it (scripts/train_whole_digit.py)."""

from __future__ import annotations

import numpy as np
import pytest
from script_runs import load_script, quick_weights

from mnist_keras import numberset, segment, whole, whole_weights


def test_pack_and_unpack_round_trip_in_float16():
    arrays = {"w": np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4), "b": np.float32(0.25)}
    back = whole.unpack(*whole.pack(arrays))
    assert back["w"].shape == (3, 4) and back["b"].shape == ()
    assert np.allclose(back["w"], arrays["w"], atol=2e-3) and back["b"] == 0.25
    shapes, data = whole.pack(arrays)
    with pytest.raises(ValueError, match="weights hold 13 numbers"):
        whole.unpack({"w": (3, 4)}, data)


def test_the_stored_weights_fit_the_features():
    weights = whole.unpack(whole_weights.SHAPES, whole_weights.DATA)
    inputs = segment.CONTEXT_SIZE**2 + whole.CROP_SIDE**2 + len(whole.SCALARS)
    assert weights["w1"].shape[0] == inputs == weights["mean"].shape[0] == weights["scale"].shape[0]
    assert whole.probability([]).shape == (0,) and whole.features([]).shape == (0, inputs)


def test_the_features_hold_the_crop_at_half_resolution(mnist):
    """The judge sees the classifier's crop (its shape), not only the candidate's context and size."""
    sample = numberset.make_set(numberset.VALIDATION, 1, conditions=("separated",), mnist=mnist)[0]
    page = segment.prepare(sample.image, "image")
    candidate = page.candidates[0][0]
    x = whole.features([candidate])[0]
    at = segment.CONTEXT_SIZE**2
    crop = x[at : at + whole.CROP_SIDE**2].reshape(whole.CROP_SIDE, whole.CROP_SIDE)
    assert np.allclose(crop[3, 5], candidate.crop[6:8, 10:12].mean() / 255)
    assert np.allclose(crop.sum(), candidate.crop.sum() / 255 / 4)
    assert np.allclose(x[at + whole.CROP_SIDE**2 :], [getattr(candidate, name) for name in whole.SCALARS])


@pytest.fixture(scope="module")
def validation_candidates(mnist):
    """(features, whole-or-not) of the candidates cut from 10 validation numbers per condition."""
    train = load_script("train_whole_digit")
    samples = numberset.make_set(numberset.VALIDATION, 10, seed=1, mnist=mnist)
    return train.labelled(samples, progress=None)


def test_the_judge_tells_whole_digits_from_pieces_and_pairs(validation_candidates):
    """On validation numbers (never trained on): a whole digit is judged more likely whole than a
    non-digit (half a digit, two squeezed together) almost always."""
    x, y = validation_candidates
    assert len(y) > 500 and 0.2 < y.mean() < 0.8
    p = whole.judge(x)
    pos, neg = p[y == 1], p[y == 0]
    auc = (pos[:, None] > neg[None, :]).mean()
    assert auc > 0.97 and ((p >= 0.5) == y).mean() > 0.9


def test_a_quick_training_run_writes_a_module_the_reader_can_load(tmp_path, data_dir):
    module = quick_weights("train_whole_digit", tmp_path)
    assert "python scripts/train_whole_digit.py --quick" in module.__doc__
    weights = whole.unpack(module.SHAPES, module.DATA)
    page = segment.prepare(numberset.make_set(numberset.VALIDATION, 1, conditions=("separated",))[0].image, "image")
    p = whole.probability(page.candidates[0], weights)
    assert p.shape == (len(page.candidates[0]),) and ((p >= 0) & (p <= 1)).all()


def test_quick_runs_must_not_overwrite_the_shipped_judge():
    train = load_script("train_whole_digit")
    with pytest.raises(SystemExit):
        train.main(["--quick"])
