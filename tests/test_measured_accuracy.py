"""Accuracy of the shipped defaults against published measurements.

- The 28 vLLM bursts of the article (Llama 3.3 70B TP4 and Llama 3.1 8B TP1 on H100, two
  shapes each): one `vllm` profile and one `h100-sxm` entry, no per-file fitting, must
  give output tokens/s within 10% mean absolute percentage error.
- The TensorRT-LLM perf-overview rows (Llama 3.1 8B FP8 on H100 and H200, trtllm-bench
  offline), with trtllm-bench's own sizing of max_batch_size and max_num_tokens: each
  within 25%.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tokenomist import estimate, load_deployment
from tokenomist.bench import load_article_results
from tokenomist.deploy.engine_tuning import trtllm_bench_limits

DATA = Path(__file__).parent / "data" / "measurements"
FILES = {
    "vllm_llama-3.3-70b_4xh100-tp4_2035in_300out.json": ("llama-3.3-70b", 4),
    "vllm_llama-3.3-70b_4xh100-tp4_16035in_1000out.json": ("llama-3.3-70b", 4),
    "vllm_llama-3.1-8b_1xh100_2035in_300out.json": ("llama-3.1-8b", 1),
    "vllm_llama-3.1-8b_1xh100_16035in_1000out.json": ("llama-3.1-8b", 1),
}


def _file_errors(name: str, simulate: bool) -> np.ndarray:
    model, tp = FILES[name]
    points = load_article_results(DATA / name)
    i_tok = points[0].input_tokens
    o_tok = points[0].max_output_tokens
    result = estimate(model, "h100-sxm", tp=tp, engine="vllm", input_tokens=i_tok,
                      output_tokens=o_tok, batch_sizes=[p.batch_size for p in points],
                      simulate=simulate)
    errors = []
    for measured, predicted in zip(points, result.points, strict=True):
        # the measured runs stopped a few requests early (no ignore_eos): compare the same
        # number of tokens over the predicted wall time
        tps = measured.batch_size * measured.output_tokens / predicted.elapsed_s
        errors.append(tps / measured.output_tokens_per_s - 1.0)
    return np.array(errors)


@pytest.mark.parametrize("simulate", [False, True], ids=["closed-form", "simulator"])
def test_vllm_h100_measurements_within_10_percent(simulate: bool) -> None:
    all_errors = []
    print()
    for name in FILES:
        errors = _file_errors(name, simulate)
        all_errors.extend(errors)
        print(f"{name:55s} MAPE {np.mean(np.abs(errors)):6.2%}  per point: "
              + " ".join(f"{e:+.1%}" for e in errors))
    mape = float(np.mean(np.abs(all_errors)))
    print(f"{len(all_errors)} points, MAPE {mape:.2%}, worst {np.max(np.abs(all_errors)):.1%}")
    assert len(all_errors) == 28
    assert mape <= 0.10


# (row, hardware, ISL, OSL, measured output tok/s, requests) from tests/data/dev-ground-truth.md
TRT_ROWS = [
    ("T1", "h100-sxm", 128, 128, 28312, 30000), ("T2", "h100-sxm", 1000, 1000, 15220, 3000),
    ("T3", "h100-sxm", 2048, 2048, 9305, 3000), ("T4", "h100-sxm", 2048, 128, 3450, 3000),
    ("T5", "h100-sxm", 20000, 2000, 1351, 3000), ("T6", "h200", 128, 128, 27911, 30000),
    ("T7", "h200", 1000, 1000, 17744, 3000), ("T8", "h200", 2048, 2048, 12194, 3000),
    ("T9", "h200", 20000, 2000, 1804, 3000),
]


@pytest.mark.parametrize(("row", "hw", "isl", "osl", "measured", "requests"), TRT_ROWS,
                         ids=[r[0] for r in TRT_ROWS])
def test_trtllm_rows_within_25_percent(row: str, hw: str, isl: int, osl: int,
                                       measured: float, requests: int) -> None:
    from tokenomist.deploy import resolve_engine
    # trtllm-bench: FP8 checkpoint (FP8 KV cache), KV gets 0.95 of free memory, and the
    # batch-size / token-budget limits come from its own tuning heuristic
    engine = resolve_engine("trtllm").with_scheduler(memory_fraction=0.95)
    base = load_deployment("llama-3.1-8b", hw, precision="fp8", kv_dtype="fp8", engine=engine)
    bs, tokens = trtllm_bench_limits(base, isl, osl, kv_mem_fraction=0.95)
    engine = engine.with_scheduler(max_num_seqs=bs, max_num_batched_tokens=tokens,
                                   cuda_graph_max_batch=bs)
    result = estimate("llama-3.1-8b", hw, tp=1, precision="fp8", kv_dtype="fp8",
                      engine=engine, input_tokens=isl, output_tokens=osl,
                      batch_sizes=[requests])
    predicted = result.points[0].output_tokens_per_s
    print(f"\n{row} {hw} {isl}/{osl}: predicted {predicted:,.0f} tok/s, measured "
          f"{measured:,} ({predicted / measured - 1:+.1%})")
    assert predicted == pytest.approx(measured, rel=0.25)
