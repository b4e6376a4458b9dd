"""The step simulator follows the engine's scheduler."""

from __future__ import annotations

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
