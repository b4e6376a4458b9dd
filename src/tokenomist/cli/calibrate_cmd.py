"""``tokenomist calibrate``: fit a profile to measured runs; ``compare``: model vs runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tokenomist import api
from tokenomist.calibrate import CALIBRATION_PARAMS, Observation, calibrate
from tokenomist.calibrate.fit import comparison_rows, mape
from tokenomist.calibrate.observations import load_measured
from tokenomist.cli.options import MaxBatchedTokens, MaxNumSeqs
from tokenomist.cli.shared import out, parse_int_list, print_json, split_csv
from tokenomist.errors import InvalidValueError


def _observations(files: list[Path], model: str, hardware: str, tp: int, pp: int, engine: str,
                  precision: str | None, kv_dtype: str, max_num_seqs: int | None = None,
                  max_batched_tokens: int | None = None) -> list[Observation]:
    if not files:
        raise InvalidValueError("give at least one results file")
    d = api.load_deployment(model, hardware, tp=tp, pp=pp, engine=engine, precision=precision,
                            kv_dtype=kv_dtype, max_num_seqs=max_num_seqs,
                            max_num_batched_tokens=max_batched_tokens)
    return [Observation(d, p) for f in files for p in load_measured(f)]


def calibrate_cmd(
    files: Annotated[list[Path], typer.Argument(help="measured runs: tokenomist bench, the "
                                                    "article's format, vllm bench serve")],
    model: Annotated[str, typer.Option(help="model that was served")],
    hardware: Annotated[str, typer.Option(help="accelerator it ran on (id or JSON file)")],
    output: Annotated[Path, typer.Option(help="profile JSON to write")],
    tp: Annotated[int, typer.Option()] = 1,
    pp: Annotated[int, typer.Option()] = 1,
    engine: Annotated[str, typer.Option(help="engine profile to start from")] = "vllm",
    precision: Annotated[str | None, typer.Option()] = None,
    kv_dtype: Annotated[str, typer.Option()] = "bf16",
    params: Annotated[str, typer.Option(help="knobs to fit (comma-separated)")]
    = ",".join(CALIBRATION_PARAMS),
    profile_id: Annotated[str | None, typer.Option("--id", help="id of the new profile")]
    = None,
    max_num_seqs: MaxNumSeqs = None,
    max_batched_tokens: MaxBatchedTokens = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Fit the cost model's efficiency knobs to measured runs; report in-sample and
    cross-validated error; write a profile for `estimate --profile`."""
    obs = _observations(files, model, hardware, tp, pp, engine, precision, kv_dtype,
                        max_num_seqs, max_batched_tokens)
    cal = calibrate(obs, params=split_csv(params),
                    profile_id=profile_id)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(cal.profile.model_dump(), indent=2) + "\n", encoding="utf-8")
    info = cal.profile.calibration
    assert info is not None
    if as_json:
        print_json({"profile": str(output), "calibration": info.model_dump(),
                    "errors": cal.fit.errors.tolist(),
                    "cv_errors": None if cal.cv_errors is None else cal.cv_errors.tolist()})
        return
    t = Table(title=f"fitted on {len(obs)} points of {model} on {hardware} (TP {tp})")
    for c in ("knob", "value", "± std. error"):
        t.add_column(c, justify="right")
    for name, value in info.params.items():
        t.add_row(name, f"{value:.4g}", f"{info.stderr.get(name, float('nan')):.2g}")
    out.print(t)
    out.print(f"in-sample MAPE {info.in_sample_mape:.1%}" + (
        f"; cross-validated ({info.cv_scheme}) MAPE {info.cv_mape:.1%}"
        if info.cv_mape is not None else ""))
    for f in info.files:
        idx = [k for k, ob in enumerate(obs) if ob.point.source == f]
        e = cal.fit.errors[idx]
        cv = ("" if cal.cv_errors is None else
              f", cross-validated {mape(cal.cv_errors[idx]):.1%}")
        out.print(f"  {f}: in-sample {mape(e):.1%}{cv}")
    out.print(f"profile written to {output}: use it with `tokenomist estimate --profile {output}`")


def compare_cmd(
    files: Annotated[list[Path], typer.Argument(help="measured runs")],
    model: Annotated[str, typer.Option()],
    hardware: Annotated[str, typer.Option()],
    tp: Annotated[int, typer.Option()] = 1,
    pp: Annotated[int, typer.Option()] = 1,
    engine: Annotated[str, typer.Option(help="engine profile id or file")] = "vllm",
    profile: Annotated[str | None, typer.Option(help="calibrated profile JSON")] = None,
    precision: Annotated[str | None, typer.Option()] = None,
    kv_dtype: Annotated[str, typer.Option()] = "bf16",
    plot: Annotated[Path | None, typer.Option(help="PNG of model vs measurement")] = None,
    max_num_seqs: MaxNumSeqs = None,
    max_batched_tokens: MaxBatchedTokens = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Model vs measurement, point by point (and as a plot)."""
    obs = _observations(files, model, hardware, tp, pp, profile or engine, precision, kv_dtype,
                        max_num_seqs, max_batched_tokens)
    rows = comparison_rows(obs)
    total = mape([r["error"] for r in rows])
    if plot:
        from tokenomist.report.plots import plot_comparison
        plot_comparison(rows, plot, title=f"{model} on {hardware}: model vs measured")
    if as_json:
        print_json({"mape": total, "points": rows})
        return
    t = Table(title=f"model vs measurement (MAPE {total:.1%})")
    for c in ("file", "point", "in/out", "measured tok/s", "model tok/s", "error"):
        t.add_column(c, justify="right")
    for r in rows:
        point = (f"B={r['batch_size']}" if r["load"] == "burst" else
                 f"C={r['concurrency']}" if r["load"] == "closed" else f"{r['request_rate']}/s")
        t.add_row(Path(r["source"]).name, point, f"{r['input_tokens']}/{r['output_tokens']:.0f}",
                  f"{r['measured_output_tokens_per_s']:,.1f}",
                  f"{r['predicted_output_tokens_per_s']:,.1f}", f"{r['error']:+.1%}")
    out.print(t)
    if plot:
        out.print(f"plot: {plot}")




def report_cmd(
    output: Annotated[Path, typer.Option(help="HTML file to write")],
    model: Annotated[str, typer.Option()] = "llama-3.3-70b",
    hardware: Annotated[str, typer.Option()] = "h100-sxm",
    tp: Annotated[int, typer.Option()] = 4,
    pp: Annotated[int, typer.Option()] = 1,
    ep: Annotated[int, typer.Option()] = 1,
    engine: Annotated[str, typer.Option(help="engine profile id or file")] = "vllm",
    profile: Annotated[str | None, typer.Option(help="calibrated profile JSON")] = None,
    precision: Annotated[str | None, typer.Option()] = None,
    kv_dtype: Annotated[str, typer.Option()] = "bf16",
    input_tokens: Annotated[int, typer.Option()] = 2035,
    output_tokens: Annotated[int, typer.Option()] = 300,
    batch_sizes: Annotated[str, typer.Option()] = "1,2,4,8,16,32,64,128,256,512",
    results: Annotated[list[Path] | None, typer.Option(help="measured runs to compare")]
    = None,
    gpu_hourly_usd: Annotated[float | None, typer.Option()] = None,
    max_num_seqs: MaxNumSeqs = None,
    max_batched_tokens: MaxBatchedTokens = None,
    ttft_p99: Annotated[float, typer.Option(help="SLO for the planning section: p99 TTFT, "
                                                 "seconds")] = 2.0,
    tpot_p99: Annotated[float, typer.Option(help="SLO for the planning section: p99 TPOT, "
                                                 "ms")] = 50.0,
    compare_hardware: Annotated[str, typer.Option(
        help="accelerators on the frontier plot")] = "h100-sxm,h200,b200,mi300x",
) -> None:
    """One self-contained HTML report: plots, tables, assumptions, calibration error."""
    from tokenomist.report.html import ReportInputs, build_report

    d = api.load_deployment(model, hardware, tp=tp, pp=pp, ep=ep, precision=precision,
                            kv_dtype=kv_dtype, engine=profile or engine,
                            max_num_seqs=max_num_seqs,
                            max_num_batched_tokens=max_batched_tokens)
    from tokenomist.plan import SLO
    page = build_report(ReportInputs(
        d, input_tokens, output_tokens, parse_int_list(batch_sizes), results or [],
        gpu_hourly_usd, SLO(ttft_p99_s=ttft_p99, tpot_p99_s=tpot_p99 / 1e3),
        tuple(split_csv(compare_hardware))))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    out.print(f"report written to {output}")


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate_cmd)
    app.command("compare")(compare_cmd)
    app.command("report")(report_cmd)
