"""``tokenomist plan`` (frontier and cheapest configuration within SLOs) and
``tokenomist simulate`` (open-loop load through the step simulator). Thin layers over
:mod:`tokenomist.plan`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tokenomist import api
from tokenomist.cli.options import (
    ImbalanceOpt,
    InOpt,
    OutOpt,
    PrefixOpt,
    SpecAccOpt,
    SpecDraftOpt,
    SpecMethodOpt,
    SpecTokensOpt,
    TpotOpt,
    TtftOpt,
    UserOpt,
    speculation,
)
from tokenomist.cli.shared import (
    out,
    parse_float,
    parse_float_list,
    parse_int_list,
    print_json,
    split_csv,
)
from tokenomist.deploy.deployment import Deployment
from tokenomist.economics.mix import parse_length_dist
from tokenomist.errors import InvalidValueError
from tokenomist.perf.simulator import Simulator
from tokenomist.plan import SLO, Workload
from tokenomist.plan import plan as run_plan
from tokenomist.plan.disaggregation import DEFAULT_TRANSFER_GBPS, compare
from tokenomist.plan.goodput import (
    RateSearch,
    max_rate_within_slo,
    open_loop,
    replay,
    saturation_rps,
)
from tokenomist.plan.trace import load_trace

PLAN_SCHEMA = "tokenomist.plan/1"
SIMULATE_SCHEMA = "tokenomist.simulate/1"

def _slo(ttft: float | None, tpot_ms: float | None, per_user: float | None) -> SLO:
    return SLO(ttft_p99_s=ttft, tpot_p99_s=None if tpot_ms is None else tpot_ms / 1e3,
               min_tokens_per_user=per_user)


def _workload(inp: str, out: str, prefix: float) -> Workload:
    return Workload(parse_length_dist(inp, "input"), parse_length_dist(out, "output"), prefix)


def _positive(value: int, what: str) -> int:
    if value < 1:
        raise InvalidValueError(f"{what} must be at least 1, got {value}")
    return value


def _list(text: str) -> list[str]:
    items = split_csv(text)
    if not items:
        raise InvalidValueError("give a comma-separated list")
    return items


def _prices(text: str | None) -> dict[str, float] | float | None:
    if text is None:
        return None
    if "=" not in text:
        return parse_float(text, "--gpu-hourly-usd")
    out = {}
    for item in _list(text):
        key, _, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise InvalidValueError(f"--gpu-hourly-usd: {item!r} is not ID=PRICE") from None
    return out


def plan_cmd(
    model: Annotated[str, typer.Option(help="preset id, HF repo id or config.json")]
    = "llama-3.3-70b",
    hardware: Annotated[str, typer.Option(help="accelerators to compare (comma-separated)")]
    = "h100-sxm,h200,b200,mi300x",
    engine: Annotated[str, typer.Option(help="engine profiles (comma-separated)")] = "vllm",
    precision: Annotated[str, typer.Option(help="weight precisions; 'native' = the "
                                                "checkpoint's")] = "native,fp8",
    kv_dtype: Annotated[str, typer.Option(help="KV-cache dtypes")] = "bf16",
    tp: Annotated[str, typer.Option(help="tensor-parallel degrees to try")] = "1,2,4,8",
    pp: Annotated[str, typer.Option(help="pipeline-parallel degrees to try")] = "1",
    input: InOpt = "2035",
    output: OutOpt = "300",
    prefix_hit_rate: PrefixOpt = 0.0,
    ttft_p99: TtftOpt = None,
    tpot_p99: TpotOpt = None,
    min_tokens_per_user: UserOpt = None,
    tier: Annotated[str, typer.Option(help="catalog price tier")] = "low_cost",
    gpu_hourly_usd: Annotated[str | None, typer.Option(
        help="USD per GPU-hour: one price for all, or ID=PRICE,...")] = None,
    spec_method: SpecMethodOpt = None,
    spec_draft: SpecDraftOpt = None,
    spec_tokens: SpecTokensOpt = 3,
    spec_acceptance: SpecAccOpt = 0.7,
    expert_imbalance: ImbalanceOpt = 1.0,
    goodput: Annotated[bool, typer.Option(help="also find, with the step simulator, the "
                                               "highest Poisson rate the winner sustains "
                                               "within the SLOs")] = False,
    num_requests: Annotated[int, typer.Option(help="requests per simulated rate")] = 2000,
    plot: Annotated[Path | None, typer.Option(help="PNG of the frontier per accelerator")]
    = None,
    rows: Annotated[int, typer.Option(help="frontier rows shown per accelerator")] = 8,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Search deployments: the throughput-interactivity frontier per accelerator, and the
    cheapest configuration within the SLOs (with why it wins)."""
    _positive(num_requests, "--num-requests")
    if rows < 2:
        raise InvalidValueError(f"--rows must be at least 2, got {rows}")
    wl = _workload(input, output, prefix_hit_rate)
    slo = _slo(ttft_p99, tpot_p99, min_tokens_per_user)
    if goodput and slo.empty:
        raise InvalidValueError("--goodput needs an SLO")
    prices = _prices(gpu_hourly_usd)
    hw = _list(hardware)
    precs: list[str | None] = [None if p == "native" else p for p in _list(precision)]
    spec = speculation(spec_method, spec_draft, spec_tokens, spec_acceptance)
    result = run_plan(model, wl, slo, hardware=hw, engines=_list(engine), precisions=precs,
                      kv_dtypes=_list(kv_dtype), tps=parse_int_list(tp, "TP degrees"),
                      pps=parse_int_list(pp, "PP degrees"), speculative=spec,
                      expert_imbalance=expert_imbalance, tier=tier, usd_per_gpu_hour=prices)
    rate = None
    if goodput and result.best is not None:
        rate = max_rate_within_slo(result.best.candidate.deployment, wl, slo,
                                   num_requests=num_requests)
    if plot:
        from tokenomist.report.plots import plot_frontier
        plot_frontier(result, plot)
    if as_json:
        print_json({
            "schema_version": PLAN_SCHEMA, "model": model, "workload": wl.describe(),
            "slo": slo.describe(), "candidates": result.candidates,
            "configurations": len(result.configs),
            "frontier": {h: [c.as_dict() for c in cs] for h, cs in result.frontier.items()},
            "best": result.best.as_dict() if result.best else None,
            "runner_up": result.runner_up.as_dict() if result.runner_up else None,
            "explanation": result.explanation, "skipped": result.skipped,
            "goodput": None if rate is None else {
                "max_rate_rps": rate.max_rate, "capacity_rps": rate.capacity_rps,
                "at_max": rate.at_max.as_dict() if rate.at_max else None}})
        return
    out.print(f"[bold]{model}[/bold], {wl.describe()}; {slo.describe()}: "
              f"{result.candidates} deployments x concurrency = {len(result.configs)} "
              "configurations")
    for h, cs in result.frontier.items():
        t = Table(title=f"{h}: throughput-interactivity frontier")
        for col in ("deployment", "in flight", "tok/s/GPU", "tok/s/user", "p99 TTFT s",
                    "TPOT ms", "$/M out", "$/M in | out", "bound", "SLO"):
            t.add_column(col, justify="right" if col != "deployment" else "left")
        shown = _thin(cs, rows)
        for c in shown:
            t.add_row(c.candidate.label, str(c.concurrency), f"{c.tokens_per_s_per_gpu:,.0f}",
                      f"{c.tokens_per_s_per_user:.1f}", f"{c.ttft_p99_s:.2f}",
                      f"{c.tpot_s * 1e3:.1f}", f"{c.usd_per_million_output:.3f}",
                      f"{c.usd_per_million_input_attributed:.3f} | "
                      f"{c.usd_per_million_output_attributed:.3f}", c.bottleneck,
                      "yes" if c.meets_slo else "no")
        out.print(t)
    for line in result.explanation:
        out.print(f"- {line}")
    if result.skipped:
        out.print(f"- left out: {len(result.skipped)} (invalid, too big or unpriced; see "
                  "--json)" + (f"; {'; '.join(result.unpriced)}" if result.unpriced else ""))
    if rate is not None:
        at = rate.at_max
        out.print(f"- open loop (Poisson, {num_requests} requests per rate, step simulator): "
                  f"the winner sustains {rate.max_rate:.2f} requests/s within the SLOs "
                  f"(saturates at {rate.capacity_rps:.2f})"
                  + (f"; there p99 TTFT {at.ttft_s['p99']:.2f} s, p99 TPOT "
                     f"{at.tpot_s['p99'] * 1e3:.1f} ms, goodput {at.goodput_rps:.2f} req/s"
                     if at else ""))
    out.print("[dim]$/M out: all GPU time over the output tokens; $/M in | out: GPU time "
              "attributed to prefill and decode. Efficiencies are the engine profile's "
              "fractions of each accelerator's peaks (the vllm profile was fitted on H100).[/dim]")
    if plot:
        out.print(f"frontier plot: {plot}")


def _thin(cs: list, rows: int) -> list:  # type: ignore[type-arg]
    if len(cs) <= rows:
        return cs
    idx = sorted({round(k * (len(cs) - 1) / (rows - 1)) for k in range(rows)})
    return [cs[i] for i in idx]


def simulate_cmd(
    model: Annotated[str, typer.Option()] = "llama-3.3-70b",
    hardware: Annotated[str, typer.Option()] = "h100-sxm",
    tp: Annotated[int, typer.Option()] = 4,
    pp: Annotated[int, typer.Option()] = 1,
    ep: Annotated[int, typer.Option()] = 1,
    engine: Annotated[str, typer.Option(help="engine profile id or file")] = "vllm",
    profile: Annotated[str | None, typer.Option(help="calibrated profile JSON")] = None,
    precision: Annotated[str | None, typer.Option()] = None,
    kv_dtype: Annotated[str, typer.Option()] = "bf16",
    input: InOpt = "2035",
    output: OutOpt = "300",
    prefix_hit_rate: PrefixOpt = 0.0,
    request_rate: Annotated[str | None, typer.Option(
        help="Poisson arrival rates to simulate (comma-separated, requests/s)")] = None,
    num_requests: Annotated[int, typer.Option()] = 2000,
    ttft_p99: TtftOpt = None,
    tpot_p99: TpotOpt = None,
    min_tokens_per_user: UserOpt = None,
    max_rate: Annotated[bool, typer.Option(help="find the highest rate within the SLOs")]
    = False,
    spec_method: SpecMethodOpt = None,
    spec_draft: SpecDraftOpt = None,
    spec_tokens: SpecTokensOpt = 3,
    spec_acceptance: SpecAccOpt = 0.7,
    expert_imbalance: ImbalanceOpt = 1.0,
    seed: Annotated[int, typer.Option()] = 0,
    trace: Annotated[Path | None, typer.Option(
        help="replay a CSV trace (arrival_s or timestamp, input_tokens, output_tokens) "
             "instead of Poisson arrivals")] = None,
    trace_speedup: Annotated[float, typer.Option(help="divide the trace's gaps by this")]
    = 1.0,
    trace_limit: Annotated[int | None, typer.Option(help="first N requests of the trace")]
    = None,
    plot: Annotated[Path | None, typer.Option(help="PNG of goodput vs request rate")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Open-loop load (Poisson arrivals) through the step simulator: latency percentiles,
    queueing and goodput per request rate."""
    _positive(num_requests, "--num-requests")
    d = api.load_deployment(model, hardware, tp=tp, pp=pp, ep=ep, precision=precision,
                            kv_dtype=kv_dtype, engine=profile or engine,
                            speculative=speculation(spec_method, spec_draft, spec_tokens,
                                                    spec_acceptance),
                            expert_imbalance=expert_imbalance)
    wl = _workload(input, output, prefix_hit_rate)
    slo = _slo(ttft_p99, tpot_p99, min_tokens_per_user)
    search: RateSearch | None = None
    if trace is not None:
        if max_rate or request_rate:
            raise InvalidValueError("--trace replays its own arrivals: drop --request-rate "
                                    "and --max-rate")
        reqs = load_trace(trace, speedup=trace_speedup, limit=trace_limit)
        if prefix_hit_rate:
            reqs = reqs.with_cached_prefix(prefix_hit_rate)
        r = replay(d, reqs, slo)
        if as_json:
            print_json({"schema_version": SIMULATE_SCHEMA, "model": model,
                        "hardware": d.hardware.id, "tp": tp, "trace": str(trace),
                        "slo": slo.describe(), "points": [r.as_dict()]})
            return
        out.print(f"trace {trace}: {len(reqs)} requests at {r.rate:.3g} req/s on average; "
                  f"TTFT p50 {r.ttft_s['p50']:.2f} s, p99 {r.ttft_s['p99']:.2f} s; TPOT p50 "
                  f"{r.tpot_s['p50'] * 1e3:.1f} ms, p99 {r.tpot_s['p99'] * 1e3:.1f} ms; "
                  f"{r.output_tokens_per_s:,.0f} output tokens/s; goodput "
                  f"{r.goodput_rps:.2f} req/s ({r.slo_attainment:.0%} within "
                  f"{slo.describe()})")
        return
    sim = Simulator(d, attribute_prefill=False)  # (one for every rate: it keeps its caches)
    if max_rate:
        search = max_rate_within_slo(d, wl, slo, num_requests=num_requests, seed=seed,
                                     simulator=sim)
    if request_rate:
        rates = parse_float_list(request_rate, "--request-rate")
    elif search is not None:
        rates = []
    else:
        cap = saturation_rps(d, wl)
        rates = [round(cap * f, 3) for f in (0.25, 0.5, 0.75, 0.9, 1.0, 1.1)]
    if any(not r > 0 for r in rates):
        raise InvalidValueError("request rates must be positive")
    results = [open_loop(d, wl, r, slo, num_requests=num_requests, seed=seed, simulator=sim)
               for r in rates]
    if search is not None:
        results = sorted(results + search.tried, key=lambda r: r.rate)
    if plot:
        from tokenomist.report.plots import plot_goodput
        plot_goodput(results, plot, f"{model} on {d.num_gpus} x {d.hardware.id}: "
                                    f"{slo.describe()}")
    if as_json:
        print_json({"schema_version": SIMULATE_SCHEMA, "model": model,
                    "hardware": d.hardware.id, "tp": tp, "workload": wl.describe(),
                    "slo": slo.describe(), "points": [r.as_dict() for r in results],
                    "max_rate_rps": None if search is None else search.max_rate,
                    "capacity_rps": None if search is None else search.capacity_rps})
        return
    t = Table(title=f"{model} on {d.num_gpus} x {d.hardware.id}, {wl.describe()}, Poisson "
                    f"arrivals ({num_requests} requests per rate); {slo.describe()}")
    for col in ("req/s", "TTFT p50", "TTFT p99", "TPOT p50 ms", "TPOT p99 ms", "E2E p99",
                "out tok/s", "max running", "goodput req/s", "within SLO"):
        t.add_column(col, justify="right")
    for r in results:
        t.add_row(f"{r.rate:.3g}", f"{r.ttft_s['p50']:.2f}", f"{r.ttft_s['p99']:.2f}",
                  f"{r.tpot_s['p50'] * 1e3:.1f}", f"{r.tpot_s['p99'] * 1e3:.1f}",
                  f"{r.e2e_s['p99']:.1f}", f"{r.output_tokens_per_s:,.0f}",
                  str(r.max_running), f"{r.goodput_rps:.2f}", f"{r.slo_attainment:.0%}")
    out.print(t)
    if search is not None:
        out.print(f"highest rate within the SLOs: {search.max_rate:.2f} requests/s "
                  f"(the engine saturates at {search.capacity_rps:.2f})")
    if plot:
        out.print(f"plot: {plot}")


def disagg_cmd(
    model: Annotated[str, typer.Option()] = "llama-3.3-70b",
    hardware: Annotated[str, typer.Option()] = "h100-sxm",
    tp: Annotated[int, typer.Option(help="TP of co-located replicas (and of both pools "
                                         "unless given)")] = 4,
    prefill_tp: Annotated[int | None, typer.Option(min=1, help="TP of prefill replicas")] = None,
    decode_tp: Annotated[int | None, typer.Option(min=1, help="TP of decode replicas")] = None,
    engine: Annotated[str, typer.Option(help="engine profile id or file")] = "vllm",
    precision: Annotated[str | None, typer.Option()] = None,
    kv_dtype: Annotated[str, typer.Option()] = "bf16",
    input: InOpt = "2035",
    output: OutOpt = "300",
    prefix_hit_rate: PrefixOpt = 0.0,
    ttft_p99: TtftOpt = None,
    tpot_p99: TpotOpt = None,
    min_tokens_per_user: UserOpt = None,
    transfer_gbps: Annotated[float, typer.Option(
        help="network bandwidth per GPU for KV transfers, GB/s")] = DEFAULT_TRANSFER_GBPS,
    max_instances: Annotated[int, typer.Option(help="largest pool size tried")] = 8,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Disaggregated prefill/decode pools against co-located serving, within the SLOs."""
    def dep(t: int) -> Deployment:
        return api.load_deployment(model, hardware, tp=t, precision=precision,
                                   kv_dtype=kv_dtype, engine=engine)

    d = dep(tp)
    wl = _workload(input, output, prefix_hit_rate)
    slo = _slo(ttft_p99, tpot_p99, min_tokens_per_user)
    c = compare(d, wl, slo, prefill=None if prefill_tp is None else dep(prefill_tp),
                decode=None if decode_tp is None else dep(decode_tp),
                transfer_gbps=transfer_gbps, max_instances=max_instances)
    if as_json:
        print_json({"model": model, "hardware": hardware, "workload": wl.describe(),
                    "slo": slo.describe(),
                    "colocated": c.colocated.as_dict() if c.colocated else None,
                    "disaggregated": c.disaggregated.as_dict() if c.disaggregated else None,
                    "verdict": c.verdict})
        return
    t = Table(title=f"{model} on {hardware}, {wl.describe()}; {slo.describe()}")
    for col in ("serving", "tok/s/GPU", "req/s", "GPUs", "p99 TTFT s", "TPOT ms", "how"):
        t.add_column(col, justify="left" if col in ("serving", "how") else "right")
    for o in (c.colocated, c.disaggregated):
        if o is not None:
            t.add_row(o.kind, f"{o.output_tokens_per_s_per_gpu:,.0f}",
                      f"{o.requests_per_s:.2f}", str(o.gpus), f"{o.ttft_p99_s:.2f}",
                      f"{o.tpot_s * 1e3:.1f}", o.detail)
    out.print(t)
    out.print(c.verdict)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_cmd)
    app.command("simulate")(simulate_cmd)
    app.command("disagg")(disagg_cmd)
