"""The vivid-colour targets, checked on synthetic per-image scores with known answers."""

import numpy as np
import pandas as pd
import pytest

from colorize_core.evaluation.evaluate import AbHistograms, Evaluation, summarize
from colorize_core.reporting.vivid_targets import check_targets

N = 40  # images
RNG = np.random.default_rng(0)
SHARED = RNG.normal(0, 0.05, (4, N))  # per-image noise common to all models: the images' own
TRUE_COUNTS = RNG.integers(0, 50, (N, 12))


def scored(name: str, colourfulness: float, auc: float, delta_e: float, mix: float) -> Evaluation:
    """An evaluation whose per-image scores scatter around the given means; its predicted ab
    histogram mixes ``mix`` of a flat histogram into the truth (0 is perfect)."""
    files = tuple(f"img{i}.jpg" for i in range(N))
    noise = SHARED + np.random.default_rng(len(name)).normal(0, 0.01, SHARED.shape)
    noise[1] = SHARED[1]  # the true images' colourfulness is the same for every model
    per_image = pd.DataFrame(
        {
            "colorfulness_pred": colourfulness * (1 + noise[0]),
            "colorfulness_true": 37.0 * (1 + noise[1]),
            "auc_ab_rebalanced": auc + noise[2] / 10,
            "delta_e2000": delta_e * (1 + noise[3]),
        },
        index=pd.Index(files, name="file"),
    )
    flat = np.full_like(TRUE_COUNTS, TRUE_COUNTS.sum(1, keepdims=True) // 12)
    pred = np.rint((1 - mix) * TRUE_COUNTS + mix * flat).astype(np.int64)
    histograms = AbHistograms(files, pred, TRUE_COUNTS)
    return Evaluation(
        name,
        "synthetic",
        "test",
        per_image,
        summarize(per_image, histograms=histograms),
        histograms,
    )


REGRESSION = scored("regression", 18.0, 0.80, 9.5, 0.8)
GRAY = scored("gray", 0.0, 0.70, 10.3, 1.0)
MEAN_AB = scored("mean_ab", 5.0, 0.72, 10.5, 0.95)


def test_a_vivid_accurate_model_meets_every_target_and_the_stretch():
    vivid = scored("classification", 36.0, 0.86, 9.6, 0.2)
    table = check_targets(vivid, [REGRESSION], [GRAY, MEAN_AB])
    assert list(table["model"].unique()) == ["classification"]
    assert len(table) == 1 + 3 + 1 + 1 + 1  # colourfulness, AuC vs each other, JS, ΔE2000, stretch
    assert table["met"].all()
    # beyond halfway from gray (10.3) to the regression model (9.5), only the stretch is missed
    table = check_targets(scored("c", 36.0, 0.86, 10.0, 0.2), [REGRESSION], [GRAY, MEAN_AB])
    assert table["met"].tolist() == [True] * 6 + [False]


@pytest.mark.parametrize(
    ("scores", "missed"),
    [
        ((30.0, 0.86, 9.6, 0.2), "colourfulness within 10% of the truth"),
        ((36.0, 0.80, 9.6, 0.2), "auc_ab_rebalanced above regression beyond the paired CI"),
        ((36.0, 0.86, 9.6, 0.65), "ab_js_divergence at most half the best regression model's"),
        ((36.0, 0.86, 10.5, 0.2), "delta_e2000 below gray's beyond the paired CI"),
    ],
)
def test_each_target_is_missed_on_its_own(scores, missed):
    table = check_targets(scored("m", *scores), [REGRESSION], [GRAY, MEAN_AB]).set_index("target")
    assert not table.at[missed, "met"]
    others = table.drop(index=[missed, table.index[-1]])
    assert others["met"].all()


def test_targets_need_a_regression_model_and_the_gray_baseline():
    vivid = scored("classification", 36.0, 0.86, 9.6, 0.2)
    with pytest.raises(ValueError, match="regression"):
        check_targets(vivid, [], [GRAY])
    with pytest.raises(ValueError, match="gray"):
        check_targets(vivid, [REGRESSION], [MEAN_AB])
