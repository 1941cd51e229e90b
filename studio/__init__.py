"""Studio: a desktop application for making images with neural networks."""

__version__ = "0.1.0"
