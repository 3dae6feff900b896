"""Temperature sweeps of a classification model, the choice of T, re-scoring a run at it, the
trade-off figure, and the one home of the paper's T and of the sweep's temperatures."""

import inspect
import json

import pandas as pd
import pytest
import torch

from colorize_core.data.ab_bins import PAPER_TEMPERATURE, decode_annealed
from colorize_core.data.cache import load_images
from colorize_core.data.split import make_split
from colorize_core.evaluation import temperature
from colorize_core.evaluation.evaluate import evaluate, evaluate_baselines
from colorize_core.evaluation.temperature import (
    TEMPERATURES,
    choose_temperature,
    temperature_sweep,
    tradeoff_points,
)
from colorize_core.models.heads import BinClassifier, with_head
from colorize_core.reporting import plots
from colorize_core.reporting.profiles import PROFILES
from colorize_core.runs.experiment import decode_at, run_experiment
from colorize_core.training.config import ExperimentConfig, ModelConfig
from colorize_core.training.loading import build_predictor


@pytest.fixture(scope="module")
def classifier_and_data():
    torch.manual_seed(0)
    config = ExperimentConfig.from_params(
        model="unet", model_kwargs={"base": 8}, head="classification", temperature=0.5
    )
    data = load_images("landscapes", 32).subset(range(40))
    return build_predictor(config.model).eval(), data, make_split(data.files, seed=0)


def test_a_sweep_scores_each_temperature_and_restores_the_models_own(classifier_and_data):
    model, data, split = classifier_and_data
    sweep = temperature_sweep(model, data, split, [1.0, 0.2])
    assert list(sweep["temperature"]) == [1.0, 0.2]
    assert model.temperature == 0.5
    model.temperature = 1.0
    at_one = evaluate(model, data, split, "val").summary["mean"]
    model.temperature = 0.5
    for metric in ("delta_e2000", "colorfulness_pred", "psnr_ab"):
        assert sweep.loc[0, metric] == pytest.approx(at_one[metric], rel=1e-9)
    # sharper decoding is more colourful than the mean of the same distribution
    assert sweep.loc[1, "colorfulness_pred"] > sweep.loc[0, "colorfulness_pred"]


def test_a_sweep_needs_a_classification_model(classifier_and_data):
    _, data, split = classifier_and_data
    with pytest.raises(TypeError, match="needs a classification model"):
        temperature_sweep(torch.nn.Identity(), data, split)


def test_the_most_accurate_vivid_enough_temperature_is_chosen():
    sweep = pd.DataFrame(
        {
            "temperature": [1.0, 0.5, 0.38, 0.2],
            "colorfulness_pred": [20.0, 33.0, 37.0, 40.0],
            "colorfulness_true": [37.0] * 4,
            "delta_e2000": [8.0, 9.0, 9.5, 9.2],
        }
    )
    assert choose_temperature(sweep) == 0.2  # 33 is 10.8% below 37, 40 is 8.1% above
    assert choose_temperature(sweep, tolerance=0.05) == 0.38  # 40 is now too garish
    assert choose_temperature(sweep.iloc[:1]) == 1.0  # none vivid enough: the closest


def test_the_tradeoff_figure_shows_the_sweep_the_points_and_the_truth(classifier_and_data):
    model, data, split = classifier_and_data
    sweep = temperature_sweep(model, data, split, [1.0, 0.3])
    points = tradeoff_points(evaluate_baselines(data, split, "val"))
    assert list(points["predictor"]) == ["gray", "mean_ab", "mean_ab_map"]
    fig = plots.plot_tradeoff(sweep, points, sweep["colorfulness_true"].iloc[0], title="t")
    ax = fig.axes[0]
    assert len(ax.lines) == 1 + len(points) + 1  # the sweep, one marker each, the truth line
    labels = [t.get_text() for t in ax.texts if t.get_text().startswith("T=")]
    assert labels[0] == "T=1" and set(labels) <= {"T=1", "T=0.3"}


def test_temperature_labels_that_would_overprint_are_left_out():
    sweep = pd.DataFrame({"temperature": [1.0, 0.5, 0.1], "colorfulness_pred": [0.0, 0.1, 10.0],
                          "delta_e2000": [5.0, 5.01, 8.0]})  # fmt: skip
    points = pd.DataFrame({"predictor": ["gray"], "colorfulness_pred": [0.0], "delta_e2000": [9]})
    fig = plots.plot_tradeoff(sweep, points, 12.0)
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("T=")]
    assert labels == ["T=1", "T=0.1"]  # T=0.5 would sit on T=1's label


def test_the_tradeoff_figure_rings_the_chosen_temperature(classifier_and_data):
    model, data, split = classifier_and_data
    sweep = temperature_sweep(model, data, split, [1.0, 0.3])
    points = tradeoff_points(evaluate_baselines(data, split, "val"))
    truth = sweep["colorfulness_true"].iloc[0]
    ax = plots.plot_tradeoff(sweep, points, truth, chosen=0.3).axes[0]
    ring = ax.lines[1]
    assert ring.get_label() == "T = 0.3, chosen on validation"
    at = sweep.set_index("temperature").loc[0.3]
    assert (ring.get_xdata()[0], ring.get_ydata()[0]) == (
        at["colorfulness_pred"],
        at["delta_e2000"],
    )
    with pytest.raises(ValueError, match="chosen temperature 0.5 is not in the sweep"):
        plots.plot_tradeoff(sweep, points, truth, chosen=0.5)


def test_a_run_decoded_at_t_scores_as_its_model_evaluated_directly_at_t(tmp_path):
    config = ExperimentConfig.from_params(
        name="cls", output_dir=str(tmp_path), dataset="landscapes", image_size=32, limit=40,
        epochs=1, batch_size=8, model="unet", model_kwargs={"base": 8}, head="classification",
        device="cpu",
    )  # fmt: skip
    result = run_experiment(config)
    rescored = decode_at(result, 0.2)
    model, data, split = result.fit.model, result.data, result.split
    model.temperature = 0.2  # what decode_at must amount to: the same model, decoded at 0.2
    for which, scored in (("val", rescored.validation), ("test", rescored.evaluation)):
        direct = evaluate(model, data, split, which, name="cls")
        pd.testing.assert_frame_equal(scored.per_image, direct.per_image, rtol=0, atol=0)
        pd.testing.assert_frame_equal(scored.summary, direct.summary, rtol=0, atol=0)
    metrics = json.loads((tmp_path / "cls" / "metrics.json").read_text())  # the test split's
    assert metrics["metrics"] == json.loads(json.dumps(direct.summary.to_dict(orient="index")))
    sweep = temperature_sweep(model, data, split, [0.2]).iloc[0]  # the row T is chosen from
    assert metrics["validation"]["mean"] == pytest.approx(sweep.drop("temperature").to_dict())


def test_the_papers_temperature_and_the_sweep_each_have_one_home():
    assert PAPER_TEMPERATURE in TEMPERATURES
    defaults = [
        inspect.signature(decode_annealed).parameters["temperature"].default,
        inspect.signature(BinClassifier).parameters["temperature"].default,
        inspect.signature(with_head).parameters["temperature"].default,
        ModelConfig().temperature,
    ]
    # the constant itself, not an equal literal of another module
    assert all(default is PAPER_TEMPERATURE for default in defaults), defaults
    # profiles give the notebook no copy of the sweep: None (TEMPERATURES) or a few of them
    for profile in PROFILES.values():
        given = profile["vivid_colour"]["TEMPERATURES"]
        assert given is None or set(given) < set(TEMPERATURES), given


def test_a_sweep_of_none_scores_the_temperatures_of_the_suite(classifier_and_data, monkeypatch):
    model, data, split = classifier_and_data
    monkeypatch.setattr(temperature, "TEMPERATURES", (1.0, 0.3))  # read when called
    assert list(temperature_sweep(model, data, split, None)["temperature"]) == [1.0, 0.3]
