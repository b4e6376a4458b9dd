"""One self-contained HTML report for a deployment: plots embedded, tables, the
assumptions (engine profile, hardware, their sources) and the calibration error."""

from __future__ import annotations

import base64
import html
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tokenomist import api
from tokenomist.bench.results_io import ResultPoint
from tokenomist.calibrate.fit import Observation, comparison_rows, mape
from tokenomist.calibrate.observations import load_measured
from tokenomist.deploy.deployment import Deployment
from tokenomist.economics.prices import gpu_price
from tokenomist.economics.token_cost import price_by_attribution
from tokenomist.perf.simulator import Simulator
from tokenomist.plan import DEFAULT_HARDWARE, SLO, Workload
from tokenomist.plan import plan as run_plan
from tokenomist.plan.goodput import open_loop, saturation_rps
from tokenomist.report import plots


@dataclass
class ReportInputs:
    deployment: Deployment
    input_tokens: int
    output_tokens: int
    batch_sizes: list[int]
    results: list[Path]
    usd_per_gpu_hour: float | None = None
    slo: SLO = field(default_factory=lambda: SLO(ttft_p99_s=2.0, tpot_p99_s=0.05))
    compare_hardware: tuple[str, ...] = DEFAULT_HARDWARE
    goodput_requests: int = 400


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">' \
           f"<figcaption>{html.escape(alt)}</figcaption></figure>"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def build_report(inp: ReportInputs) -> str:
    d = inp.deployment
    est = api.estimate_deployment(d, input_tokens=inp.input_tokens,
                                  output_tokens=inp.output_tokens, batch_sizes=inp.batch_sizes)
    price = gpu_price(d.hardware, inp.usd_per_gpu_hour, "low_cost")
    measured_rows: list[dict[str, Any]] = []
    observations: list[Observation] = []
    for f in inp.results:
        pts = load_measured(f)
        observations += [Observation(d, p) for p in pts]
        for p in pts:
            if p.input_tokens == inp.input_tokens and p.load == "burst":
                measured_rows.append({"batch_size": p.batch_size,
                                      "output_tokens_per_s": p.output_tokens_per_s,
                                      "request_tokens_per_s": p.request_tokens_per_s or 0.0})
    # (one call over every file, as `compare` makes: points of one shape share a timeline)
    compared = comparison_rows(observations) if observations else []
    sections: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        plots.plot_throughput(est, t / "throughput.png", measured_rows or None)
        plots.plot_breakdown(est, t / "breakdown.png")
        plots.plot_kv_cache(d.model, t / "kv.png", kv_dtype=d.kv_dtype)
        lengths = np.array([2**k for k in range(7, 16) if 2**k + inp.output_tokens
                            <= min(d.model.max_context, d.memory.kv_tokens)], dtype=float)
        shares = []
        for n in lengths:
            e1 = api.estimate_deployment(d, input_tokens=int(n), output_tokens=inp.output_tokens,
                                         batch_sizes=[1]).points[0]
            shares.append(e1.prefill_s / (e1.prefill_s + e1.decode_s))
        plots.plot_prefill_share(lengths, np.array(shares), t / "prefill.png",
                                 f"batch 1, {inp.output_tokens} output tokens")
        costs = [price_by_attribution(
            ResultPoint(p.batch_size, p.input_tokens, p.output_tokens, p.elapsed_s,
                        p.prefill_s, p.decode_s), num_gpus=d.num_gpus,
            usd_per_gpu_hour=price.usd_per_gpu_hour) for p in est.points]
        plots.plot_cost(np.array(inp.batch_sizes, float),
                        np.array([c.usd_per_million_input for c in costs]),
                        np.array([c.usd_per_million_output for c in costs]), t / "cost.png",
                        f"at ${price.usd_per_gpu_hour:.2f} per GPU-hour")
        figures = [_img(t / "throughput.png", "Throughput and per-request speed vs batch size"),
                   _img(t / "breakdown.png", "Share of time by cause"),
                   _img(t / "kv.png", "KV cache vs sequence length and batch"),
                   _img(t / "prefill.png", "Share of time in prefill vs prompt length"),
                   _img(t / "cost.png", "Cost per million tokens vs batch size")]
        if compared:
            plots.plot_comparison(compared, t / "compare.png", "model vs measured")
            figures.append(_img(t / "compare.png", "Model vs measured throughput"))
        # planning: the frontier across accelerators, goodput of this deployment
        wl = Workload.fixed(inp.input_tokens, max(inp.output_tokens, 2))
        # (this deployment is one of the candidates: its accelerator, degrees, precision
        # and price are in the search)
        planned = run_plan(d.model, wl, inp.slo, hardware=[d.hardware, *inp.compare_hardware],
                           engines=[d.engine], kv_dtypes=[d.kv_dtype],
                           tps=sorted({1, 2, 4, 8, d.tp}), pps=sorted({1, d.pp}),
                           precisions=list(dict.fromkeys((None, "fp8", d.precision))),
                           usd_per_gpu_hour={d.hardware.id: price.usd_per_gpu_hour})
        plots.plot_frontier(planned, t / "frontier.png")
        figures.append(_img(t / "frontier.png", "Throughput-interactivity frontier per "
                                                "accelerator"))
        cap = saturation_rps(d, wl)
        sim = Simulator(d, attribute_prefill=False)
        runs = [open_loop(d, wl, cap * f, inp.slo, num_requests=inp.goodput_requests,
                          simulator=sim)
                for f in (0.25, 0.5, 0.75, 0.9, 1.0, 1.2)]
        plots.plot_goodput(runs, t / "goodput.png", f"this deployment, {inp.slo.describe()}")
        figures.append(_img(t / "goodput.png", "Goodput vs request rate (Poisson arrivals, "
                                               "step simulator)"))
    m = est.memory
    sections.append("<h2>Deployment</h2>" + _table(
        ["model", "hardware", "GPUs", "TP / PP / EP", "weights", "KV cache", "engine"],
        [[d.model.name, d.hardware.name, d.num_gpus, f"{d.tp} / {d.pp} / {d.ep}",
          est.precision, d.kv_dtype, f"{d.engine.id} ({d.engine.version})"]]))
    sections.append("<h2>Memory per GPU</h2>" + _table(
        ["weights GB", "KV cache GB", "KV tokens", "requests of this shape at once"],
        [[f"{m.weights_gb:.1f}", f"{m.kv_cache_gb:.1f}", f"{m.kv_tokens:,}",
          m.max_sequences]]))
    sections.append(f"<h2>Bursts of {inp.input_tokens} in / {inp.output_tokens} out</h2>"
                    + _table(["batch", "elapsed s", "output tok/s", "tok/s per request",
                              "TTFT s", "TPOT ms", "bound by", "$/M in", "$/M out"],
                             [[p.batch_size, f"{p.elapsed_s:.2f}",
                               f"{p.output_tokens_per_s:,.1f}",
                               f"{p.request_tokens_per_s:.1f}", f"{p.ttft_s:.3f}",
                               f"{p.tpot_s * 1e3:.1f}", p.bottleneck,
                               f"{c.usd_per_million_input:.3f}",
                               f"{c.usd_per_million_output:.3f}"]
                              for p, c in zip(est.points, costs, strict=True)]))
    sections.append("<h2>Figures</h2>" + "".join(figures))
    if compared:
        sections.append(f"<h2>Model vs measurement (MAPE "
                        f"{mape([r['error'] for r in compared]):.1%})</h2>"
                        + _table(["file", "batch", "in/out", "measured tok/s", "model tok/s",
                                  "error"],
                                 [[Path(r["source"]).name, r["batch_size"],
                                   f"{r['input_tokens']}/{r['output_tokens']:.0f}",
                                   f"{r['measured_output_tokens_per_s']:,.1f}",
                                   f"{r['predicted_output_tokens_per_s']:,.1f}",
                                   f"{r['error']:+.1%}"]
                                  for r in compared]))
    sections.append(f"<h2>Planning ({html.escape(inp.slo.describe())})</h2>"
                    + "".join(f"<p>{html.escape(line)}</p>" for line in planned.explanation)
                    + _table(["offered req/s", "p99 TTFT s", "p99 TPOT ms", "goodput req/s",
                              "within SLO"],
                             [[f"{r.rate:.2f}", f"{r.ttft_s['p99']:.2f}",
                               f"{r.tpot_s['p99'] * 1e3:.1f}", f"{r.goodput_rps:.2f}",
                               f"{r.slo_attainment:.0%}"] for r in runs]))
    cal = d.engine.calibration
    if cal is not None:
        sections.append("<h2>Calibration</h2>" + _table(
            ["fitted on", "points", "in-sample MAPE", "cross-validated MAPE", "scheme"],
            [[", ".join(Path(f).name for f in cal.files), cal.points,
              f"{cal.in_sample_mape:.1%}",
              "-" if cal.cv_mape is None else f"{cal.cv_mape:.1%}", cal.cv_scheme]]))
    s, e = d.engine.scheduler, d.engine.efficiency
    sections.append("<h2>Assumptions</h2>" + _table(
        ["scheduler limit", "value"], [[k, v] for k, v in s.model_dump().items()])
        + _table(["efficiency knob", "value"], [[k, f"{v:.4g}"] for k, v in
                                                e.model_dump().items()])
        + "<h3>Sources</h3><ul>" + "".join(
            f"<li>{html.escape(x)}</li>" for x in [*d.engine.sources, *d.engine.fitted_on,
                                                   *d.hardware.sources]) + "</ul>"
        + f"<p>GPU price: ${price.usd_per_gpu_hour:.2f}/h ({html.escape(price.label)}).</p>")
    for w in est.warnings:
        sections.append(f'<p class="warn">{html.escape(w)}</p>')
    title = f"tokenomist report: {d.model.name} on {d.num_gpus} x {d.hardware.id}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
figure {{ display: inline-block; margin: 0.5em; }} img {{ max-width: 100%; }}
.warn {{ color: #8a5300; }}
</style></head>
<body data-rendered="no"><h1>{html.escape(title)}</h1>
{''.join(sections)}
<script>
window.addEventListener("load", function () {{
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.length > 0 && imgs.every(function (i) {{
    return i.complete && i.naturalWidth > 0;
  }});
  document.body.dataset.rendered = ok ? "yes" : "broken";
  document.body.dataset.images = String(imgs.length);
}});
</script>
</body></html>
"""
