"""Is a colouriser vivid, and still accurate? The vivid-colour targets, checked on one split.

A classification or adversarial model meets them when, on the same images:
- its mean colourfulness lies within 10% of the true images' (``COLOURFULNESS_TOLERANCE``);
- its ``auc_ab_rebalanced`` beats every regression model's and every baseline's beyond the
  paired 95% CI (rare, saturated colours are right more often);
- its ``ab_js_divergence`` is at most half the best regression model's;
- its ΔE2000 beats the gray baseline's beyond the paired CI (vivid but wrong is not the goal).
The stretch adds accuracy: ΔE2000 at most halfway between gray's and the best regression
model's, with the colourfulness target met too.
"""

from __future__ import annotations

import pandas as pd

from colorize_core.evaluation.evaluate import Evaluation
from colorize_core.evaluation.temperature import COLOURFULNESS_TOLERANCE
from colorize_core.reporting.report import pairwise


def check_targets(
    model: Evaluation, regressions: list[Evaluation], baselines: list[Evaluation]
) -> pd.DataFrame:
    """One row per target: ``target``, the model's ``value``, what it is held ``against``, and
    whether it is ``met``. ``baselines`` must hold the ``gray`` baseline."""
    if not regressions:
        raise ValueError("the targets compare against at least one regression model")
    gray = next((b for b in baselines if b.predictor == "gray"), None)
    if gray is None:
        raise ValueError("the targets need the gray baseline among the baselines")
    mean = model.summary["mean"]
    true = mean["colorfulness_true"]
    rows = [
        {
            "target": f"colourfulness within {COLOURFULNESS_TOLERANCE:.0%} of the truth",
            "value": mean["colorfulness_pred"],
            "against": f"true {true:.3g}",
            "met": abs(mean["colorfulness_pred"] - true) <= COLOURFULNESS_TOLERANCE * true,
        }
    ]
    for other in [*regressions, *baselines]:
        paired = pairwise([model, other], ["auc_ab_rebalanced"]).iloc[0]
        rows.append(
            {
                "target": f"auc_ab_rebalanced above {other.predictor} beyond the paired CI",
                "value": mean["auc_ab_rebalanced"],
                "against": f"{other.summary.at['auc_ab_rebalanced', 'mean']:.3g}, difference "
                f"{paired['difference']:.3g} [{paired['ci_low']:.3g}, {paired['ci_high']:.3g}]",
                "met": bool(paired["a_better_beyond_ci"]),
            }
        )
    best_js = min(r.summary.at["ab_js_divergence", "mean"] for r in regressions)
    rows.append(
        {
            "target": "ab_js_divergence at most half the best regression model's",
            "value": mean["ab_js_divergence"],
            "against": f"half of {best_js:.3g} = {best_js / 2:.3g}",
            "met": mean["ab_js_divergence"] <= best_js / 2,
        }
    )
    paired = pairwise([model, gray], ["delta_e2000"]).iloc[0]
    rows.append(
        {
            "target": "delta_e2000 below gray's beyond the paired CI",
            "value": mean["delta_e2000"],
            "against": f"{gray.summary.at['delta_e2000', 'mean']:.3g}, difference "
            f"{paired['difference']:.3g} [{paired['ci_low']:.3g}, {paired['ci_high']:.3g}]",
            "met": bool(paired["a_better_beyond_ci"]),
        }
    )
    best_de = min(r.summary.at["delta_e2000", "mean"] for r in regressions)
    halfway = (gray.summary.at["delta_e2000", "mean"] + best_de) / 2
    rows.append(
        {
            "target": "stretch: delta_e2000 at most halfway from gray to the best regression",
            "value": mean["delta_e2000"],
            "against": f"{halfway:.3g}",
            "met": bool(mean["delta_e2000"] <= halfway and rows[0]["met"]),
        }
    )
    table = pd.DataFrame(rows)
    table.insert(0, "model", model.predictor)
    return table
