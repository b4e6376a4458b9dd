"""Options shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

MaxNumSeqs = Annotated[int | None, typer.Option(
    help="override the engine's sequences at once (vLLM --max-num-seqs, llama-server "
         "--parallel)")]
MaxBatchedTokens = Annotated[int | None, typer.Option(
    help="override the engine's token budget per step (vLLM --max-num-batched-tokens, "
         "llama-server --ubatch-size)")]
