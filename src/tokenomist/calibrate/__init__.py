"""Calibration: fit the cost model's efficiency priors to measured runs."""

from tokenomist.calibrate.fit import (
    BOUNDS,
    DEFAULT_PARAMS,
    FitResult,
    Observation,
    fit_efficiency,
    predict_throughput,
)

__all__ = [
    "BOUNDS",
    "DEFAULT_PARAMS",
    "FitResult",
    "Observation",
    "fit_efficiency",
    "predict_throughput",
]
