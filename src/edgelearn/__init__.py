"""edgelearn: a local-first learning loop for coding agents."""

__version__ = "0.1.0"
