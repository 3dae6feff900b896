"""Stage 3, training: the typed config, the loop (``fit``), devices and torchrun, checkpoints,
and loading a trained model for any later stage (``loading``, ``model_file``, ``shipped``)."""
