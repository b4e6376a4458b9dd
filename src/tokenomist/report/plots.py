"""The article's figures, made from tokenomist's own model and data (matplotlib, PNG).

Every function writes a PNG and returns the series it drew, so that tests (and users) can
check the content and not only that a file exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from tokenomist.arch.accounting import kv_cache_bytes
from tokenomist.arch.spec import ModelArch
from tokenomist.perf.results import EstimateResult

Series = dict[str, Any]


def _save(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_throughput(result: EstimateResult, path: Path,
                    measured: list[dict[str, float]] | None = None) -> Series:
    """Total and per-request output tokens/s vs batch size, model vs measured."""
    b = np.array([p.batch_size for p in result.points], float)
    total = np.array([p.output_tokens_per_s for p in result.points])
    per_req = np.array([p.request_tokens_per_s for p in result.points])
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot(b, total, "o-", label="model")
    ax[1].plot(b, per_req, "o-", label="model")
    series: Series = {"batch": b, "model_total": total, "model_per_request": per_req}
    if result.points[0].output_tokens_per_s_interval is not None:
        lo = np.array([p.output_tokens_per_s_interval[0] for p in result.points])  # type: ignore[index]
        hi = np.array([p.output_tokens_per_s_interval[1] for p in result.points])  # type: ignore[index]
        ax[0].fill_between(b, lo, hi, alpha=0.2, label="95% prediction interval")
    if measured:
        mb = np.array([m["batch_size"] for m in measured], float)
        mt = np.array([m["output_tokens_per_s"] for m in measured])
        ax[0].plot(mb, mt, "s--", label="measured")
        series.update(measured_batch=mb, measured_total=mt)
        if all(m.get("request_tokens_per_s") for m in measured):
            mr = np.array([m["request_tokens_per_s"] for m in measured])
            ax[1].plot(mb, mr, "s--", label="measured")
            series["measured_per_request"] = mr
    for a, title in zip(ax, ("output tokens/s (all requests)", "tokens/s per request"),
                        strict=True):
        a.set_xscale("log", base=2)
        a.set_xlabel("batch size")
        a.set_title(title)
        a.grid(alpha=0.3)
        a.legend()
    fig.suptitle(f"{result.model} on {result.num_gpus} x {result.hardware}, "
                 f"{result.points[0].input_tokens} in / {result.points[0].output_tokens} out")
    _save(fig, path)
    return series


def plot_kv_cache(arch: ModelArch, path: Path, batches: tuple[int, ...] = (1, 8, 32, 128),
                  kv_dtype: str = "bf16") -> Series:
    """KV-cache bytes vs sequence length for several batch sizes."""
    lengths = 2.0 ** np.arange(7, int(np.log2(arch.max_context)) + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    series: Series = {"lengths": lengths}
    for b in batches:
        gb = b * kv_cache_bytes(arch, lengths, kv_dtype) / 1e9
        ax.plot(lengths, gb, "o-", label=f"batch {b}")
        series[f"batch_{b}_gb"] = gb
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length (tokens)")
    ax.set_ylabel("KV cache (GB)")
    ax.set_title(f"{arch.name}: KV cache ({kv_dtype})")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)
    return series


def plot_prefill_share(prompt_lengths: np.ndarray, prefill_share: np.ndarray, path: Path,
                       title: str) -> Series:
    """Share of a request's time spent in prefill vs prompt length."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(prompt_lengths, 100 * prefill_share, "o-")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("prompt length (tokens)")
    ax.set_ylabel("time in prefill (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _save(fig, path)
    return {"prompt_lengths": prompt_lengths, "prefill_share": prefill_share}


def plot_cost(batch: np.ndarray, usd_in: np.ndarray, usd_out: np.ndarray, path: Path,
              title: str) -> Series:
    """Cost per million input and output tokens vs batch size."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(batch, usd_out, "o-", label="output tokens")
    ax.plot(batch, usd_in, "o-", label="input tokens")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("USD per million tokens")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)
    return {"batch": batch, "usd_in": usd_in, "usd_out": usd_out}


def plot_breakdown(result: EstimateResult, path: Path) -> Series:
    """Stacked share of wall time by cause, per batch size."""
    b = [str(p.batch_size) for p in result.points]
    parts = {k: np.array([getattr(p.breakdown_s, k) for p in result.points])
             for k in ("compute", "memory", "communication", "overhead")}
    total = sum(parts.values())
    fig, ax = plt.subplots(figsize=(7, 4))
    bottom = np.zeros(len(b))
    for k, v in parts.items():
        share = 100 * v / total
        ax.bar(b, share, bottom=bottom, label=k)
        bottom += share
    ax.set_xlabel("batch size")
    ax.set_ylabel("share of time (%)")
    ax.set_title("what the time goes to (roofline-bound kernel time, collectives, overhead)")
    ax.legend()
    _save(fig, path)
    return {"batch": b, **{k: 100 * v / total for k, v in parts.items()}}


def plot_comparison(rows: list[dict[str, Any]], path: Path, title: str) -> Series:
    """Predicted vs measured throughput, one marker per point, with the diagonal."""
    meas = np.array([r["measured_output_tokens_per_s"] for r in rows])
    pred = np.array([r["predicted_output_tokens_per_s"] for r in rows])
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.loglog(meas, pred, "o")
    lo, hi = min(meas.min(), pred.min()) * 0.8, max(meas.max(), pred.max()) * 1.25
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="perfect")
    ax.fill_between([lo, hi], [lo * 0.9, hi * 0.9], [lo * 1.1, hi * 1.1], alpha=0.15,
                    label="±10%")
    ax.set_xlabel("measured output tokens/s")
    ax.set_ylabel("model output tokens/s")
    ax.set_title(title)
    ax.legend()
    _save(fig, path)
    return {"measured": meas, "predicted": pred}


def plot_frontier(result: Any, path: Path) -> Series:
    """Output tokens/s per GPU against tokens/s per user: the Pareto frontier of each
    accelerator (a ``tokenomist.plan.PlanResult``), the SLO-meeting winner marked."""
    fig, ax = plt.subplots(figsize=(7, 5))
    series: Series = {}
    for hw, configs in result.frontier.items():
        x = np.array([c.tokens_per_s_per_user for c in configs])
        y = np.array([c.tokens_per_s_per_gpu for c in configs])
        ax.plot(x, y, "o-", label=hw, markersize=4)
        series[hw] = {"tokens_per_s_per_user": x, "tokens_per_s_per_gpu": y}
    best = result.best
    if best is not None:
        ax.plot([best.tokens_per_s_per_user], [best.tokens_per_s_per_gpu], "k*",
                markersize=14, label=f"cheapest within SLO: {best.candidate.label}")
    limit = result.slo.tpot_limit_s
    if limit is not None:
        ax.axvline(1.0 / limit, color="grey", ls="--", lw=1, label="SLO: tokens/s per user")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tokens/s per user (interactivity)")
    ax.set_ylabel("output tokens/s per GPU (throughput)")
    ax.set_title("throughput-interactivity frontier")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    _save(fig, path)
    return series


def plot_goodput(results: list[Any], path: Path, title: str) -> Series:
    """Throughput and goodput (requests/s meeting the SLOs) against the offered rate."""
    rate = np.array([r.rate for r in results])
    thr = np.array([r.throughput_rps for r in results])
    good = np.array([r.goodput_rps for r in results])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(rate, rate, "k:", lw=1, label="offered")
    ax.plot(rate, thr, "o-", label="completed")
    ax.plot(rate, good, "s-", label="goodput (within SLO)")
    ax.set_xlabel("request rate (Poisson), requests/s")
    ax.set_ylabel("requests/s")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)
    return {"rate": rate, "throughput": thr, "goodput": good}
