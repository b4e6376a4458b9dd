"""The ``tokenomist`` command line: a thin layer over the Python API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tokenomist import api
from tokenomist.arch import accounting as acc
from tokenomist.arch.presets import preset_ids, resolve_model
from tokenomist.cli.options import (
    ImbalanceOpt,
    MaxBatchedTokens,
    MaxNumSeqs,
    PrefixOpt,
    SpecAccOpt,
    SpecDraftOpt,
    SpecMethodOpt,
    SpecTokensOpt,
    speculation,
)
from tokenomist.cli.shared import err, out, parse_int_list, print_json
from tokenomist.deploy.engine import builtin_engines
from tokenomist.errors import InvalidValueError, TokenomistError
from tokenomist.hardware.catalog import builtin_catalog, resolve_hardware
from tokenomist.perf.memory import keep_freed_memory
from tokenomist.precision import WEIGHT_PRECISIONS

app = typer.Typer(
    name="tokenomist",
    help="What does a token cost, and why? Performance and cost model of LLM inference.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fmt(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def _human(n: float) -> str:
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:,.2f} {unit}"
    return f"{n:,.0f}"


# ----------------------------------------------------------------------------- model
@app.command("model")
def model_cmd(
    model: Annotated[str, typer.Argument(help="preset id, Hugging Face repo id of a preset, or "
                                              "path to a config.json")],
    context: Annotated[int, typer.Option(help="sequence length for KV and FLOP figures")] = 2048,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Architecture accounting: parameters, weight and KV-cache bytes, FLOPs."""
    if context < 1:
        raise InvalidValueError(f"--context must be a positive integer, got {context}")
    arch = resolve_model(model)
    if context > arch.max_context:
        raise InvalidValueError(f"--context {context} exceeds the {arch.max_context}-token "
                                f"context of {arch.name}")
    p = acc.param_breakdown(arch)
    kv_tok = acc.kv_bytes_per_token(arch, "bf16")
    data = {
        "model": arch.name, "model_type": arch.model_type, "hf_repo": arch.hf_repo,
        "layers": arch.num_layers, "hidden_size": arch.hidden_size,
        "vocab_size": arch.vocab_size, "attention": arch.attention.kind,
        "max_context": arch.max_context,
        "params": {"total": p.total, "active": p.active, "embedding": p.embedding,
                   "lm_head": p.lm_head, "attention": p.attention, "dense_mlp": p.dense_mlp,
                   "routed_experts": p.routed_experts, "shared_experts": p.shared_experts,
                   "router": p.router, "norms": p.norms},
        "weight_bytes": {prec: acc.weight_bytes(arch, prec) for prec in
                         ("bf16", "fp8", "int4", "fp4")},
        "weight_bytes_checkpoint": acc.weight_bytes(arch, None),
        "kv_bytes_per_token": {"bf16": kv_tok, "fp8": acc.kv_bytes_per_token(arch, "fp8")},
        "context": context,
        "kv_cache_bytes_at_context": float(acc.kv_cache_bytes(arch, context)),
        "prefill_flops_at_context": float(acc.prefill_flops(arch, context)),
        "decode_flops_per_token_at_context": float(acc.decode_flops(arch, context)),
        "windows": [w for w in arch.windows if w is not None],
        "notes": list(arch.notes),
    }
    if as_json:
        print_json(data)
        return
    t = Table(title=f"{arch.name} ({arch.model_type}, {arch.num_layers} layers, "
                    f"{arch.attention.kind.upper()} attention)")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_row("total parameters", f"{p.total:,} ({_human(p.total)})")
    t.add_row("active parameters per token", f"{p.active:,} ({_human(p.active)})")
    for name in ("embedding", "lm_head", "attention", "dense_mlp", "routed_experts",
                 "shared_experts", "router", "norms"):
        value = getattr(p, name)
        if value:
            t.add_row(f"  {name.replace('_', ' ')}", f"{value:,}")
    for prec, b in data["weight_bytes"].items():  # type: ignore[union-attr]
        t.add_row(f"weights at {prec}", f"{b / 1e9:,.2f} GB")
    t.add_row("weights as published", f"{acc.weight_bytes(arch, None) / 1e9:,.2f} GB")
    t.add_row("KV cache per token (bf16, all layers)", f"{kv_tok:,.0f} B")
    t.add_row(f"KV cache of {context:,} tokens (bf16)",
              f"{data['kv_cache_bytes_at_context']:,.0f} B")
    t.add_row(f"prefill FLOPs for {context:,} tokens", f"{data['prefill_flops_at_context']:.4g}")
    t.add_row(f"decode FLOPs per token at context {context:,}",
              f"{data['decode_flops_per_token_at_context']:.4g}")
    if data["windows"]:
        counts = ", ".join(f"{arch.layers_with_window(w)} layers with window {w}"
                           for w in arch.windows if w is not None)
        t.add_row("sliding windows", f"{counts}; {arch.layers_with_window(None)} full")
    t.add_row("max context", f"{arch.max_context:,}")
    out.print(t)
    for note in arch.notes:
        out.print(f"[dim]note: {note}[/dim]")


@app.command("models")
def models_cmd() -> None:
    """List the model presets."""
    t = Table(title="model presets")
    for col in ("id", "hugging face repo", "type", "total params", "active params"):
        t.add_column(col)
    from tokenomist.arch.presets import load_preset
    for pid in preset_ids():
        arch = load_preset(pid)
        p = acc.param_breakdown(arch)
        t.add_row(pid, arch.hf_repo or "", arch.model_type, _human(p.total), _human(p.active))
    out.print(t)


# -------------------------------------------------------------------------- hardware
@app.command("hardware")
def hardware_cmd(
    accelerator: Annotated[str | None, typer.Argument(
        help="an id, or a JSON file of your own accelerator(s); omit to list the catalog")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    probe_cpu: Annotated[Path | None, typer.Option(
        help="measure this machine's CPU (memory bandwidth, matrix FLOP/s) and write it as "
             "an accelerator JSON usable as --hardware")] = None,
    probe_id: Annotated[str, typer.Option(help="id of the probed accelerator")] = "this-cpu",
    probe_threads: Annotated[int | None, typer.Option(
        help="threads the engine will use (llama-server -t); default: all cores")] = None,
) -> None:
    """The accelerator catalog (or one accelerator in detail)."""
    if probe_cpu is not None:
        from tokenomist.hardware.probe import probe_cpu as _probe
        acc = _probe(probe_id, threads=probe_threads)
        probe_cpu.parent.mkdir(parents=True, exist_ok=True)
        probe_cpu.write_text(json.dumps(acc.model_dump(exclude_none=True), indent=2) + "\n",
                             encoding="utf-8")
        accelerator = str(probe_cpu)
    accs = [resolve_hardware(accelerator)] if accelerator else list(builtin_catalog().values())
    if as_json:
        print_json([a.model_dump() for a in accs])
        return
    t = Table(title="accelerators" if not accelerator else accs[0].name)
    for col in ("id", "memory", "bandwidth", "bf16", "fp8", "int8", "fp4", "scale-up",
                "TDP", "$/h on-demand", "$/h low-cost"):
        t.add_column(col, justify="right" if col not in ("id", "scale-up") else "left")
    for a in accs:
        def peak(dt: str, a: Any = a) -> str:
            v = a.peak_tflops.get(dt)
            return "-" if not v else f"{v:,.0f}" if v >= 10 else f"{v:.3g}"

        def price(tier: str, a: Any = a) -> str:
            p = a.price(tier)
            return f"{p.usd_per_hour:.2f}" if p else "-"
        scale = f"{a.scale_up.name} {a.scale_up.bandwidth_gbps:,.0f} GB/s" if a.scale_up else "-"
        t.add_row(a.id, f"{a.memory_gb:g} GB", f"{a.memory_bandwidth_tbps:g} TB/s", peak("bf16"),
                  peak("fp8"), peak("int8"), peak("fp4"), scale,
                  f"{a.tdp_w:g} W" if a.tdp_w else "-", price("on_demand"), price("low_cost"))
    out.print(t)
    out.print("[dim]dense peak TFLOPS (TOPS for int8); scale-up bandwidth as quoted by the "
              "vendor (both directions); prices in USD per accelerator-hour[/dim]")
    if accelerator:
        a = accs[0]
        for p in a.rental:
            out.print(f"  {p.tier}: ${p.usd_per_hour:.2f}/h {p.provider} ({p.date}; {p.source})")
        for s in a.sources:
            out.print(f"  source: {s}")
        if a.notes:
            out.print(f"  note: {a.notes}")


@app.command("engines")
def engines_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The engine profiles: scheduler limits and efficiency priors."""
    engines = builtin_engines()
    if as_json:
        print_json([e.model_dump() for e in engines.values()])
        return
    t = Table(title="engine profiles")
    for col in ("id", "max seqs", "token budget", "chunked", "mixed", "mem frac", "admission",
                "flops", "bandwidth", "step overhead"):
        t.add_column(col)
    for e in engines.values():
        s, f = e.scheduler, e.efficiency
        t.add_row(e.id, str(s.max_num_seqs), str(s.max_num_batched_tokens),
                  "yes" if s.chunked_prefill else "no", "yes" if s.mixed_batches else "no",
                  f"{s.memory_fraction:.2f}", s.admission, f"{f.flops:.2f}",
                  f"{f.bandwidth:.2f}", f"{f.step_overhead_s * 1e3:.2f} ms")
    out.print(t)
    for e in engines.values():
        out.print(f"[bold]{e.id}[/bold]: {e.name}; {e.version}")


# -------------------------------------------------------------------------- estimate
@app.command("estimate")
def estimate_cmd(
    model: Annotated[str, typer.Option(help="preset id, HF repo id or config.json path")]
    = "llama-3.3-70b",
    hardware: Annotated[str, typer.Option(help="accelerator id or JSON file")] = "h100-sxm",
    tp: Annotated[int, typer.Option(help="tensor-parallel degree")] = 4,
    pp: Annotated[int, typer.Option(help="pipeline-parallel degree")] = 1,
    ep: Annotated[int, typer.Option(help="expert-parallel degree (MoE)")] = 1,
    precision: Annotated[str | None, typer.Option(
        help=f"weight precision: {', '.join(WEIGHT_PRECISIONS)} (default: the checkpoint's)")]
    = None,
    kv_dtype: Annotated[str, typer.Option(help="KV-cache dtype: bf16, fp8, int8")] = "bf16",
    engine: Annotated[str, typer.Option(help="engine profile id or JSON file")] = "vllm",
    profile: Annotated[str | None, typer.Option(
        help="calibrated engine profile (JSON) to use instead of --engine")] = None,
    input_tokens: Annotated[int, typer.Option(help="prompt tokens per request")] = 2035,
    output_tokens: Annotated[int, typer.Option(help="generated tokens per request")] = 300,
    batch_sizes: Annotated[str, typer.Option(help="comma-separated burst sizes")]
    = "1,2,4,8,16,32,64,128,256,512",
    simulate: Annotated[bool, typer.Option(help="use the step simulator instead of the "
                                                "closed form")] = False,
    max_num_seqs: MaxNumSeqs = None,
    max_batched_tokens: MaxBatchedTokens = None,
    spec_method: SpecMethodOpt = None,
    spec_draft: SpecDraftOpt = None,
    spec_tokens: SpecTokensOpt = 3,
    spec_acceptance: SpecAccOpt = 0.7,
    expert_imbalance: ImbalanceOpt = 1.0,
    prefix_hit_rate: PrefixOpt = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Throughput, TTFT and TPOT of bursts of identical requests, and what bounds them.

    With no options: the article's experiment (Llama 3.3 70B, 4 x H100 SXM, TP 4, vLLM,
    2035 in / 300 out, batch 1..512).
    """
    sizes = parse_int_list(batch_sizes)
    result = api.estimate(model, hardware, tp=tp, pp=pp, ep=ep, precision=precision,
                          kv_dtype=kv_dtype, engine=profile or engine,
                          input_tokens=input_tokens, output_tokens=output_tokens,
                          batch_sizes=sizes, simulate=simulate, max_num_seqs=max_num_seqs,
                          max_num_batched_tokens=max_batched_tokens,
                          speculative=speculation(spec_method, spec_draft, spec_tokens,
                                                  spec_acceptance),
                          expert_imbalance=expert_imbalance, prefix_hit_rate=prefix_hit_rate)
    if as_json:
        print_json(result.model_dump())
        return
    m = result.memory
    out.print(f"[bold]{result.model}[/bold] on {result.num_gpus} x {result.hardware} "
              f"(TP {result.tp}, PP {result.pp}, EP {result.ep}), {result.engine}, weights "
              f"{result.precision}, KV {result.kv_dtype}; {input_tokens} in / "
              f"{output_tokens} out")
    out.print(f"memory per GPU: weights {m.weights_gb:.1f} GB, KV cache {m.kv_cache_gb:.1f} GB "
              f"= {m.kv_tokens:,} tokens; up to {m.max_sequences} such requests at once")
    t = Table(title=f"bursts ({result.method.replace('_', ' ')})")
    for col in ("B", "elapsed s", "out tok/s", "tok/s/req", "TTFT s", "TPOT ms", "bound",
                "compute s", "memory s", "comm s", "overhead s"):
        t.add_column(col, justify="right")
    for p in result.points:
        b = p.breakdown_s
        t.add_row(str(p.batch_size), _fmt(p.elapsed_s, 2), _fmt(p.output_tokens_per_s),
                  _fmt(p.request_tokens_per_s), _fmt(p.ttft_s, 3), _fmt(p.tpot_s * 1e3, 1),
                  p.bottleneck, _fmt(b.compute, 2), _fmt(b.memory, 2),
                  _fmt(b.communication, 2), _fmt(b.overhead, 2))
    out.print(t)
    for w in result.warnings:
        out.print(f"[yellow]note:[/yellow] {w}")


def _register_commands() -> None:
    from tokenomist.cli.bench_cmd import register as register_bench
    from tokenomist.cli.calibrate_cmd import register as register_calibrate
    from tokenomist.cli.economics_cmds import register as register_economics
    from tokenomist.cli.plan_cmd import register as register_plan
    register_economics(app)
    register_plan(app)
    register_bench(app)
    register_calibrate(app)


_register_commands()


def main() -> None:
    """Console entry point: user errors become a message and exit status 2."""
    keep_freed_memory()  # (the estimator's large arrays reuse memory: see perf.memory)
    try:
        app()
    except TokenomistError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise SystemExit(2) from None
    except OSError as exc:  # an output path that cannot be written, a file not readable
        err.print(f"[red]error:[/red] {exc.strerror or exc}: {exc.filename or ''}",
                  highlight=False)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        err.print("aborted")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
