"""Experiments behind the ``diffclust`` command line (private: no stable API).

- :mod:`diffclust.experiments.digits`: the paper's semi-supervised experiment on
  scikit-learn's digits (``diffclust learn``); needs torch and scikit-learn.
- :mod:`diffclust.experiments.evaluation`: its metrics (NumPy and scikit-learn only).
"""

from __future__ import annotations

__all__: list[str] = []
