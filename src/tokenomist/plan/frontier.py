"""The throughput-interactivity Pareto frontier.

A configuration is on the frontier when no other one gives both more output tokens per
second per GPU (cheap tokens) and more tokens per second per user (fast tokens). Sorted
by interactivity, the frontier's throughput therefore falls monotonically.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def pareto_front(x: ArrayLike, y: ArrayLike) -> NDArray[np.int64]:
    """Indices of the points not dominated in (maximize x, maximize y), ordered by
    increasing x (so decreasing y). Ties keep the first point."""
    xs = np.asarray(x, float)
    ys = np.asarray(y, float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError("x and y must be 1-D arrays of the same length")
    ok = np.isfinite(xs) & np.isfinite(ys)
    idx = np.nonzero(ok)[0]
    if idx.size == 0:
        return idx.astype(np.int64)
    # sweep from the fastest per user down: keep a point if it beats every faster one
    order = idx[np.lexsort((-ys[idx], -xs[idx]))]
    y_sorted = ys[order]
    best_before = np.maximum.accumulate(np.concatenate([[-np.inf], y_sorted[:-1]]))
    keep = order[y_sorted > best_before]
    return keep[::-1].astype(np.int64)
