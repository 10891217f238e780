"""diffclust: compiled kernels for differentiable clustering and clustering losses.

The core is the (perturbed) maximum-weight spanning forest of Stewart, Bach,
Llinares-López and Berthet, "Differentiable Clustering with Perturbed Spanning
Forests" (NeurIPS 2023).
"""

from __future__ import annotations

from .forests import Forest, kforest, kforest_from_edges, kforest_from_points

__version__ = "0.1.0"

__all__ = [
    "Forest",
    "kforest",
    "kforest_from_edges",
    "kforest_from_points",
]
