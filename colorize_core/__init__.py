"""colorize: experiments in automatic colourisation of grayscale photos (predict Lab ab from L).

The package follows the data through eight stages, one subpackage each. A module imports only
from its own stage and the stages above it in this list (``tests/test_layout.py`` checks it):

    data        colour conversion, ab bins, image decoding, data sets, the Lab cache, the split,
                augmentation, errors worded in one line
    models      architectures by name, prediction heads, the ensemble module, the Lab-units
                wrapper
    training    typed config, the training loop, devices, torchrun, checkpoints, loading a trained
                model (run folder, checkpoint, model file, the shipped models), W&B, provenance
    evaluation  metrics (tested against scikit-image), bootstrap statistics, baselines, scoring
    runs        one run end to end: train, score, write results/<run>/ (notebooks, colorize-train)
    reporting   figures, comparison tables, profiles, the papermill suite and its index page
    apps        the colorize command, its web page and exports, the photo notebook
    bench       the speed benchmark (colorize-bench), a developer tool that times the stages above

Start with ``runs.experiment.run_experiment``, what every notebook calls, or with
``apps.batch.colorize`` to colourise photos (``apps.cli`` is the command). The lab book,
``docs/experiments.md``, says what was tried and why the profiles hold the values they do.
"""

__version__ = "0.1.0"
