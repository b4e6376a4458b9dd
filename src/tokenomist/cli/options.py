"""Options shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

from tokenomist.arch.presets import resolve_model
from tokenomist.deploy.speculative import Speculation

MaxNumSeqs = Annotated[int | None, typer.Option(
    help="override the engine's sequences at once (vLLM --max-num-seqs, llama-server "
         "--parallel)")]
MaxBatchedTokens = Annotated[int | None, typer.Option(
    help="override the engine's token budget per step (vLLM --max-num-batched-tokens, "
         "llama-server --ubatch-size)")]

TtftOpt = Annotated[float | None, typer.Option(help="SLO: p99 time to first token, seconds")]
TpotOpt = Annotated[float | None, typer.Option(help="SLO: p99 time per output token, ms")]
UserOpt = Annotated[float | None, typer.Option(help="SLO: minimum tokens/s per user")]
InOpt = Annotated[str, typer.Option(help="input tokens: N, uniform:A,B, normal:M,S or "
                                         "lognormal:MEDIAN,SIGMA")]
OutOpt = Annotated[str, typer.Option(help="output tokens (same forms as --input)")]
PrefixOpt = Annotated[float, typer.Option(help="share of each prompt served from a prefix "
                                               "cache (0..1)")]
SpecMethodOpt = Annotated[str | None, typer.Option(
    help="speculative decoding: draft (a draft model) or mtp (multi-token prediction)")]
SpecDraftOpt = Annotated[str | None, typer.Option(help="draft model (preset, HF id or "
                                                       "config.json)")]
SpecTokensOpt = Annotated[int, typer.Option(help="speculative tokens proposed per step")]
SpecAccOpt = Annotated[float, typer.Option(help="per-token acceptance rate (0..1)")]
ImbalanceOpt = Annotated[float, typer.Option(
    help="MoE with EP: busiest expert rank's tokens over the mean (>= 1)")]


def speculation(method: str | None, draft: str | None, tokens: int,
                acceptance: float) -> Speculation | None:
    if method is None:
        if draft is not None:
            method = "draft"
        else:
            return None
    # (Speculation checks the method)
    return Speculation(method=method,  # type: ignore[arg-type]
                       num_tokens=tokens, acceptance=acceptance,
                       draft_model=resolve_model(draft) if draft else None)
