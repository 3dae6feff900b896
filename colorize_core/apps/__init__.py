"""Stage 7, apps: what people run on their own photos (``colorize``, ``colorize serve``,
``colorize export``) and the photo notebook's helpers.

A module imports only modules listed after it: ``cli`` (the commands: parsing, the checks on
what the user typed, dispatch); ``photo_notebook``; ``serve`` and ``export`` (the web page, model
files and ONNX); ``batch`` (many files: inputs, output paths, saving); ``sources`` (which model,
from where); ``photo`` (one photo in, one photo out); ``tiles`` (a model input in bounded
memory)."""
