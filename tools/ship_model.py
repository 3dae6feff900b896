"""Train (or take) a shipped model's run, score it on its test splits, and write it into the
package: ``colorize_core/training/shipped/<name>.safetensors`` and its model card ``<name>.md``.

    python tools/ship_model.py general                    # trains results/shipped/shipped-general
    python tools/ship_model.py general --full             # the same on a GPU, larger and longer
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

import pandas as pd

from colorize_core.data import atomic
from colorize_core.data.mixture import describe_sources, is_mixture
from colorize_core.data.split import Split
from colorize_core.evaluation.domains import (
    DOMAINS,
    EVERY_DOMAIN,
    SMALL_PHOTOS,
    domain_data,
    domain_grid,
    domain_table,
    score_domains,
)
from colorize_core.evaluation.evaluate import evaluate, evaluate_baselines
from colorize_core.evaluation.temperature import (
    choose_decoding,
    choose_small_photo_correction,
    decoding_summary,
    decoding_sweep,
    small_photo_sweep,
)
from colorize_core.models import parameter_count
from colorize_core.reporting.model_card import TestSplit, render_card
from colorize_core.runs.experiment import decode_at, load_data, run_experiment
from colorize_core.training import shipped
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.loading import load_model
from colorize_core.training.model_file import read_model_file, write_model_file
from colorize_core.training.provenance import describe_cpu

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_DIR = ROOT / "colorize_core" / "training" / "shipped"
TEST_SAMPLE = ROOT / "tests" / "integration" / "do_no_harm_sample.json"
SMALL_PHOTO_SWEEP = "small_photo_sweep.csv"
SPECIALISTS = ("faces", "scenes")
SUMMARIES = {  # the card's first line
    "general": "Everyday photos: people, animals, objects, rooms, streets and landscapes",
    "faces": "Portraits and faces in everyday photos",
    "scenes": "Outdoor scenes (landscapes: sky, water, grass, mountains, streets)",
}

# faces: in-the-wild faces, so the model meets varied light, pose and background; standard
# augmentation (faces in users' photos are not aligned); 64 px and 10 epochs fit about half an
# hour on 2 CPU cores in float32. Not tuned: one run, no variants.
FACES = dict(
    name="shipped-faces", dataset="faces_wild", image_size=64, model="unet", loss="l1",
    epochs=10, batch_size=32, lr=5e-4, weight_decay=1e-4, scheduler="cosine", seed=0,
)  # fmt: skip
# general: the vivid study's recipe (a classification U-Net, class-rebalanced by 0.75, flips
# only) on a mixture of everyday photos, in-the-wild faces and outdoor scenes, each source split
# on its own (data/mixture.py) and drawn in equal shares, so that neither faces nor scenes are
# drowned by the 7,700 training photos. landscapes keeps the scenes specialist's 1,500 images,
# so the two are compared on the same test split, which neither trained on. A cosine schedule
# over 8 epochs (98,000 images seen) at 64 px takes about an hour on 2 CPU cores with bfloat16.
GENERAL = dict(
    name="shipped-general", dataset="photos_wild+faces_wild+landscapes",
    limit={"landscapes": 1500}, weights="equal", image_size=64, model="unet",
    head="classification", rebalance=0.75, flip_only=True, epochs=8, batch_size=32, lr=5e-4,
    weight_decay=1e-4, scheduler="cosine", seed=0,
)  # fmt: skip
# --full, for a GPU: 128 px, twice the width, three times the epochs
FULL = {"name": "shipped-general-full", "image_size": 128, "model_kwargs": {"base": 64},
        "epochs": 30, "batch_size": 64}  # fmt: skip
RECIPES = {"general": GENERAL, "faces": FACES}
TEST_SPLITS = {  # (dataset, limit) scored at the run's own size, beside the gray baseline
    "general": [("photos_wild", None), ("faces_wild", None), ("faces", None), ("landscapes", 1500)],
    "faces": [("faces_wild", None), ("faces", None)],
    "scenes": [("landscapes", 1500)],
}
LIMITS = {
    "general": [
        "Trained on 128 px photos seen at 64 px: 7,700 everyday photos of 100 classes "
        "(imagenette, Caltech-101), 3,500 news photos of public figures (LFW) and 1,050 outdoor "
        "scenes. Content far from these (paintings, medical or satellite images, night scenes) "
        "gets muted or wrong colours.",
        "Everyday objects and animals (photos_wild) are its weakest domain (the table above "
        "compares it with leaving the photo gray): where the lightness does not tell an "
        "object's colour (cars, clothes, toys), its guess is often wrong, so its decoding "
        "keeps such colours muted. Faces and outdoor scenes are where it helps most.",
        "The faces are mostly adult, male and white (LFW): other skin tones are less reliable.",
        "Colour photos are used only for their lightness; the output is a guess, not a "
        "restoration of the true colours.",
    ],
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


def train(name: str, results: str, full: bool) -> Path:
    """Train (or resume) ``name``'s recipe; for ``general``, then choose its decoding on every
    domain's validation split, and how it decodes photos smaller than its training size on
    ``SMALL_PHOTOS``' validation split, and re-score the run decoded that way. Returns the run
    folder."""
    recipe = {**RECIPES[name], **(FULL if full else {})}
    result = run_experiment(ExperimentConfig.from_params(**recipe, output_dir=results), resume=True)
    if name == "general":
        size, seed = result.config.data.image_size, result.config.seed
        validation = {d.label: domain_data(d, size, seed) for d in DOMAINS}
        sweep = decoding_sweep(result.fit.model, validation)
        atomic.write_text(result.run_dir / "decoding_sweep.csv", sweep.to_csv(index=False))
        decoding = choose_decoding(sweep)
        small = domain_data(SMALL_PHOTOS, size, seed)
        small_sweep = small_photo_sweep(result.fit.model, decoding, size, small)
        atomic.write_text(result.run_dir / SMALL_PHOTO_SWEEP, small_sweep.to_csv(index=False))
        result = decode_at(
            result,
            *decoding,
            small_photo_below=size,
            small_photo_prior_correction=choose_small_photo_correction(small_sweep),
        )
    return result.run_dir


def decoding_section(run_dir: Path, config: ExperimentConfig) -> str:
    """The card's account of how the decoding was chosen, from the run's ``decoding_sweep.csv``."""
    table = decoding_summary(pd.read_csv(run_dir / "decoding_sweep.csv"))
    m = config.model
    return (
        "Chosen on the validation splits of photos_wild, faces_wild, faces and landscapes "
        "(`evaluation.temperature.choose_decoding`): the decoding whose worst domain's ΔE2000 "
        "difference from gray is lowest, among those at least 80% as colourful as the truth on "
        f"every domain (else 60%). Chosen: T = {m.temperature:g}, unsure_entropy = "
        f"{m.unsure_entropy}, prior_correction = {m.prior_correction:g}. Per decoding, the "
        "worst domain's ΔE2000 minus gray's "
        "and the least colourful domain's colourfulness over the truth's:\n\n"
        + table.round(3).to_markdown()
        + "\n\nPhotos smaller than the training size are never enlarged for the model, which "
        f"saw none so small: below {m.small_photo_below} px it decodes them with "
        f"{m.small_photo_prior_correction:g} of the rebalancing taken back, chosen on CIFAR-10's "
        "32 px validation split (`choose_small_photo_correction`): the most colourful correction "
        "better than gray beyond the paired CI. Per correction, ΔE2000 minus gray's [CI] and "
        "colourfulness over the truth's:\n\n"
        + pd.read_csv(run_dir / SMALL_PHOTO_SWEEP).round(3).to_markdown(index=False)
    )


def domains_section(model, config: ExperimentConfig) -> str:
    """The card's table of every domain: this model beside the specialists and gray."""
    predictors = {"this model": model}
    predictors |= {n: shipped.load_shipped(n)[0] for n in ("faces", "scenes") if n in SPECIALISTS}
    scored = score_domains(predictors, config.data.image_size, EVERY_DOMAIN, baselines=False)
    grid = domain_grid(domain_table(scored))
    return (
        f"Each domain's test split at {config.data.image_size} px ({SMALL_PHOTOS.dataset} at its "
        f"own {SMALL_PHOTOS.size} px): ΔE2000 [95% CI]; its paired "
        "difference from gray [CI] (negative: better); colourfulness as a share of the true "
        "images'.\n\n" + grid.to_markdown()
    )


def write_test_sample(config: ExperimentConfig, per_domain: int = 100) -> None:
    """The do-no-harm test's images: the first ``per_domain`` of each domain's test split, and
    the whole of ``SMALL_PHOTOS``' (1,479 thumbnails of 32 px cost what 370 photos of 64 px do;
    100 of them leave a paired CI too wide to tell -0.2 ΔE2000 from gray)."""
    sample = {}
    for domain in EVERY_DOMAIN:
        data, split = domain_data(domain, config.data.image_size, config.seed)
        sample[domain.label] = split.test if domain == SMALL_PHOTOS else split.test[:per_domain]
    atomic.write_text(TEST_SAMPLE, json.dumps(sample, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(set(RECIPES) | set(shipped.SHIPPED_NAMES)))
    parser.add_argument("--run", help="an existing run folder (default: train the recipe)")
    parser.add_argument("--results", default=str(ROOT / "results" / "shipped"))
    parser.add_argument("--full", action="store_true", help="general: the GPU recipe")
    parser.add_argument("--trained-by", help="with --run: the command that trained it")
    parser.add_argument("--commit", help="with --run: the commit it trained at, where its "
                        "metrics.json names a later one (re-evaluated)")  # fmt: skip
    args = parser.parse_args()

    if args.run:
        run_dir = Path(args.run)
        command = f"python tools/ship_model.py {args.name} --run {args.run}"
        if args.trained_by:
            command = f"{args.trained_by}`, then `{command}"
    elif args.name in RECIPES:
        run_dir = train(args.name, args.results, args.full)
        command = f"python tools/ship_model.py {args.name}" + (" --full" if args.full else "")
    else:
        parser.error(f"{args.name} has no recipe here; give the run that made it with --run")
    model, config = load_model(run_dir)
    facts = json.loads((run_dir / "metrics.json").read_text())
    origin = facts["provenance"]
    commit = args.commit or origin["commit"]
    path = SHIPPED_DIR / f"{args.name}.safetensors"
    notes = {"source_run": config.name, "commit": commit}
    digest = write_model_file(model, config, path, notes=notes)
    started = time.perf_counter()
    read_model_file(path, digest)
    load_seconds = time.perf_counter() - started
    sections = {}
    if args.name == "general":
        sections = {
            "Every domain": domains_section(model, config),
            "Decoding": decoding_section(run_dir, config),
        }
        write_test_sample(config)
    split = Split.load(run_dir / "split.json")
    mixture = is_mixture(config.data.dataset)
    card = render_card(
        name=args.name,
        summary=SUMMARIES[args.name],
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
        sources=describe_sources(split, config.data.weights) if mixture else (),
        sections=sections,
    )
    atomic.write_text(path.with_suffix(".md"), card)
    size = path.stat().st_size / 1e6
    print(f'{args.name}: {path} {size:.2f} MB, loads in {load_seconds:.2f} s, sha256="{digest}"')


if __name__ == "__main__":
    main()
