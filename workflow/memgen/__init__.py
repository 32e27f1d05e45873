"""memgen: measure when a diffusion model copies its training data and when it generalizes."""

__version__ = "0.1.0"
