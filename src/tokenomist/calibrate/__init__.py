"""Calibration: fit the cost model's efficiency priors to measured runs."""

from tokenomist.calibrate.calibrate import CALIBRATION_PARAMS, Calibration, calibrate
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
    "CALIBRATION_PARAMS",
    "DEFAULT_PARAMS",
    "Calibration",
    "FitResult",
    "Observation",
    "calibrate",
    "fit_efficiency",
    "predict_throughput",
]
