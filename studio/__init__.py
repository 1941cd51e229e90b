"""Studio: a desktop application for making images with neural networks."""

import os

# With this set, PyTorch backs each CPU tensor of 2 MB or more with transparent huge pages (on Linux): the
# activations a network allocates and frees every step then take a 512th of the page faults, which made a
# 512 px optimise run 7% faster and a 4096 px render a quarter (README, Measurements). PyTorch reads it at its
# first large allocation, so it is set when Studio is imported; a value already set is kept.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

__version__ = "0.2.0"
