"""Train (or take) a shipped model's run, score it on its test splits, and write it into the
package: ``colorize_core/training/shipped/<name>.safetensors`` and its model card ``<name>.md``.

    python tools/ship_model.py faces                      # trains results/shipped/shipped-faces
    python tools/ship_model.py scenes --run results/cpu/vivid-landscapes-classification

It prints the file's SHA-256 for ``colorize_core/training/shipped.py`` and how long loading takes.
Training resumes where it stopped; a finished run is only re-evaluated.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from colorize_core.data import atomic
from colorize_core.evaluation.evaluate import evaluate, evaluate_baselines
from colorize_core.models import parameter_count
from colorize_core.reporting.model_card import TestSplit, render_card
from colorize_core.runs.experiment import load_data, run_experiment
from colorize_core.training import shipped
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.loading import load_model
from colorize_core.training.model_file import read_model_file, write_model_file
from colorize_core.training.provenance import describe_cpu

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_DIR = ROOT / "colorize_core" / "training" / "shipped"

# faces: in-the-wild faces, so the model meets varied light, pose and background; standard
# augmentation (faces in users' photos are not aligned); 64 px and 10 epochs fit about half an
# hour on 2 CPU cores in float32. Not tuned: one run, no variants.
FACES = dict(
    name="shipped-faces", dataset="faces_wild", image_size=64, model="unet", loss="l1",
    epochs=10, batch_size=32, lr=5e-4, weight_decay=1e-4, scheduler="cosine", seed=0,
)  # fmt: skip
TEST_SPLITS = {  # (dataset, limit) scored at the run's own size, beside the gray baseline
    "faces": [("faces_wild", None), ("faces", None)],
    "scenes": [("landscapes", 1500)],
}
LIMITS = {
    "faces": [
        "Trained on news photos of adults, mostly male and white public figures of the early "
        "2000s (LFW): children, elderly people and darker skin tones are under-represented, "
        "and its colours for them are less reliable.",
        "Faces roughly centred and upright, 128 px crops seen at 64 px: it colours skin, hair "
        "and lips; clothes and backgrounds get plausible but often muted or wrong colours.",
        "Colour photos are used only for their lightness; the output is a guess, not a "
        "restoration of the true colours.",
    ],
    "scenes": [
        "Trained on 1,500 Intel scene images (buildings, forest, glacier, mountain, sea, street) "
        "at 64 px: indoor scenes, people and objects get plausible but often wrong colours.",
        "Vivid on purpose (a classification head decoded at a low temperature): expect "
        "saturated skies and grass, and occasional colour bleeding at edges.",
        "Colour photos are used only for their lightness; the output is a guess.",
    ],
}


def test_splits(model, config: ExperimentConfig, which: list) -> list[TestSplit]:
    splits = []
    for dataset, limit in which:
        data, split = load_data(config.with_params(dataset=dataset, limit=limit))
        scored = evaluate(model, data, split, "test", name=config.name)
        gray = next(b for b in evaluate_baselines(data, split) if b.predictor == "gray")
        label = f"{dataset} test split, {config.data.image_size} px ({len(split.test)} images)"
        splits.append(TestSplit(label, scored, gray))
    return splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=shipped.SHIPPED_NAMES)
    parser.add_argument("--run", help="an existing run folder (default: train the recipe)")
    parser.add_argument("--results", default=str(ROOT / "results" / "shipped"))
    parser.add_argument("--trained-by", help="with --run: the command that trained it")
    parser.add_argument("--commit", help="with --run: the commit it trained at, where its "
                        "metrics.json names a later one (re-evaluated)")  # fmt: skip
    args = parser.parse_args()

    if args.run:
        run_dir = Path(args.run)
        command = f"python tools/ship_model.py {args.name} --run {args.run}"
        if args.trained_by:
            command = f"{args.trained_by}`, then `{command}"
    else:
        config = ExperimentConfig.from_params(**FACES, output_dir=args.results)
        run_dir = run_experiment(config, resume=True).config.run_dir
        command = f"python tools/ship_model.py {args.name}"
    model, config = load_model(run_dir)
    facts = json.loads((run_dir / "metrics.json").read_text())
    origin = facts["provenance"]
    commit = args.commit or origin["commit"]
    path = SHIPPED_DIR / shipped.SHIPPED[args.name].file
    notes = {"source_run": config.name, "commit": commit}
    digest = write_model_file(model, config, path, notes=notes)
    started = time.perf_counter()
    read_model_file(path, digest)
    load_seconds = time.perf_counter() - started
    card = render_card(
        name=args.name,
        summary=shipped.SHIPPED[args.name].summary.capitalize(),
        config=config,
        parameters=parameter_count(model),
        file_bytes=path.stat().st_size,
        sha256=digest,
        command=command,
        commit=commit,
        machine=f"{describe_cpu(origin) or 'an unrecorded CPU'}, {origin['cpu_threads']} threads",
        train_seconds=facts["train_seconds"],
        epochs=f"{facts['epochs']} epochs, weights of epoch {facts['best_epoch']}",
        splits=test_splits(model, config, TEST_SPLITS[args.name]),
        limits=LIMITS[args.name],
    )
    atomic.write_text(path.with_suffix(".md"), card)
    size = path.stat().st_size / 1e6
    print(f'{args.name}: {path} {size:.2f} MB, loads in {load_seconds:.2f} s, sha256="{digest}"')


if __name__ == "__main__":
    main()
