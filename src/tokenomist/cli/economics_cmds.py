"""CLI commands of the economics box: price, tco, api-prices. Thin layers over
:mod:`tokenomist.economics`."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tokenomist import api
from tokenomist.bench.results_io import ResultPoint, ResultSet, load_results
from tokenomist.cli.shared import out, print_json
from tokenomist.economics import (
    Ownership,
    Workload,
    api_usd_per_request,
    gpu_price,
    load_api_prices,
    market_summary,
    owned_usd_per_request,
    owning_break_even,
    price_by_attribution,
    price_with_gamma,
    rented_usd_per_request,
    renting_break_even,
    require_split,
    run_energy,
)
from tokenomist.errors import InvalidValueError
from tokenomist.hardware.catalog import Accelerator, resolve_hardware

PRICE_SCHEMA = "tokenomist.price/1"
TCO_SCHEMA = "tokenomist.tco/1"


def _with_model_split(results: ResultSet, model: str, hardware: Accelerator, tp: int, pp: int,
                      engine: str, precision: str | None) -> ResultSet:
    """Add the performance model's prefill/decode split (and breakdown) to measured points:
    the model's shares of time, applied to the measured elapsed time."""
    d = api.load_deployment(model, hardware, tp=tp, pp=pp, engine=engine, precision=precision)
    points = []
    for p in results.points:
        est = api.estimate_deployment(d, input_tokens=max(round(p.input_tokens), 1),
                                      output_tokens=max(round(p.output_tokens), 1),
                                      batch_sizes=[p.batch_size]).points[0]
        scale = p.elapsed_s / max(est.prefill_s + est.decode_s, 1e-12)
        points.append(replace(p, prefill_s=est.prefill_s * scale, decode_s=est.decode_s * scale,
                              breakdown_s={k: v * scale for k, v in
                                           est.breakdown_s.model_dump().items()}))
    return replace(results, points=points)


def price_cmd(
    results: Annotated[Path, typer.Argument(help="results JSON: tokenomist estimate or bench "
                                                 "output, or the article's format")],
    gpu_hourly_usd: Annotated[float | None, typer.Option(
        help="USD per accelerator-hour (default: the catalog price of --tier)")] = None,
    num_gpus: Annotated[int | None, typer.Option(help="accelerators the run used "
                                                      "(default: from the file)")] = None,
    gamma: Annotated[float, typer.Option(help="cost of an input token relative to an output "
                                              "token (the article's method)")] = 0.3,
    method: Annotated[str, typer.Option(help="gamma, attribution or both")] = "both",
    hardware: Annotated[str | None, typer.Option(help="accelerator, for catalog prices, TDP "
                                                      "and the model-based split")] = None,
    tier: Annotated[str, typer.Option(help="catalog price tier: on_demand, low_cost, "
                                           "spot")] = "low_cost",
    model: Annotated[str | None, typer.Option(help="model of a measured run, to attribute "
                                                   "its time with the performance model")] = None,
    tp: Annotated[int, typer.Option(help="tensor parallelism of the measured run")] = 1,
    pp: Annotated[int, typer.Option(help="pipeline parallelism of the measured run")] = 1,
    engine: Annotated[str, typer.Option(help="engine of the measured run")] = "vllm",
    precision: Annotated[str | None, typer.Option(help="weight precision of the run")] = None,
    watts: Annotated[float | None, typer.Option(help="measured power per accelerator, W")]
    = None,
    pue: Annotated[float, typer.Option(help="power usage effectiveness of the facility")] = 1.2,
    usd_per_kwh: Annotated[float, typer.Option(help="electricity price")] = 0.10,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Cost per million input and output tokens of each point of a run, and its energy."""
    if method not in ("gamma", "attribution", "both"):
        raise InvalidValueError(f"--method must be gamma, attribution or both, not {method!r}")
    res = load_results(results)
    hw_name = hardware or res.hardware
    acc: Accelerator | None = resolve_hardware(hw_name) if hw_name else None
    n = num_gpus or res.num_gpus
    if not n:
        raise InvalidValueError(f"{results} does not say how many accelerators the run used: "
                                "give --num-gpus")
    price = gpu_price(acc, gpu_hourly_usd, tier)
    need_split = method in ("attribution", "both")
    has_split = all(p.prefill_s is not None for p in res.points)
    if need_split and not has_split and model:
        if acc is None:
            raise InvalidValueError("give --hardware with --model to attribute time")
        res = _with_model_split(res, model, acc, tp, pp, engine, precision)
        has_split = True
    attributed = need_split and has_split  # rows priced by attribution too
    if method == "attribution" and not attributed:  # (refused before pricing any point)
        require_split(next(p for p in res.points if p.prefill_s is None))
    rows: list[dict[str, Any]] = []
    for p in res.points:
        row: dict[str, Any] = {"batch_size": p.batch_size, "input_tokens": p.input_tokens,
                               "output_tokens": p.output_tokens, "elapsed_s": p.elapsed_s,
                               "total_tokens_per_s": p.total_tokens_per_s,
                               "output_tokens_per_s": p.output_tokens_per_s}
        g = price_with_gamma(p, num_gpus=n, usd_per_gpu_hour=price.usd_per_gpu_hour,
                             gamma=gamma)
        primary = g
        row["gamma_method"] = _priced_dict(g)
        if attributed:
            a = price_by_attribution(p, num_gpus=n, usd_per_gpu_hour=price.usd_per_gpu_hour)
            row["attribution_method"] = _priced_dict(a)
            if method == "attribution":
                primary = a
        row["output_tokens_per_s_per_usd_hour"] = p.output_tokens_per_s / (
            n * price.usd_per_gpu_hour)  # tokens/s bought by each dollar per hour
        row.update(usd_per_million_input=primary.usd_per_million_input,
                   usd_per_million_output=primary.usd_per_million_output,
                   usd_per_request=primary.usd_per_request, run_cost_usd=primary.run_cost_usd,
                   output_tokens_per_usd=primary.output_tokens_per_usd)
        if watts or (acc and acc.tdp_w):
            e = run_energy(p, num_gpus=n, tdp_w=acc.tdp_w if acc else None,
                           watts_per_gpu=watts, pue=pue, usd_per_kwh=usd_per_kwh,
                           usd_per_gpu_hour=price.usd_per_gpu_hour)
            row["energy"] = asdict(e)
        rows.append(row)
    data = {"schema_version": PRICE_SCHEMA, "results": str(results), "num_gpus": n,
            "usd_per_gpu_hour": price.usd_per_gpu_hour, "price_source": price.label,
            "gamma": gamma, "method": method if attributed else "gamma",
            "points": rows}
    if as_json:
        print_json(data)
        return
    out.print(f"{results}: {n} accelerators at ${price.usd_per_gpu_hour:.2f}/h "
              f"({price.label})")
    t = Table(title="cost per million tokens")
    cols = ["B", "tokens/s", "$/M in (γ)", "$/M out (γ)"]
    if attributed:
        cols += ["$/M in (attr.)", "$/M out (attr.)", "prefill share", "implied γ"]
    cols += ["$/request", "J/out token"]
    for c in cols:
        t.add_column(c, justify="right")
    for row in rows:
        g = row["gamma_method"]
        cells = [str(row["batch_size"]), f"{row['total_tokens_per_s']:,.2f}",
                 f"${g['usd_per_million_input']:.2f}", f"${g['usd_per_million_output']:.2f}"]
        if attributed:
            a = row["attribution_method"]
            cells += [f"${a['usd_per_million_input']:.2f}", f"${a['usd_per_million_output']:.2f}",
                      f"{a['prefill_share']:.0%}", f"{a['implied_gamma']:.2f}"]
        cells += [f"${row['usd_per_request']:.5f}",
                  f"{row['energy']['joules_per_output_token']:.2f}" if "energy" in row else "-"]
        t.add_row(*cells)
    out.print(t)
    out.print(f"[dim]γ method: input tokens cost γ = {gamma} x an output token (the article's "
              "assumption). Attribution: each token type pays for the GPU time its work took "
              "(prefill = what the steps took beyond their decodes), so γ is derived.[/dim]")


def _priced_dict(p: Any) -> dict[str, Any]:
    d = asdict(p)
    d.pop("batch_size", None)
    return d


def tco_cmd(
    model: Annotated[str, typer.Option(help="model served")] = "llama-3.3-70b",
    hardware: Annotated[str, typer.Option(help="accelerator")] = "h100-sxm",
    tp: Annotated[int, typer.Option()] = 4,
    pp: Annotated[int, typer.Option()] = 1,
    engine: Annotated[str, typer.Option()] = "vllm",
    precision: Annotated[str | None, typer.Option()] = None,
    input_tokens: Annotated[int, typer.Option()] = 2035,
    output_tokens: Annotated[int, typer.Option()] = 300,
    batch_size: Annotated[int, typer.Option(help="operating point: requests served together")]
    = 64,
    utilization: Annotated[float, typer.Option(help="share of the time the replica is busy")]
    = 0.5,
    purchase_usd: Annotated[float | None, typer.Option(help="price of one accelerator, "
                                                            "installed")] = None,
    years: Annotated[float, typer.Option(help="amortization period")] = 3.0,
    hosting_usd_per_year: Annotated[float | None, typer.Option(
        help="hosting, network and operations per accelerator per year (default 20% of the "
             "purchase price)")] = None,
    busy_watts: Annotated[float | None, typer.Option(help="power per accelerator while busy "
                                                          "(default 80% of TDP)")] = None,
    idle_watts: Annotated[float | None, typer.Option(help="idle power per accelerator "
                                                          "(default 15% of TDP)")] = None,
    pue: Annotated[float, typer.Option()] = 1.3,
    usd_per_kwh: Annotated[float, typer.Option()] = 0.10,
    api_input_usd: Annotated[float | None, typer.Option(help="API $/M input tokens (default: "
                                                             "median of the snapshot)")] = None,
    api_output_usd: Annotated[float | None, typer.Option(help="API $/M output tokens")] = None,
    api_prices: Annotated[Path | None, typer.Option(help="your own API price file")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Owning vs renting vs an API: cost per million tokens and the break-even utilization."""
    est = api.estimate(model, hardware, tp=tp, pp=pp, engine=engine, precision=precision,
                       input_tokens=input_tokens, output_tokens=output_tokens,
                       batch_sizes=[batch_size])
    p = est.points[0]
    acc = resolve_hardware(hardware)
    w = Workload(input_tokens=input_tokens, output_tokens=output_tokens,
                 requests_per_s=batch_size / p.elapsed_s, num_gpus=est.num_gpus)
    purchase = purchase_usd or acc.purchase_usd
    tdp = acc.tdp_w or 700.0
    if purchase is None:
        raise InvalidValueError(f"the catalog has no purchase price for {acc.id}: give "
                                "--purchase-usd")
    own = Ownership(purchase_usd_per_gpu=purchase, amortization_years=years,
                    hosting_usd_per_gpu_year=hosting_usd_per_year if hosting_usd_per_year
                    is not None else 0.2 * purchase,
                    busy_power_w=busy_watts or 0.8 * tdp, idle_power_w=idle_watts or 0.15 * tdp,
                    pue=pue, usd_per_kwh=usd_per_kwh)
    if api_input_usd is None or api_output_usd is None:
        summary = market_summary(est.model, load_api_prices(api_prices))
        api_in = api_input_usd if api_input_usd is not None else summary.median_input
        api_out = api_output_usd if api_output_usd is not None else summary.median_output
        api_label = f"median of {summary.providers} providers in the price snapshot"
    else:
        api_in, api_out, api_label = api_input_usd, api_output_usd, "given by the user"
    a_req = api_usd_per_request(w, api_in, api_out)
    tokens = input_tokens + output_tokens
    options: list[dict[str, Any]] = [
        {"option": "own", "usd_per_request": owned_usd_per_request(w, own, utilization)}]
    for r in acc.rental:
        options.append({"option": f"rent {r.tier} (${r.usd_per_hour:.2f}/h, {r.provider})",
                        "usd_per_request": rented_usd_per_request(w, r.usd_per_hour,
                                                                  utilization)})
    options.append({"option": f"API (${api_in:.2f} in / ${api_out:.2f} out per M)",
                    "usd_per_request": a_req})
    for o in options:
        o["usd_per_million_tokens"] = o["usd_per_request"] / tokens * 1e6
    be = owning_break_even(w, own, a_req)
    rent_be = {r.tier: asdict(renting_break_even(w, r.usd_per_hour, a_req)) for r in acc.rental}
    data = {"schema_version": TCO_SCHEMA, "model": est.model, "hardware": acc.id,
            "num_gpus": est.num_gpus, "batch_size": batch_size, "utilization": utilization,
            "requests_per_s_at_full_load": w.requests_per_s, "ownership": asdict(own),
            "api": {"usd_per_million_input": api_in, "usd_per_million_output": api_out,
                    "source": api_label},
            "options": options, "owning_break_even": asdict(be),
            "renting_break_even": rent_be}
    if as_json:
        print_json(data)
        return
    out.print(f"{est.model} on {est.num_gpus} x {acc.id}, {input_tokens} in / {output_tokens} "
              f"out, batch {batch_size}: {w.requests_per_s:.2f} requests/s when busy; "
              f"utilization {utilization:.0%}")
    t = Table(title="cost of serving")
    for c in ("option", "$/request", "$/M tokens"):
        t.add_column(c, justify="right" if c != "option" else "left")
    for o in options:
        t.add_row(o["option"], f"${o['usd_per_request']:.5f}",
                  f"${o['usd_per_million_tokens']:.3f}")
    out.print(t)
    if be.utilization is None:
        out.print("owning never beats the API at this operating point, even at full load")
    else:
        out.print(f"owning beats the API above {be.utilization:.1%} utilization, i.e. a steady "
                  f"demand of {be.requests_per_s:.3f} requests/s "
                  f"({be.tokens_per_day:,.0f} tokens/day) per replica")


def api_prices_cmd(
    model: Annotated[str | None, typer.Argument(help="a model id; omit for all")] = None,
    api_prices: Annotated[Path | None, typer.Option(help="your own price file")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The snapshot of API prices per million tokens."""
    prices = load_api_prices(api_prices)
    rows = [p for p in prices.prices if model is None or p.model == model]
    if model is not None and not rows:
        market_summary(model, prices)  # raises with the known models
    if as_json:
        print_json({"snapshot_date": prices.snapshot_date, "source": prices.source,
                    "prices": [r.model_dump() for r in rows]})
        return
    t = Table(title=f"API prices, USD per million tokens (snapshot {prices.snapshot_date})")
    for c in ("model", "provider", "input", "output", "cached input", "note"):
        t.add_column(c)
    for r in rows:
        t.add_row(r.model, r.provider, f"{r.input:.3f}", f"{r.output:.3f}",
                  f"{r.cached_input:.3f}" if r.cached_input is not None else "-", r.note)
    out.print(t)
    out.print(f"[dim]source: {prices.source}[/dim]")


def mix_cmd(
    model: Annotated[str, typer.Option()] = "llama-3.3-70b",
    hardware: Annotated[str, typer.Option()] = "h100-sxm",
    tp: Annotated[int, typer.Option()] = 4,
    engine: Annotated[str, typer.Option()] = "vllm",
    precision: Annotated[str | None, typer.Option()] = None,
    input_dist: Annotated[str, typer.Option(help="N, uniform:LOW,HIGH, normal:MEAN,SD or "
                                                 "lognormal:MEDIAN,SIGMA")] = "lognormal:2000,0.6",
    output_dist: Annotated[str, typer.Option(help="as --input-dist")] = "lognormal:300,0.5",
    batch_size: Annotated[int, typer.Option(help="requests served together")] = 64,
    samples: Annotated[int, typer.Option(help="Monte Carlo draws")] = 500,
    seed: Annotated[int, typer.Option()] = 0,
    gpu_hourly_usd: Annotated[float | None, typer.Option()] = None,
    tier: Annotated[str, typer.Option()] = "low_cost",
    route_model: Annotated[str | None, typer.Option(help="small model for a routed mix")]
    = None,
    route_hardware: Annotated[str | None, typer.Option()] = None,
    route_tp: Annotated[int, typer.Option()] = 1,
    route_fraction: Annotated[float, typer.Option(help="share of requests routed to the small "
                                                       "model")] = 0.5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Price a workload with varying lengths (Monte Carlo), or a routed small/large mix."""
    from tokenomist.economics.mix import parse_length_dist, price_mix, price_routed

    dist_in = parse_length_dist(input_dist, "input")
    dist_out = parse_length_dist(output_dist, "output")
    d = api.load_deployment(model, hardware, tp=tp, engine=engine, precision=precision)
    price = gpu_price(d.hardware, gpu_hourly_usd, tier)
    large = price_mix(d, dist_in, dist_out, batch_size=batch_size,
                      usd_per_gpu_hour=price.usd_per_gpu_hour, samples=samples, seed=seed)
    data: dict[str, Any] = {"model": model, "hardware": hardware, "usd_per_gpu_hour":
                            price.usd_per_gpu_hour, "price_source": price.label,
                            "mix": asdict(large)}
    if route_model:
        ds = api.load_deployment(route_model, route_hardware or hardware, tp=route_tp,
                                 engine=engine)
        ps = gpu_price(ds.hardware, gpu_hourly_usd, tier)
        small = price_mix(ds, dist_in, dist_out, batch_size=batch_size,
                          usd_per_gpu_hour=ps.usd_per_gpu_hour, samples=samples, seed=seed)
        data["routed"] = asdict(price_routed(small, large, route_fraction))
    if as_json:
        print_json(data)
        return
    m = large
    out.print(f"{model} on {d.num_gpus} x {hardware}, bursts of {batch_size}, {samples} draws "
              f"(input {input_dist}, output {output_dist}), ${price.usd_per_gpu_hour:.2f}/h")
    out.print(f"  $/M input  {m.usd_per_million_input:.3f}  (95% CI "
              f"{m.ci95_usd_per_million_input[0]:.3f}-{m.ci95_usd_per_million_input[1]:.3f})")
    out.print(f"  $/M output {m.usd_per_million_output:.3f}  (95% CI "
              f"{m.ci95_usd_per_million_output[0]:.3f}-{m.ci95_usd_per_million_output[1]:.3f};"
              f" draws spread 5-95%: {m.p05_p95_usd_per_million_output[0]:.3f}-"
              f"{m.p05_p95_usd_per_million_output[1]:.3f})")
    out.print(f"  $/request  {m.usd_per_request:.5f}")
    if "routed" in data:
        r = data["routed"]
        out.print(f"routed: {route_fraction:.0%} to {route_model}: $/request "
                  f"{r['usd_per_request']:.5f}, $/M in {r['usd_per_million_input']:.3f}, "
                  f"$/M out {r['usd_per_million_output']:.3f}")


def register(app: typer.Typer) -> None:
    app.command("price")(price_cmd)
    app.command("mix")(mix_cmd)
    app.command("tco")(tco_cmd)
    app.command("api-prices")(api_prices_cmd)


__all__ = ["ResultPoint", "register"]
