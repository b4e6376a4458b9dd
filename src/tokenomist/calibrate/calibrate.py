"""Calibrate an engine profile on measured runs and report its error honestly.

The fit adjusts a few interpretable knobs of the cost model (see ``fit``). Its error is
reported twice: in sample (on the runs it was fitted to) and cross-validated (each file
predicted by a fit on the other files; with a single file, 4-fold over its points). The
cross-validated residuals set the width of the prediction intervals that estimates made
with the profile carry.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tokenomist.calibrate.fit import FitResult, Observation, fit_efficiency, mape, predict
from tokenomist.deploy.engine import CalibrationInfo, EngineProfile
from tokenomist.errors import InvalidValueError

CALIBRATION_PARAMS = ("flops", "bandwidth", "step_overhead_s", "comm_latency_s")


@dataclass
class Calibration:
    profile: EngineProfile
    fit: FitResult
    cv_errors: NDArray[np.float64] | None
    cv_scheme: str

    @property
    def cv_mape(self) -> float | None:
        return None if self.cv_errors is None else mape(self.cv_errors)


def _folds(observations: Sequence[Observation]) -> tuple[list[NDArray[np.int64]], str]:
    sources = sorted({ob.point.source for ob in observations})
    idx = np.arange(len(observations))
    if len(sources) >= 2:
        return [idx[[ob.point.source == s for ob in observations]] for s in sources], \
            "leave one file out"
    k = min(4, len(observations))
    if k < 2:
        return [], ""
    return [idx[i::k] for i in range(k)], f"{k}-fold over points"


def calibrate(observations: Sequence[Observation], *, params: Sequence[str] | None = None,
              base: EngineProfile | None = None, profile_id: str | None = None,
              cross_validate: bool = True) -> Calibration:
    if not observations:
        raise InvalidValueError("no measured points to calibrate on")
    d0 = observations[0].deployment
    base = base or d0.engine
    names = tuple(params or CALIBRATION_PARAMS)
    if d0.tp * d0.pp == 1 and "comm_latency_s" in names:
        names = tuple(n for n in names if n != "comm_latency_s")  # no collectives to fit
    if not names:
        raise InvalidValueError(
            "nothing to fit: the knobs asked for do not apply to this deployment (the "
            "collective latency needs TP or PP > 1); fittable: "
            + ", ".join(n for n in CALIBRATION_PARAMS if n != "comm_latency_s"))
    fit = fit_efficiency(observations, names, base.efficiency)
    cv_errors = None
    scheme = ""
    if cross_validate:
        folds, scheme = _folds(observations)
        if folds:
            cv_errors = np.empty(len(observations))
            for test in folds:
                held_out = set(test.tolist())
                train = [ob for k, ob in enumerate(observations) if k not in held_out]
                f = fit_efficiency(train, names, base.efficiency)
                pred, _ = predict([observations[k] for k in test], f.efficiency)
                meas = np.array([observations[k].point.output_tokens_per_s for k in test])
                cv_errors[test] = pred / meas - 1.0
    resid = np.log1p(cv_errors) if cv_errors is not None else np.log1p(fit.errors)
    sd = float(np.sqrt(np.mean(resid**2)))
    info = CalibrationInfo(
        model=d0.model.name, hardware=d0.hardware.id, tp=d0.tp, pp=d0.pp,
        files=sorted({ob.point.source for ob in observations}), points=len(observations),
        params=fit.values, stderr=fit.stderr, in_sample_mape=fit.mape,
        cv_mape=None if cv_errors is None else mape(cv_errors),
        cv_scheme=scheme, residual_log_sd=sd, date=_dt.date.today().isoformat())
    profile = base.model_copy(update={
        "id": profile_id or f"{base.id}-calibrated", "efficiency": fit.efficiency,
        "calibration": info,
        "fitted_on": info.files,
        "notes": f"calibrated by tokenomist on {len(observations)} points of "
                 f"{d0.model.name} on {d0.num_gpus} x {d0.hardware.id}; fitted "
                 f"{', '.join(names)}"})
    return Calibration(profile=profile, fit=fit, cv_errors=cv_errors, cv_scheme=scheme)
