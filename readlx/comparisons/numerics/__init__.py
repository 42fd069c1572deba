"""Why runtimes disagree: golden divergence against float64, ULP distances, the per-layer
explanation of published results, masking evidence from the weights, and convolution accuracy."""
from __future__ import annotations
