"""Stage 4, evaluation: metrics, bootstrap statistics, trivial baselines, and scoring a model on
one split (``evaluate``), including the choice of a classification head's temperature."""
