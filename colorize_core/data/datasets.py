"""The data set registry: which data sets there are, and where to find or fetch each one.

Each registered data set is a public GitHub archive (a zip of one commit) plus a manifest shipped
with the package (``manifest``) that lists exactly the files we use, their hashes and their paths
inside the archive. A download (``download``) extracts only those members and checks every hash,
so a data set on disk either matches the one the results were made with or is rejected. A data set
whose files are derived from the archive's (``faces_wild``: cropped, resized and re-encoded LFW
photos, ``lfw``) names its ``Processing``, applied to each member before the same check. A data
set made from several archives (``photos_wild``: imagenette and Caltech-101 photos, centre squares
re-encoded by ``centre_square``) names each archive, and its manifest says which holds each file.

``resolve_dataset`` finds a data set without surprises: an explicit path, then ``$COLORIZE_DATA``,
then ``data/<name>`` under ``default_data_dir()``, then (if allowed) a download, and it logs which
one it used. ``folder:PATH`` names any folder of images instead of a registered data set.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path

from colorize_core.data.centre_square import process_centre_square
from colorize_core.data.download import check_dataset, fetch_dataset
from colorize_core.data.images import display_name, name_bytes
from colorize_core.data.lfw import process_lfw
from colorize_core.data.paths import shown_path
from colorize_core.data.spec import DatasetError, DatasetSpec, Processing

log = logging.getLogger(__name__)

FOLDER_PREFIX = "folder:"


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="faces",
            url="https://github.com/2014mchidamb/DeepColorization/archive/"
            "cc2638e12b34a9c5f41fd84d97d05dc21289d597.zip",
            description="750 RGB face photos, 128x128 JPEG (the reference study's face set).",
            citation="2014mchidamb/DeepColorization face_images/, MIT License, "
            "(c) 2016 Muthu Chidambaram.",
            image_size=128,
            manifest="faces.csv.gz",
        ),
        DatasetSpec(
            name="landscapes",
            url="https://github.com/afroozsheikh/Intel-Image-Classifier/archive/"
            "5b571f44a7fdd66301f05b6921c07ee71b9e324c.zip",
            description="6000 outdoor scenes, 150x150 JPEG, 1000 in each of 6 classes "
            "(Intel Image Classification).",
            citation="Intel Image Classification (Analytics Vidhya; Kaggle "
            "puneet6060/intel-image-classification) via afroozsheikh/Intel-Image-Classifier; "
            "no licence file, research use only.",
            image_size=128,  # the files are 150x150; experiments resize
            manifest="landscapes.csv.gz",
        ),
        DatasetSpec(
            name="cifar10",
            url="https://github.com/cyizhuo/CIFAR-10-dataset/archive/"
            "a828d74fc38cd82a82ecfdeca6522873baf96efa.zip",
            description="CIFAR-10 test set: 10000 RGB images, 32x32 PNG, 1000 in each of 10 "
            "classes.",
            citation="A. Krizhevsky, 'Learning Multiple Layers of Features from Tiny Images', "
            "2009; via cyizhuo/CIFAR-10-dataset; no formal licence, free for research.",
            image_size=32,
            manifest="cifar10.csv.gz",
        ),
        DatasetSpec(
            name="faces_wild",
            url="https://github.com/braun-steven/dfi-tensorflow/archive/"
            "0a86d9a0c4e0c208f03766075a0fbaead1374e3e.zip",
            description="5000 in-the-wild face photos of 3969 public figures (at most 2 each), "
            "128x128 JPEG: the centre 160 px of Labeled Faces in the Wild (deep-funneled) photos, "
            "resized; grayscale, warped-border and near-duplicate photos dropped.",
            citation="Labeled Faces in the Wild, deep-funneled (G. B. Huang et al., University of "
            "Massachusetts, Amherst) via braun-steven/dfi-tensorflow data/lfw-deepfunneled/; no "
            "formal licence, research use only; news photos of real public figures, owned by "
            "their authors.",
            image_size=128,
            manifest="faces_wild.csv.gz",
            processing=Processing(apply=process_lfw, made_with="Pillow 13.0.0"),
        ),
        DatasetSpec(
            name="photos_wild",
            url={  # the manifest's ``archive`` column names which one holds each file
                "imagenette": "https://github.com/thunderInfy/imagenette/archive/"
                "b850f030ff0701c36a4adc8b928ea9483a46915b.zip",
                "caltech101": "https://github.com/MachineLearning2020/Homework2-Caltech101/"
                "archive/836044dd000296b2bb74d0aa4b4e462e459b01d7.zip",
            },
            description="11021 everyday photos (animals, people, vehicles, buildings, objects, "
            "scenes) in 100 classes, 128x128 JPEG: the centre square of 7085 imagenette "
            "(ImageNet) and 3936 Caltech-101 photos, resized; grayscale, near-monochrome and "
            "near-duplicate photos and mostly-drawing classes dropped.",
            citation="imagenette (ImageNet photos) via thunderInfy/imagenette: ImageNet terms of "
            "access, non-commercial research and educational use only, photos owned by their "
            "authors. Caltech-101 via MachineLearning2020/Homework2-Caltech101: CC BY 4.0, "
            "attribution: Fei-Fei Li, Marco Andreetto, Marc'Aurelio Ranzato, Pietro Perona, "
            "Caltech 101, CaltechDATA, doi 10.22002/D1.20086; changed: centre square crop, "
            "resized to 128x128, re-encoded as JPEG, selected.",
            image_size=128,
            manifest="photos_wild.csv.gz",
            # The manifest's hashes were made with Pillow 13.0.0 (libjpeg-turbo 3.2.0).
            processing=Processing(apply=process_centre_square, made_with="Pillow 13.0.0"),
        ),
    )
}


def get_spec(name: str | DatasetSpec) -> DatasetSpec:
    """The registered spec called ``name`` (a spec passes through unchanged)."""
    if isinstance(name, DatasetSpec):
        return name
    if name not in DATASETS:
        raise DatasetError(
            f"unknown data set {name!r}; valid names: {', '.join(DATASETS)}, "
            f"or '{FOLDER_PREFIX}PATH' for any folder of images"
        )
    return DATASETS[name]


def file_stem(name: str) -> str:
    """A data set name as part of a file name: only ``[A-Za-z0-9._-]``, no path separators.

    Registered names pass through. ``folder:PATH`` becomes ``folder-<base name>-<8 hex digits of
    sha256(PATH)>``: readable, and two folders with the same base name never share a file.

    >>> file_stem("folder:/home/me/photos")
    'folder-photos-46033733'
    """
    if not name.startswith(FOLDER_PREFIX):
        return _slug(name)
    path = name.removeprefix(FOLDER_PREFIX)
    digest = hashlib.sha256(name_bytes(path)).hexdigest()[:8]  # a name's bytes, valid or not
    return "-".join(part for part in ("folder", _slug(Path(path).name), digest) if part)


def _slug(text: str) -> str:
    """``text`` in ``[A-Za-z0-9._-]``: accents dropped (é -> e), any other run of characters -."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_text).strip("-.")


def default_data_dir() -> Path:
    """``$COLORIZE_HOME/data``; else the source checkout's ``data/``; else ``./data``."""
    if home := os.environ.get("COLORIZE_HOME"):
        return Path(home).expanduser() / "data"
    return (_checkout() or Path.cwd()) / "data"


def _checkout() -> Path | None:
    """The source checkout's root (the folder holding pyproject.toml above the package, for an
    editable install), or None for an installed package."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def colorize_data() -> Path | None:
    """``$COLORIZE_DATA`` as a folder, None when it is unset.

    A relative value is looked up from the current folder, then from the source checkout's root:
    a notebook runs in ``notebooks/`` (JupyterLab, ``papermill --cwd notebooks``) while the
    README's example, ``../shared/datasets``, is relative to the root. A value that is a folder
    in neither place is a ``DatasetError`` naming each place tried.
    """
    if not (value := os.environ.get("COLORIZE_DATA")):
        return None
    given = Path(value).expanduser()
    places = {"": given} if given.is_absolute() else {"the current folder": Path.cwd()}
    if not given.is_absolute() and (root := _checkout()) is not None:
        places["the repository root"] = root
    tried = {label: Path(os.path.abspath(base / given)) for label, base in places.items()}
    for folder in tried.values():
        if folder.is_dir():
            return folder
    where = " and ".join(f"{folder} (from {label})" for label, folder in tried.items() if label)
    raise DatasetError(
        f"COLORIZE_DATA={value} is not a folder"
        + (f": tried {where}" if where else "")
        + "; fix or unset it"
    )


def _images(root: Path, name: str, source: str) -> Path:
    """The image folder of a data set root (``root/images`` if there is one), logged."""
    folder = root / "images" if (root / "images").is_dir() else root
    log.info("data set %r: using %s (%s)", name, shown_path(folder), source)
    return folder


def resolve_dataset(
    name: str, path: str | os.PathLike | None = None, *, download: bool = True
) -> Path:
    """The folder whose image files (searched recursively) make up data set ``name``.

    ``folder:PATH`` returns PATH. A registered name is looked for, in order: at ``path`` (a data set
    root holding ``images/``, or a folder of images); at ``$COLORIZE_DATA/<name>``; at
    ``default_data_dir()/<name>``; and last, if ``download``, fetched there. A location the user
    named explicitly (``path``, or ``COLORIZE_DATA`` itself) that does not exist is an error rather
    than skipped, since falling through would hide a typo. ``COLORIZE_DATA`` lacking ``<name>/``
    falls through, so one folder can hold some data sets while others come from elsewhere. A
    relative ``COLORIZE_DATA`` is looked up as ``colorize_data`` says.
    """
    if name.startswith(FOLDER_PREFIX):
        folder = Path(name.removeprefix(FOLDER_PREFIX)).expanduser()
        if not folder.is_dir():
            shown = display_name(folder)
            raise DatasetError(f"{name!r}: {shown} does not exist or is not a folder")
        log.info("data set %r: using %s", name, shown_path(folder))
        return folder
    spec = get_spec(name)
    if path is not None:
        if not Path(path).expanduser().is_dir():
            raise DatasetError(
                f"data set {name!r}: the path given, {path}, is not a folder; pass a data set "
                "root holding images/, or a folder of images"
            )
        return _images(Path(path).expanduser(), name, "explicit path")

    tried = []
    if (shared := colorize_data()) is not None:
        if (root := shared / name).is_dir():
            return _images(root, name, "COLORIZE_DATA")
        tried.append(f"$COLORIZE_DATA/{name}: {root} does not exist")
    else:
        tried.append("$COLORIZE_DATA: not set")
    if (local := default_data_dir() / name).is_dir():
        return _images(local, name, "default data folder")
    tried.append(f"default data folder: {local} does not exist")

    if not download:
        tried.append("download: not allowed (download=False)")
    else:
        try:
            return _images(download_dataset(spec, local), name, f"downloaded from {spec.shown_url}")
        except DatasetError as err:
            tried.append(f"download: {err}")
    steps = "".join(f"\n  {i}. {step}" for i, step in enumerate(tried, 1))
    raise DatasetError(
        f"data set {name!r} not found. Tried, in order:{steps}\nFix: pass path=<folder holding "
        f"{name}>, set COLORIZE_DATA to a folder that holds {name}/, or connect to the internet "
        f"and allow the download from {spec.shown_url}"
    )


def download_dataset(
    name: str | DatasetSpec,
    dest: Path | None = None,
    *,
    url: str | Mapping[str, str] | None = None,
) -> Path:
    """Download a data set's archive(s), extract its manifest's files to ``dest`` and verify them.

    ``dest`` defaults to ``default_data_dir()/<name>`` and must not exist yet; ``url`` overrides the
    spec's (a mapping of archive names to URLs for a data set of several archives). A spec's
    ``processing`` makes each file from its member before the hash check. The work happens in a
    hidden sibling folder renamed to ``dest`` only once every file is present and hashed, so an
    interrupted download never looks like a data set. Returns ``dest``, which also
    gets a ``SHA256SUMS`` in ``sha256sum`` format, like the shared copies.
    """
    spec = get_spec(name)
    dest = Path(dest) if dest is not None else default_data_dir() / spec.name
    return fetch_dataset(spec, dest, url or spec.url)


def verify_dataset(root: Path, name: str | DatasetSpec) -> None:
    """Check that every file in the manifest is under ``root`` (a data set root) with its sha256.

    Raises DatasetError naming the first few missing or altered files. Extra files are allowed.
    """
    check_dataset(Path(root), get_spec(name))
