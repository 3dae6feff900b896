"""colorize: experiments in automatic colourisation of grayscale photos (predict Lab ab from L)."""

__version__ = "0.1.0"
