"""The typed Python API: what the CLI calls, and what other tools import.

>>> from tokenomist import estimate
>>> result = estimate("llama-3.3-70b", "h100-sxm", tp=4, batch_sizes=[1, 64])
>>> round(result.points[1].output_tokens_per_s)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tokenomist.arch.presets import resolve_model
from tokenomist.deploy.deployment import GB, Deployment
from tokenomist.deploy.engine import EngineProfile, resolve_engine
from tokenomist.deploy.speculative import Speculation
from tokenomist.errors import InvalidValueError
from tokenomist.hardware.catalog import Accelerator, resolve_hardware
from tokenomist.perf.burst import BurstEstimator, BurstPoint, admission_limit
from tokenomist.perf.results import (
    EstimatePoint,
    EstimateResult,
    MemorySummary,
    StepTimeBreakdown,
)
from tokenomist.perf.simulator import Requests, SimulationResult, Simulator

ARTICLE_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def load_deployment(model: str, hardware: str | Accelerator, *, tp: int = 1, pp: int = 1,
                    ep: int = 1, precision: str | None = None, kv_dtype: str = "bf16",
                    engine: str | EngineProfile = "vllm", max_num_seqs: int | None = None,
                    max_num_batched_tokens: int | None = None,
                    speculative: Speculation | None = None,
                    expert_imbalance: float = 1.0) -> Deployment:
    """Resolve names (or file paths) into a validated :class:`Deployment`; the hardware
    may also be an accelerator already resolved.

    ``max_num_seqs`` and ``max_num_batched_tokens`` override the engine profile's scheduler
    limits, as the engines' own flags do (vLLM ``--max-num-seqs``, llama-server
    ``--parallel`` and ``--ubatch-size``). ``speculative`` decoding and MoE
    ``expert_imbalance`` are what-ifs of the deployment.
    """
    eng = engine if isinstance(engine, EngineProfile) else resolve_engine(engine)
    changes = {name: value for name, value in (("max_num_seqs", max_num_seqs),
                                               ("max_num_batched_tokens",
                                                max_num_batched_tokens))
               if value is not None}
    for name, value in changes.items():
        _positive_int(name, value)  # (the profile's validation would coerce True or "8")
    if changes:
        eng = eng.with_scheduler(**changes)
    acc = hardware if isinstance(hardware, Accelerator) else resolve_hardware(hardware)
    return Deployment(model=resolve_model(model), hardware=acc,
                      engine=eng, tp=tp, pp=pp, ep=ep,
                      precision=precision.lower() if precision else None,
                      kv_dtype=kv_dtype.lower(), speculative=speculative,
                      expert_imbalance=expert_imbalance)


def _is_positive_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and bool(value >= 1)


def _positive_int(name: str, value: object) -> None:
    if not _is_positive_int(value):
        raise InvalidValueError(f"{name} must be a positive integer, got {value!r}")


def _check_lengths(input_tokens: int, output_tokens: int, batch_sizes: Sequence[int]) -> None:
    _positive_int("input tokens", input_tokens)
    _positive_int("output tokens", output_tokens)
    if not batch_sizes:
        raise InvalidValueError("give at least one batch size")
    for b in batch_sizes:
        if not _is_positive_int(b):
            raise InvalidValueError(f"batch sizes must be positive integers, got {b!r}")


def memory_summary(d: Deployment, input_tokens: int, output_tokens: int) -> MemorySummary:
    plan = d.check_fits()
    return MemorySummary(
        device_gb=plan.device_bytes / GB, engine_gb=plan.engine_bytes / GB,
        weights_gb=plan.weight_bytes / GB, activations_gb=plan.activation_bytes / GB,
        kv_cache_gb=plan.kv_bytes / GB, kv_bytes_per_token=plan.kv_bytes_per_token,
        kv_tokens=plan.kv_tokens,
        max_sequences=plan.max_sequences(input_tokens + output_tokens,
                                         d.engine.scheduler.max_num_seqs))


def _point_from_burst(p: BurstPoint) -> EstimatePoint:
    bd = StepTimeBreakdown(**p.breakdown_s)
    return EstimatePoint(
        batch_size=p.batch_size, input_tokens=p.input_tokens, output_tokens=p.output_tokens,
        elapsed_s=p.elapsed_s, output_tokens_per_s=p.output_tokens_per_s,
        input_tokens_per_s=p.input_tokens_per_s,
        total_tokens_per_s=p.input_tokens_per_s + p.output_tokens_per_s,
        ttft_s=p.ttft_s, tpot_s=p.tpot_s, e2e_s=p.e2e_s,
        request_tokens_per_s=p.request_tokens_per_s, concurrency=p.concurrency,
        waves=p.waves, steps=p.steps, bottleneck=p.bottleneck,
        breakdown_s=bd, prefill_s=p.prefill_s, decode_s=p.decode_s)


def _point_from_simulation(batch: int, i_tok: int, o_tok: int, r: SimulationResult,
                           concurrency: int) -> EstimatePoint:
    elapsed = r.elapsed_s
    bd = StepTimeBreakdown(**r.breakdown_s)
    tpot = float(np.nanmean(r.tpot_s)) if o_tok > 1 else 0.0
    neck = max(r.breakdown_s, key=lambda k: r.breakdown_s[k])
    return EstimatePoint(
        batch_size=batch, input_tokens=i_tok, output_tokens=o_tok, elapsed_s=elapsed,
        output_tokens_per_s=batch * o_tok / elapsed, input_tokens_per_s=batch * i_tok / elapsed,
        total_tokens_per_s=batch * (i_tok + o_tok) / elapsed,
        ttft_s=float(np.mean(r.ttft_s)), tpot_s=tpot, e2e_s=float(np.mean(r.e2e_s)),
        request_tokens_per_s=float(np.mean(o_tok / r.e2e_s)), concurrency=concurrency,
        waves=int(np.ceil(batch / max(r.max_running, 1))), steps=float(r.steps),
        bottleneck=neck, breakdown_s=bd, prefill_s=r.prefill_s, decode_s=r.decode_s)


def estimate_deployment(d: Deployment, *, input_tokens: int = 2035, output_tokens: int = 300,
                        batch_sizes: Sequence[int] = ARTICLE_BATCH_SIZES,
                        simulate: bool = False, prefix_hit_rate: float = 0.0) -> EstimateResult:
    """Predict bursts of ``batch_sizes`` identical requests on a deployment.

    Speculative decoding and prefix-cache hits (``prefix_hit_rate`` of every prompt) go
    through the step simulator, which models them; the closed form does not."""
    _check_lengths(input_tokens, output_tokens, batch_sizes)
    memory = memory_summary(d, input_tokens, output_tokens)
    estimator = BurstEstimator(d)  # validates the request against context and KV size
    warnings = []
    if d.expert_imbalance != 1.0 and d.ep == 1:  # (EP > 1 implies an MoE model)
        warnings.append("--expert-imbalance applies to MoE models with expert parallelism "
                        "(--ep > 1); it is ignored here")
    if (d.speculative is not None or prefix_hit_rate) and not simulate:
        simulate = True
        warnings.append("speculative decoding and prefix caching are modelled by the step "
                        "simulator: these points are simulated")
    if simulate:
        sim = Simulator(d, estimator.cost)
        points = []
        for b in batch_sizes:
            reqs = Requests.burst(b, input_tokens, output_tokens)
            if prefix_hit_rate:
                reqs = reqs.with_cached_prefix(prefix_hit_rate)
            r = sim.run(reqs)
            points.append(_point_from_simulation(b, input_tokens, output_tokens, r,
                                                 r.max_running))
    else:
        burst_points = estimator.estimate(list(batch_sizes), input_tokens, output_tokens)
        points = [_point_from_burst(p) for p in burst_points]
    s = d.engine.scheduler
    admitted = admission_limit(d, input_tokens, output_tokens)
    fit_all = memory.max_sequences
    oversub = [b for b in batch_sizes if min(b, admitted) > fit_all
               and s.admission == "prompt"]
    if oversub:
        warnings.append(
            f"batch sizes {oversub}: the engine admits {min(max(oversub), admitted)} requests "
            f"but only {fit_all} fit the KV cache at full length, so it preempts and recomputes "
            "some; the closed form treats this as sharing (within about 20% of the step "
            "simulator): use --simulate for these points")
    if max(batch_sizes) > memory.max_sequences:
        warnings.append(
            f"at most {memory.max_sequences} requests of {input_tokens}+{output_tokens} tokens "
            f"run at once (KV cache {memory.kv_tokens:,} tokens, max_num_seqs "
            f"{s.max_num_seqs}); larger bursts queue")
    cal = d.engine.calibration
    if cal is not None:
        half = 1.96 * cal.residual_log_sd
        points = [p.model_copy(update={"output_tokens_per_s_interval": (
            p.output_tokens_per_s * float(np.exp(-half)),
            p.output_tokens_per_s * float(np.exp(half)))}) for p in points]
        if (cal.model, cal.hardware) != (d.model.name, d.hardware.id):
            warnings.append(f"the profile was calibrated on {cal.model} on {cal.hardware}: "
                            "its error figures may not carry over")
    return EstimateResult(
        model=d.model.name, hardware=d.hardware.id, engine=d.engine.id, tp=d.tp, pp=d.pp,
        ep=d.ep, num_gpus=d.num_gpus,
        precision=d.precision or _native_label(d), kv_dtype=d.kv_dtype,
        method="simulation" if simulate else "closed_form", memory=memory, points=points,
        warnings=warnings, calibration=cal.model_dump() if cal else None)


def _native_label(d: Deployment) -> str:
    native = d.model.native_precision
    if not native:
        return "bf16"
    return "native (" + ", ".join(f"{k} {v}" for k, v in sorted(native.items())) + ")"


def estimate(model: str = "llama-3.3-70b", hardware: str = "h100-sxm", *, tp: int = 4,
             pp: int = 1, ep: int = 1, precision: str | None = None, kv_dtype: str = "bf16",
             engine: str | EngineProfile = "vllm", input_tokens: int = 2035,
             output_tokens: int = 300, batch_sizes: Sequence[int] = ARTICLE_BATCH_SIZES,
             simulate: bool = False, max_num_seqs: int | None = None,
             max_num_batched_tokens: int | None = None,
             speculative: Speculation | None = None, expert_imbalance: float = 1.0,
             prefix_hit_rate: float = 0.0) -> EstimateResult:
    """Predict throughput, TTFT and TPOT of bursts; defaults are the article's experiment
    (Llama 3.3 70B on 4 x H100 SXM with TP 4 under vLLM, 2035 in / 300 out, B = 1..512).

    What-ifs: ``speculative`` decoding, MoE ``expert_imbalance`` under expert parallelism,
    and a ``prefix_hit_rate`` of every prompt served from a prefix cache."""
    d = load_deployment(model, hardware, tp=tp, pp=pp, ep=ep, precision=precision,
                        kv_dtype=kv_dtype, engine=engine, max_num_seqs=max_num_seqs,
                        max_num_batched_tokens=max_num_batched_tokens,
                        speculative=speculative, expert_imbalance=expert_imbalance)
    return estimate_deployment(d, input_tokens=input_tokens, output_tokens=output_tokens,
                               batch_sizes=batch_sizes, simulate=simulate,
                               prefix_hit_rate=prefix_hit_rate)
