"""The step simulator follows the engine's scheduler."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tokenomist import load_deployment
from tokenomist.deploy import resolve_engine
from tokenomist.errors import InvalidValueError
from tokenomist.perf import Requests, Simulator


def test_single_request_timeline() -> None:
    d = load_deployment("llama-3.1-8b", "h100-sxm", tp=1)
    r = Simulator(d).run(Requests.burst(1, 4096, 10))
    # 4096 tokens with a 2048-token budget: two prefill steps, then 9 decode steps
    assert r.steps == 2 + 9
    assert r.ttft_s[0] > 0 and r.finish_s[0] > r.first_token_s[0]
    assert r.preemptions == 0


def test_max_num_seqs_makes_later_requests_wait() -> None:
    eng = resolve_engine("vllm").with_scheduler(max_num_seqs=4)
    d = load_deployment("llama-3.1-8b", "h100-sxm", tp=1, engine=eng)
    r = Simulator(d).run(Requests.burst(8, 100, 50))
    assert r.max_running == 4
    first = np.sort(r.first_token_s)
    # the second four get their first token only after the first four have finished
    assert first[4] >= np.sort(r.finish_s)[3] - 1e-9


def test_prompt_admission_preempts_and_full_admission_does_not() -> None:
    # a KV cache of only ~12k tokens for Qwen3-32B in bf16 on an 80 GB GPU
    vllm = load_deployment("qwen3-32b", "h100-sxm", tp=1, engine="vllm")
    reqs = Requests.burst(16, 1000, 2000)
    r = Simulator(vllm).run(reqs)
    assert r.preemptions > 0
    assert np.all(np.isfinite(r.finish_s))
    full = resolve_engine("vllm").with_scheduler(admission="full")
    r2 = Simulator(load_deployment("qwen3-32b", "h100-sxm", tp=1, engine=full)).run(reqs)
    assert r2.preemptions == 0
    fits = full_fit = vllm.memory.max_sequences(3000, 256)
    assert r2.max_running <= full_fit and fits >= 1


def test_arrivals_are_respected() -> None:
    d = load_deployment("llama-3.1-8b", "h100-sxm", tp=1)
    reqs = Requests.of([0.0, 5.0, 10.0], [500, 500, 500], [20, 20, 20])
    r = Simulator(d).run(reqs)
    assert np.all(r.first_token_s > reqs.arrival_s)
    # lightly loaded: every request sees the same latency
    assert np.ptp(r.e2e_s) < 0.01 * np.mean(r.e2e_s)


def test_heterogeneous_requests_finish_in_length_order() -> None:
    d = load_deployment("llama-3.1-8b", "h100-sxm", tp=1)
    reqs = Requests.of(np.zeros(3), [100, 100, 100], [10, 100, 1000])
    r = Simulator(d).run(reqs)
    assert r.finish_s[0] < r.finish_s[1] < r.finish_s[2]


def test_prefill_priority_engine_pauses_decodes() -> None:
    d = load_deployment("llama-3.1-8b", "h100-sxm", tp=1, engine="sglang")
    reqs = Requests.of([0.0, 0.05], [100, 30000], [200, 10])
    r = Simulator(d).run(reqs)
    d2 = load_deployment("llama-3.1-8b", "h100-sxm", tp=1, engine="sglang")
    alone = Simulator(d2).run(Requests.of([0.0], [100], [200]))
    # the long prompt's prefill stalls the first request's decoding
    assert r.e2e_s[0] > alone.e2e_s[0] + 0.5


def test_prompt_longer_than_budget_without_chunking_is_rejected() -> None:
    d = load_deployment("llama-3.1-8b", "h100-sxm", tp=1, engine="trtllm")
    with pytest.raises(InvalidValueError, match="does not chunk"):
        Simulator(d).run(Requests.burst(1, 10000, 10))


def test_simulation_is_deterministic_and_counts_tokens() -> None:
    d = load_deployment("llama-3.3-70b", "h100-sxm", tp=4)
    reqs = Requests.burst(64, 2035, 300)
    a, b = Simulator(d).run(reqs), Simulator(d).run(reqs)
    assert a.elapsed_s == b.elapsed_s
    assert sum(a.breakdown_s.values()) == pytest.approx(a.busy_s)


def _same_run(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.steps == b.steps
    assert a.preemptions == b.preemptions
    assert a.max_running == b.max_running
    np.testing.assert_array_equal(np.isnan(a.first_token_s), np.isnan(b.first_token_s))
    np.testing.assert_allclose(a.first_token_s, b.first_token_s, rtol=1e-12)
    np.testing.assert_allclose(a.finish_s, b.finish_s, rtol=1e-12)
    assert b.busy_s == pytest.approx(a.busy_s, rel=1e-12)
    assert b.prefill_s == pytest.approx(a.prefill_s, rel=1e-9, abs=1e-12)
    for key, value in a.breakdown_s.items():
        assert b.breakdown_s[key] == pytest.approx(value, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("model", "tp", "engine", "i_tok", "o_tok", "rate"), [
    ("llama-3.1-8b", 1, "vllm", 2035, 300, 6.0),  # CUDA graphs up to a context of 8192
    ("qwen3-32b", 1, "vllm", 1500, 1500, 3.0),  # a small KV cache: preemptions
    ("llama-3.3-70b", 4, "trtllm", 2000, 300, 5.0),  # whole prompts, full reservation
    ("llama-3.1-8b", 1, "sglang", 2000, 300, 8.0),  # prefill-priority steps
    ("qwen3-30b-a3b", 1, "llamacpp", 500, 100, 2.0),  # MoE, 4 slots
    # sliding windows: keys that stop growing at 1024 (Gemma 3) or 128 (gpt-oss) tokens,
    # pages freed as the windows slide; Gemma's small cache preempts
    ("gemma-3-27b", 1, "vllm", 800, 600, 4.0),
    ("gemma-3-27b", 1, "trtllm", 800, 600, 3.0),
    ("gpt-oss-120b", 1, "vllm", 100, 300, 40.0),
    ("gpt-oss-20b", 1, "sglang", 100, 300, 40.0),
])
def test_incremental_scheduler_matches_the_array_scheduler(model: str, tp: int, engine: str,
                                                           i_tok: int, o_tok: int,
                                                           rate: float) -> None:
    """The incremental scheduler (full attention) makes the array scheduler's decisions:
    same steps, preemptions and per-request times, on varied lengths under Poisson load
    and on a burst."""
    d = load_deployment(model, "h100-sxm", tp=tp, engine=engine)
    rng = np.random.default_rng(7)
    n = 400
    varied = Requests.poisson(rate, n, rng.integers(10, 2 * i_tok, n),
                              rng.integers(1, 2 * o_tok, n), seed=3)
    for reqs in (varied, Requests.burst(300, i_tok, o_tok), varied.with_cached_prefix(0.5)):
        ref = Simulator(d, fast=False).run(reqs)
        fast = Simulator(d).run(reqs)
        _same_run(ref, fast)
    if model in ("qwen3-32b", "gemma-3-27b") and engine == "vllm":
        assert ref.preemptions > 0  # the preemption path was exercised


def test_incremental_scheduler_with_speculative_decoding() -> None:
    from tokenomist.arch import resolve_model
    from tokenomist.deploy.speculative import Speculation

    for spec in (Speculation("draft", 4, 0.7, draft_model=resolve_model("llama-3.1-8b")),
                 Speculation("draft", 3, 0.6, draft_model=resolve_model("gemma-3-27b"))):
        d = replace(load_deployment("llama-3.3-70b", "h100-sxm", tp=4), speculative=spec)
        reqs = Requests.poisson(3.0, 300, 1000, 400, seed=5)
        _same_run(Simulator(d, fast=False).run(reqs), Simulator(d).run(reqs))


@pytest.mark.parametrize("model", ["llama-3.1-8b", "qwen3-30b-a3b", "deepseek-v3"])
def test_decode_stretch_in_closed_form_equals_step_by_step(model: str) -> None:
    """A pure-decode stretch summed in closed form (the line of the step time in the keys)
    equals the cost model evaluated step by step, and stops at the step during which the
    next request arrives."""
    from tokenomist.perf.step_cost import decode_load

    tp = 8 if model == "deepseek-v3" else 1
    d = load_deployment(model, "h200" if tp == 8 else "h100-sxm", tp=tp,
                        precision="fp8" if tp == 8 else None)
    sim = Simulator(d)
    ctx0 = np.array([900.0, 1500.0, 2100.0, 3000.0, 611.0])
    k_max = 700
    j = np.arange(1, k_max + 1, dtype=float)
    per_step = sim.cost.step_time(decode_load(np.full(k_max, 5.0), ctx0.mean() + j,
                                              d.model.windows))
    k, dt, parts = sim.stretch_steps(ctx0.size, ctx0, k_max, float("inf"))
    assert k == k_max
    assert dt == pytest.approx(float(np.sum(per_step.total)), rel=1e-9)
    assert parts["memory"] == pytest.approx(float(np.sum(per_step.memory)), rel=1e-9)
    cum = np.cumsum(per_step.total)
    until = float(cum[299] + cum[300]) / 2.0  # an arrival during step 301
    k, dt, _ = sim.stretch_steps(ctx0.size, ctx0, k_max, until)
    assert k == 301
    assert dt == pytest.approx(float(cum[300]), rel=1e-9)


def test_incremental_scheduler_with_every_layer_windowed(tmp_path: Path) -> None:
    """A Mistral-7B-v0.1-style config (every layer slides, no full attention): a decoder
    whose context sits in the last page below the window holds a full window's pages and
    never needs another (the incremental scheduler used to search for it forever)."""
    import json
    import signal
    from importlib import resources

    preset = json.loads(resources.files("tokenomist").joinpath(
        "data/models/llama-3.1-8b.json").read_text())
    cfg = {**preset["config"], "model_type": "mistral", "sliding_window": 4096}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    d = load_deployment(str(tmp_path / "config.json"), "h100-sxm", tp=1)
    assert d.model.windows == (4096,)
    rng = np.random.default_rng(5)
    varied = Requests.poisson(20.0, 300, rng.integers(10, 6000, 300),
                              rng.integers(1, 600, 300), seed=2)
    # (a scheduler that searches forever fails the test instead of hanging it)
    def too_long(*_: object) -> None:
        raise TimeoutError("the incremental scheduler did not finish in 300 s")

    alarm = getattr(signal, "SIGALRM", None)
    before = signal.signal(alarm, too_long) if alarm is not None else None
    if alarm is not None:
        signal.alarm(300)
    try:
        for reqs in (Requests.burst(1, 4090, 20), Requests.burst(64, 4000, 200), varied):
            _same_run(Simulator(d, fast=False).run(reqs), Simulator(d).run(reqs))
    finally:
        if alarm is not None:
            signal.alarm(0)
            signal.signal(alarm, before)
