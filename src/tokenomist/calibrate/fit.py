"""Fit the efficiency priors of the per-step cost model to measured runs.

The fitted quantities are the interpretable knobs of :class:`EfficiencyPriors` (achieved
fraction of peak FLOPs and bandwidth, overheads, collective latency). The objective is
the log-ratio of predicted to measured output throughput (a relative error), minimised
by SciPy's bounded least squares with a robust ``soft_l1`` loss so that one stalled run
cannot drag the fit. Predictions come from the closed-form burst estimator, the same
cost model the simulator, the planner and ``estimate`` use.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tokenomist.bench.records import MeasuredPoint
from tokenomist.deploy.deployment import Deployment
from tokenomist.deploy.engine import EfficiencyPriors
from tokenomist.errors import InvalidValueError
from tokenomist.perf.burst import BurstEstimator
from tokenomist.perf.step_cost import CostModel

# Physically plausible ranges of the fitted knobs.
BOUNDS: dict[str, tuple[float, float]] = {
    "flops": (0.2, 0.8),
    "gemm_half_tokens": (0.0, 1024.0),
    "bandwidth": (0.3, 0.95),
    "attention_flops": (0.1, 0.9),
    "attention_bandwidth": (0.05, 0.95),
    "attention_items_half": (0.0, 4096.0),
    "attention_page_half_bytes": (0.0, 262144.0),
    "step_overhead_s": (0.0, 0.05),
    "seq_overhead_s": (0.0, 5e-4),
    "eager_layer_overhead_s": (0.0, 5e-4),
    "comm_latency_s": (0.0, 2e-4),
    "comm_bandwidth": (0.1, 0.95),
}

# Prior on each knob: a Gaussian centred on the engine profile's value whose standard
# deviation is this share of the knob's plausible range, against data whose typical
# relative error (the model's own, not only the measurement's) is MODEL_ERROR.
PRIOR_WIDTH = 0.25
MODEL_ERROR = 0.03

DEFAULT_PARAMS = ("flops", "bandwidth", "attention_bandwidth", "step_overhead_s",
                  "seq_overhead_s", "comm_latency_s")


@dataclass(frozen=True)
class Observation:
    """A measured point and the deployment it was measured on."""

    deployment: Deployment
    point: MeasuredPoint


@dataclass
class FitResult:
    efficiency: EfficiencyPriors
    params: tuple[str, ...]
    values: dict[str, float]
    stderr: dict[str, float]
    predicted_tps: NDArray[np.float64]
    measured_tps: NDArray[np.float64]
    success: bool
    message: str
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def errors(self) -> NDArray[np.float64]:
        """Relative errors (predicted / measured - 1) per observation."""
        return self.predicted_tps / self.measured_tps - 1.0

    @property
    def mape(self) -> float:
        return mape(self.errors)


def mape(errors: Sequence[float] | NDArray[np.float64]) -> float:
    """Mean absolute percentage error of relative errors (predicted / measured - 1)."""
    return float(np.mean(np.abs(np.asarray(errors, dtype=float))))


def predict_throughput(observations: Sequence[Observation],
                       efficiency: EfficiencyPriors | None = None) -> NDArray[np.float64]:
    """Predicted output tokens/s of each observation (bursts through the closed form)."""
    return predict(observations, efficiency)[0]


def comparison_rows(observations: Sequence[Observation]) -> list[dict[str, Any]]:
    """Model vs measurement, one row per observation: the measured point, the predicted
    output tokens/s and the relative error."""
    rows: list[dict[str, Any]] = []
    for ob, p in zip(observations, predict_throughput(observations), strict=True):
        m = ob.point
        rows.append({"source": m.source, "load": m.load, "batch_size": m.batch_size,
                     "concurrency": m.concurrency, "request_rate": m.request_rate,
                     "input_tokens": m.input_tokens, "output_tokens": m.output_tokens,
                     "measured_output_tokens_per_s": m.output_tokens_per_s,
                     "predicted_output_tokens_per_s": float(p),
                     "error": float(p / m.output_tokens_per_s - 1)})
    return rows


def predict(observations: Sequence[Observation], efficiency: EfficiencyPriors | None = None
            ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Predicted (output tokens/s, mean per-request tokens/s) of each observation.

    Bursts and closed loops go through the closed-form estimator (a closed loop of C is a
    burst of N requests admitted at most C at a time); open loops through the simulator.
    """
    out = np.empty(len(observations))
    per_req = np.empty(len(observations))
    groups: dict[tuple[int, int, int, int], list[int]] = defaultdict(list)
    deps: dict[int, Deployment] = {}
    for k, ob in enumerate(observations):
        p = ob.point
        deps[id(ob.deployment)] = ob.deployment
        if p.load == "open":
            out[k], per_req[k] = _predict_open(ob, efficiency)
            continue
        cap = p.concurrency if p.load == "closed" and p.concurrency else 0
        groups[(id(ob.deployment), cap, p.input_tokens, p.max_output_tokens)].append(k)
    estimators: dict[tuple[int, int], BurstEstimator] = {}
    for (dep_id, cap, i_tok, o_tok), idx in groups.items():
        key = (dep_id, cap)
        if key not in estimators:
            d = deps[dep_id]
            if cap:
                d = _limit_concurrency(d, cap)
            estimators[key] = BurstEstimator(d, CostModel(d, efficiency)
                                             if efficiency is not None else None)
        est = estimators[key]
        sizes = [observations[k].point.num_requests or observations[k].point.batch_size
                 for k in idx]
        pts = est.estimate(sizes, i_tok, o_tok)
        for k, n, pt in zip(idx, sizes, pts, strict=True):
            ob = observations[k]
            out[k] = n * ob.point.output_tokens / pt.elapsed_s
            per_req[k] = pt.request_tokens_per_s * ob.point.output_tokens / o_tok
    return out, per_req


def _limit_concurrency(d: Deployment, cap: int) -> Deployment:
    """The deployment as a client keeping at most ``cap`` requests in flight sees it."""
    from dataclasses import replace
    sched = d.engine.scheduler
    return replace(d, engine=d.engine.with_scheduler(
        max_num_seqs=min(sched.max_num_seqs, cap)))


def _predict_open(ob: Observation, efficiency: EfficiencyPriors | None) -> tuple[float, float]:
    from tokenomist.perf.simulator import Requests, Simulator
    p = ob.point
    n = p.num_requests or p.batch_size
    rate = p.request_rate or 1.0
    arrivals = np.arange(n) / rate
    sim = Simulator(ob.deployment, CostModel(ob.deployment, efficiency)
                    if efficiency is not None else None)
    r = sim.run(Requests.of(arrivals, np.full(n, p.input_tokens),
                            np.full(n, p.max_output_tokens)))
    scale = p.output_tokens / p.max_output_tokens
    return (n * p.output_tokens / r.elapsed_s,
            float(np.mean(p.max_output_tokens / r.e2e_s)) * scale)


def fit_efficiency(observations: Sequence[Observation], params: Sequence[str] = DEFAULT_PARAMS,
                   base: EfficiencyPriors | None = None, f_scale: float = 0.05,
                   use_request_speed: bool = True, request_weight: float = 0.5,
                   prior_width: float | None = PRIOR_WIDTH,
                   model_error: float = MODEL_ERROR) -> FitResult:
    """Robust least-squares fit of ``params`` (names of EfficiencyPriors fields).

    Residuals are log(predicted / measured) output throughput and, where the results
    record it, ``request_weight`` x log-ratio of the mean per-request speed; they pass
    through a ``soft_l1`` loss of scale ``f_scale`` so that a stalled run counts linearly,
    not quadratically. Each knob also has a Gaussian prior centred on ``base`` with a
    standard deviation of ``prior_width`` x its plausible range (``BOUNDS``), weighed
    against data whose typical error is ``model_error``: where the data cannot tell two
    knobs apart (per-step overhead and weight bandwidth trade off exactly in memory-bound
    decode steps) the fit stays near the prior instead of wandering along the valley, and
    the reported standard errors say so. ``prior_width=None`` fits the data alone.
    """
    if not observations:
        raise InvalidValueError("nothing to fit: no measured points")
    unknown = [p for p in params if p not in BOUNDS]
    if unknown:
        raise InvalidValueError(f"cannot fit {unknown}; fittable: {sorted(BOUNDS)}")
    base = base or observations[0].deployment.engine.efficiency
    names = tuple(params)
    lo = np.array([BOUNDS[n][0] for n in names])
    hi = np.array([BOUNDS[n][1] for n in names])
    span = hi - lo
    measured = np.array([ob.point.output_tokens_per_s for ob in observations])
    req_meas = np.array([ob.point.request_tokens_per_s or np.nan for ob in observations])
    has_req = np.isfinite(req_meas) & (np.array([ob.point.batch_size for ob in observations]) > 1)
    use_req = use_request_speed and bool(np.any(has_req))
    n_data = len(observations) + (int(np.sum(has_req)) if use_req else 0)
    z0 = np.clip((np.array([getattr(base, n) for n in names]) - lo) / span, 0.0, 1.0)

    def eff_of(z: NDArray[np.float64]) -> EfficiencyPriors:
        vals = lo + z * span
        return base.model_copy(update={n: float(v) for n, v in zip(names, vals, strict=True)})

    def residuals(z: NDArray[np.float64]) -> NDArray[np.float64]:
        pred, req = predict(observations, eff_of(z))
        r = np.log(pred / measured)
        if use_req:
            # per-request speed: how finish times spread over a burst (prefill vs decode)
            r = np.concatenate([r, request_weight * np.log(req[has_req] / req_meas[has_req])])
        if prior_width is not None:
            r = np.concatenate([r, model_error * (z - z0) / prior_width])
        return np.asarray(r, dtype=np.float64)

    def loss(u: NDArray[np.float64]) -> NDArray[np.float64]:
        # soft_l1 on the data rows, plain squares on the prior rows
        rho = np.empty((3, u.size))
        d = u[:n_data]
        rho[0, :n_data] = 2.0 * (np.sqrt(1.0 + d) - 1.0)
        rho[1, :n_data] = (1.0 + d) ** -0.5
        rho[2, :n_data] = -0.5 * (1.0 + d) ** -1.5
        rho[0, n_data:] = u[n_data:]
        rho[1, n_data:] = 1.0
        rho[2, n_data:] = 0.0
        return rho

    from scipy.optimize import least_squares  # (SciPy only loads when a fit runs)

    res = least_squares(residuals, z0, bounds=(np.zeros_like(z0), np.ones_like(z0)),
                        loss=loss, f_scale=f_scale, diff_step=1e-3, x_scale="jac")
    eff = eff_of(res.x)
    values = {n: float(getattr(eff, n)) for n in names}
    data_resid = res.fun[:n_data]
    weights = (1.0 + (data_resid / f_scale) ** 2) ** -0.5
    stderr = _stderr(res.jac[:n_data], data_resid, weights, span, names, prior_width,
                     model_error)
    # (the first rows are log(predicted / measured) at the solution)
    return FitResult(efficiency=eff, params=names, values=values, stderr=stderr,
                     predicted_tps=measured * np.exp(res.fun[:len(observations)]),
                     measured_tps=measured, success=bool(res.success),
                     message=str(res.message))


def _stderr(jac: NDArray[np.float64], resid: NDArray[np.float64],
            weights: NDArray[np.float64], span: NDArray[np.float64], names: tuple[str, ...],
            prior_width: float | None, model_error: float) -> dict[str, float]:
    """Standard errors from the Laplace approximation of the posterior.

    Data precision J^T J / s^2 (J: the robust-weighted Jacobian of the data rows; s^2:
    the robust-weighted residual variance), plus the prior precision 1 / prior_width^2
    in the fitted unit (the plausible range), then scaled back to the knob's unit.
    """
    m, k = jac.shape
    dof = max(m - k, 1)
    # the data's noise: their robust scatter, but no less than the model's own error (the
    # same noise the prior is weighed against in the objective)
    s2 = max(float(np.sum(weights * resid**2) / dof), model_error**2)
    precision = jac.T @ jac / s2
    if prior_width is not None:
        precision = precision + np.eye(k) / prior_width**2
    try:
        cov = np.linalg.pinv(precision)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None)) * span
    except np.linalg.LinAlgError:  # pragma: no cover - degenerate Jacobian
        se = np.full(k, np.nan)
    return {n: float(v) for n, v in zip(names, se, strict=True)}
