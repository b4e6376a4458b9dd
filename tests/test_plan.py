"""Planning: physics of the what-ifs, the frontier, goodput against queueing theory,
disaggregation, and the plan / simulate / disagg commands."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tokenomist import load_deployment
from tokenomist.arch import resolve_model
from tokenomist.deploy.speculative import Speculation
from tokenomist.errors import InvalidValueError
from tokenomist.perf.simulator import Requests, Simulator
from tokenomist.perf.steady_state import steady_state
from tokenomist.perf.step_cost import CostModel, decode_load
from tokenomist.plan import SLO, Workload, pareto_front, plan
from tokenomist.plan.disaggregation import compare
from tokenomist.plan.goodput import max_rate_within_slo, open_loop
from tokenomist.testing.cli import run_cli


# ----------------------------------------------------------------------------- frontier
def test_pareto_front_by_hand() -> None:
    # (x = tokens/s per user, y = tokens/s per GPU)
    x = [10, 20, 20, 30, 5, 25, 40]
    y = [900, 700, 650, 300, 950, 300, 100]
    idx = pareto_front(x, y).tolist()
    # (20, 650) is beaten by (20, 700); (25, 300) by (30, 300)
    assert [(x[i], y[i]) for i in idx] == [(5, 950), (10, 900), (20, 700), (30, 300),
                                           (40, 100)]


def test_plan_frontier_is_monotone_and_undominated() -> None:
    r = plan("llama-3.3-70b", Workload.fixed(2035, 300), SLO(min_tokens_per_user=30))
    assert set(r.frontier) == {"h100-sxm", "h200", "b200", "mi300x"}
    for hw, front in r.frontier.items():
        xs = np.array([c.tokens_per_s_per_user for c in front])
        ys = np.array([c.tokens_per_s_per_gpu for c in front])
        assert np.all(np.diff(xs) > 0) and np.all(np.diff(ys) < 0), hw
        for c in (c for c in r.configs if c.candidate.deployment.hardware.id == hw):
            dominated = (xs >= c.tokens_per_s_per_user) & (ys >= c.tokens_per_s_per_gpu)
            assert np.any(dominated)  # every configuration is matched by the frontier
    best = r.best
    assert best is not None and best.meets_slo and best.tokens_per_s_per_user >= 30
    ok = [c for c in r.configs if c.meets_slo]
    assert best.usd_per_million_output == min(c.usd_per_million_output for c in ok)
    # the all-in cost is the hourly price over the tokens made in an hour
    d = best.candidate.deployment
    assert best.usd_per_million_output == pytest.approx(
        best.candidate.usd_per_gpu_hour / 3600 / best.tokens_per_s_per_gpu * 1e6)
    assert any("runner-up" in line for line in r.explanation)
    assert any("-bound" in line for line in r.explanation)
    assert d.num_gpus == best.candidate.deployment.tp


# ----------------------------------------------------------------------------- quantization
def test_fp8_weights_halve_traffic_and_help_decode_not_prefill_without_fp8_units() -> None:
    for hw in ("a100-80gb", "h100-sxm"):
        bf = load_deployment("llama-3.1-8b", hw, precision="bf16")
        f8 = load_deployment("llama-3.1-8b", hw, precision="fp8")
        cb, c8 = CostModel(bf), CostModel(f8)
        assert c8.c.dense_bytes == pytest.approx(cb.c.dense_bytes / 2)  # weight traffic
        # the memory freed goes to the KV cache
        freed = bf.memory.weight_bytes - f8.memory.weight_bytes
        assert f8.memory.kv_bytes - bf.memory.kv_bytes == pytest.approx(freed)
        # decode at batch 1 is memory bound: about the weight-byte ratio faster
        one = decode_load(1.0, 1000.0, bf.model.windows)
        t_b, t_8 = float(cb.step_time(one).total), float(c8.step_time(one).total)
        assert 1.6 < t_b / t_8 < 2.0
        # prefill of 8k tokens is compute bound: faster only where fp8 units exist
        pre_b = steady_state(bf, 8000, 2, [1]).mixed_step_s[0]
        pre_8 = steady_state(f8, 8000, 2, [1]).mixed_step_s[0]
        if hw == "a100-80gb":  # no fp8 units: the GEMMs run in bf16 after dequantizing
            assert pre_8 == pytest.approx(pre_b, rel=0.02)
        else:
            assert pre_b / pre_8 > 1.5
    # an fp8 KV cache holds twice the tokens
    kv16 = load_deployment("llama-3.1-8b", "h100-sxm", kv_dtype="bf16").memory
    kv8 = load_deployment("llama-3.1-8b", "h100-sxm", kv_dtype="fp8").memory
    assert kv8.kv_tokens == pytest.approx(2 * kv16.kv_tokens, rel=0.01)


# ----------------------------------------------------------------------------- speculation
def test_expected_tokens_per_step_by_hand() -> None:
    assert Speculation("mtp", 3, 0.5).tokens_per_step == pytest.approx(1.875)
    assert Speculation("mtp", 2, 1.0).tokens_per_step == 3.0
    assert Speculation("mtp", 4, 0.0).tokens_per_step == 1.0


@pytest.mark.parametrize("method", ["draft", "mtp"])
def test_speculation_with_zero_acceptance_never_helps(method: str) -> None:
    target = load_deployment("llama-3.3-70b", "h100-sxm", tp=4)
    draft = resolve_model("llama-3.1-8b") if method == "draft" else None
    conc = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    base = steady_state(target, 2000, 300, conc)
    for k in (1, 3, 5):
        spec = replace(target, speculative=Speculation(method, k, 0.0, draft))  # type: ignore[arg-type]
        s = steady_state(spec, 2000, 300, conc)
        same = s.running == base.running  # as many sequences in flight
        assert np.sum(same) >= 6
        assert np.all(s.tpot_s[same] > base.tpot_s[same])
        assert np.all(s.output_tokens_per_s[same] < base.output_tokens_per_s[same])
        # and nowhere on the frontier: every speculative point is beaten by a plain one
        for x, y in zip(1 / s.tpot_s, s.output_tokens_per_s, strict=True):
            assert np.any((1 / base.tpot_s >= x) & (base.output_tokens_per_s >= y))
    # with good acceptance it pays at low concurrency, where decode is memory bound
    good = replace(target, speculative=Speculation(method, 3, 0.8, draft))  # type: ignore[arg-type]
    s = steady_state(good, 2000, 300, [1])
    assert s.tpot_s[0] < 0.7 * base.tpot_s[0]
    # and the simulator agrees on a single request: fewer, costlier steps
    one = Requests.burst(1, 2000, 300)
    plain = Simulator(target).run(one)
    zero = Simulator(replace(target, speculative=Speculation(method, 3, 0.0, draft))  # type: ignore[arg-type]
                     ).run(one)
    fast = Simulator(good).run(one)
    assert zero.e2e_s[0] > plain.e2e_s[0] > fast.e2e_s[0]
    assert fast.output_tokens[0] == 300


def test_draft_model_takes_memory() -> None:
    target = load_deployment("llama-3.3-70b", "h100-sxm", tp=4)
    spec = replace(target, speculative=Speculation("draft", 3, 0.7,
                                                   resolve_model("llama-3.1-8b")))
    # the 8B draft's weights (16 GB over 4 GPUs) come out of the KV cache
    lost = target.memory.kv_bytes - spec.memory.kv_bytes
    assert lost == pytest.approx(spec.draft_deployment.weight_bytes_per_gpu, rel=1e-9)  # type: ignore[union-attr]
    assert 3.9e9 < lost < 4.2e9
    assert spec.memory.kv_tokens < target.memory.kv_tokens


# ----------------------------------------------------------------------------- prefix cache
def test_prefix_caching_saves_prefill() -> None:
    d = load_deployment("llama-3.1-8b", "h100-sxm")
    fresh = Simulator(d).run(Requests.burst(1, 8000, 10))
    hit = Simulator(d).run(Requests.burst(1, 8000, 10).with_cached_prefix(0.75))
    short = Simulator(d).run(Requests.burst(1, 2000, 10))
    # 75% cached: about the prefill of the 2,000 new tokens, plus their attention to the
    # 6,000 cached ones
    assert hit.ttft_s[0] < 0.4 * fresh.ttft_s[0]
    assert short.ttft_s[0] < hit.ttft_s[0] < 1.5 * short.ttft_s[0]
    s0 = steady_state(d, 8000, 200, [32])
    s1 = steady_state(d, 8000, 200, [32], prefix_hit_rate=0.75)
    assert s1.output_tokens_per_s[0] > s0.output_tokens_per_s[0]
    assert s1.prefill_time_share[0] < s0.prefill_time_share[0]


# ----------------------------------------------------------------------------- experts
def test_expert_parallel_all_to_all_and_imbalance() -> None:
    tp_only = load_deployment("qwen3-30b-a3b", "h100-sxm", tp=4)
    ep = load_deployment("qwen3-30b-a3b", "h100-sxm", tp=4, ep=4)
    skew = load_deployment("qwen3-30b-a3b", "h100-sxm", tp=4, ep=4, expert_imbalance=1.5)
    load = decode_load(256.0, 2000.0, ep.model.windows)
    b_tp, b_ep, b_skew = (CostModel(x).step_time(load) for x in (tp_only, ep, skew))
    assert float(b_ep.communication) > float(b_tp.communication)  # all-to-all added
    assert float(b_skew.total) > float(b_ep.total)
    assert float(b_skew.communication) > float(b_ep.communication)
    # without expert parallelism every GPU holds a slice of every expert: no hot rank
    same = CostModel(replace(tp_only, expert_imbalance=1.5)).step_time(load)
    assert float(same.total) == pytest.approx(float(b_tp.total))


# ----------------------------------------------------------------------------- steady state
@pytest.mark.parametrize(("model", "tp", "i_tok", "o_tok"), [
    ("llama-3.3-70b", 4, 2035, 300), ("llama-3.1-8b", 1, 200, 1000),
    ("qwen3-30b-a3b", 2, 1000, 500)])
def test_steady_state_agrees_with_the_simulator(model: str, tp: int, i_tok: int,
                                                o_tok: int) -> None:
    d = load_deployment(model, "h100-sxm", tp=tp)
    for conc in (1, 16, 128):
        ss = steady_state(d, i_tok, o_tok, [conc])
        n = 6 * conc if conc > 1 else 12
        # (a closed loop of conc clients: the engine runs at most conc, below its 256)
        capped = load_deployment(model, "h100-sxm", tp=tp, max_num_seqs=conc)
        r = Simulator(capped).run(Requests.burst(n, i_tok, o_tok))
        fin = np.sort(r.finish_s)
        lo, hi = fin[n // 3], fin[2 * n // 3]
        sim_tps = (2 * n // 3 - n // 3) / (hi - lo) * o_tok
        assert ss.output_tokens_per_s[0] == pytest.approx(sim_tps, rel=0.05)


def test_steady_state_obeys_littles_law_and_single_request_timing() -> None:
    """A closed loop of C clients: C = throughput x mean E2E, whether or not prefill keeps
    up; with one client, TTFT and TPOT are those of a lone request (simulated)."""
    for engine in ("vllm", "sglang", "trtllm"):
        d = load_deployment("llama-3.1-8b", "h100-sxm", engine=engine)
        for i_tok, o_tok in ((200, 2), (2035, 300), (8000, 50)):
            conc = np.array([1.0, 8.0, 64.0, 512.0])
            ss = steady_state(d, i_tok, o_tok, conc)
            # (the prompt's own chunks are a floor on TTFT: within 2%)
            np.testing.assert_allclose(ss.requests_per_s * ss.e2e_s, conc, rtol=0.02)
            assert np.all(ss.ttft_p99_s >= ss.ttft_s)
        one = Simulator(d).run(Requests.burst(1, 2035, 300))
        ss = steady_state(d, 2035, 300, [1])
        assert ss.ttft_s[0] == pytest.approx(one.ttft_s[0], rel=0.03)
        assert ss.tpot_s[0] == pytest.approx(one.tpot_s[0], rel=0.1)


# ----------------------------------------------------------------------------- goodput
def test_goodput_matches_md1_queue() -> None:
    """One request at a time (max_num_seqs 1): a single server with a deterministic
    service time S. Poisson arrivals at rate lam: the mean wait is rho S / (2 (1 - rho))
    (Pollaczek-Khinchine, M/D/1) and a share 1 - rho of requests finds the server idle."""
    d = load_deployment("llama-3.1-8b", "h100-sxm", max_num_seqs=1)
    alone = Simulator(d).run(Requests.burst(1, 1000, 20))
    service, ttft0 = float(alone.e2e_s[0]), float(alone.ttft_s[0])
    rho = 0.6
    lam = rho / service
    wl = Workload.fixed(1000, 20)
    n = 4000
    reqs = wl.requests(lam, n, seed=1)
    r = Simulator(d, attribute_prefill=False).run(reqs)
    wait = r.ttft_s - ttft0
    # request by request, the waits follow Lindley's recursion W' = max(0, W + S - gap)
    gaps = np.diff(reqs.arrival_s)
    lindley = np.zeros(n)
    for i in range(1, n):
        lindley[i] = max(0.0, lindley[i - 1] + service - gaps[i - 1])
    np.testing.assert_allclose(wait, lindley, atol=1e-6)
    # and on average the Pollaczek-Khinchine mean (sampling error of a few percent)
    assert np.mean(wait) == pytest.approx(rho * service / (2 * (1 - rho)), rel=0.1)
    # a TTFT objective just above the idle TTFT is met exactly by those who did not wait:
    # a share 1 - rho of the requests, so goodput = lam (1 - rho)
    res = open_loop(d, wl, lam, SLO(ttft_p99_s=ttft0 * 1.001), num_requests=n, seed=1)
    assert res.slo_attainment == pytest.approx(1 - rho, abs=0.03)
    assert res.goodput_rps == pytest.approx(lam * (1 - rho), rel=0.1)


def test_max_rate_within_slo_brackets_the_limit() -> None:
    d = load_deployment("llama-3.1-8b", "h100-sxm")
    wl = Workload.fixed(1000, 200)
    slo = SLO(ttft_p99_s=0.5, tpot_p99_s=0.03)
    found = max_rate_within_slo(d, wl, slo, num_requests=600)
    assert 0 < found.max_rate < found.capacity_rps
    at = open_loop(d, wl, found.max_rate, slo, num_requests=600)
    above = open_loop(d, wl, found.max_rate * 1.25, slo, num_requests=600)
    assert at.meets_slo and not above.meets_slo


# ----------------------------------------------------------------------------- disaggregation
def test_disaggregation_helps_only_when_prefill_interferes() -> None:
    d = load_deployment("llama-3.3-70b", "h100-sxm", tp=4)
    long_prompts = Workload.fixed(8000, 200)
    tight = compare(d, long_prompts, SLO(ttft_p99_s=3.0, tpot_p99_s=0.03))
    assert tight.colocated is not None and tight.disaggregated is not None
    assert tight.disaggregated.output_tokens_per_s_per_gpu > \
        1.2 * tight.colocated.output_tokens_per_s_per_gpu
    assert tight.disaggregated.tpot_s <= 0.03
    assert "disaggregation gives" in tight.verdict
    # without a TPOT objective the interference costs nothing that matters: co-located
    # serving (no KV transfer, one pool) is at least as good
    for wl in (long_prompts, Workload.fixed(2000, 300)):
        loose = compare(d, wl, SLO(ttft_p99_s=10.0))
        assert loose.colocated is not None and loose.disaggregated is not None
        assert loose.disaggregated.output_tokens_per_s_per_gpu < \
            loose.colocated.output_tokens_per_s_per_gpu
        assert "co-located serving gives" in loose.verdict


# ----------------------------------------------------------------------------- commands
def test_plan_cli_article_model_four_accelerators(tmp_path: Path) -> None:
    png = tmp_path / "frontier.png"
    r = run_cli("plan", "--min-tokens-per-user", "30", "--json", "--plot", str(png))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data["frontier"]) == {"h100-sxm", "h200", "b200", "mi300x"}
    for rows in data["frontier"].values():
        assert all(row["usd_per_million_output"] > 0 for row in rows)
    assert data["best"]["tokens_per_s_per_user"] >= 30 and data["best"]["meets_slo"]
    assert png.read_bytes()[:4] == b"\x89PNG"
    r = run_cli("plan", "--min-tokens-per-user", "30", "--hardware", "h100-sxm,b200")
    assert r.returncode == 0, r.stderr
    assert "frontier" in r.stdout and "runner-up" in r.stdout and "$/M out" in r.stdout


def test_simulate_and_disagg_cli(tmp_path: Path) -> None:
    png = tmp_path / "goodput.png"
    r = run_cli("simulate", "--model", "llama-3.1-8b", "--tp", "1", "--input", "1000",
                "--output", "100", "--request-rate", "2,8", "--num-requests", "300",
                "--ttft-p99", "1", "--tpot-p99", "40", "--json", "--plot", str(png))
    assert r.returncode == 0, r.stderr
    pts = json.loads(r.stdout)["points"]
    assert [p["rate"] for p in pts] == [2.0, 8.0]
    assert pts[0]["ttft_s"]["p99"] <= pts[1]["ttft_s"]["p99"]
    assert png.read_bytes()[:4] == b"\x89PNG"
    r = run_cli("disagg", "--input", "8000", "--output", "200", "--ttft-p99", "3",
                "--tpot-p99", "30", "--json")
    assert r.returncode == 0, r.stderr
    assert "disaggregation gives" in json.loads(r.stdout)["verdict"]


@pytest.mark.parametrize(("args", "message"), [
    (["plan", "--hardware", "h100,b200"], "h100"),
    (["plan", "--ttft-p99", "-1"], "positive"),
    (["simulate", "--request-rate", "0"], "positive"),
    (["plan", "--spec-method", "eagle"], "draft or mtp"),
    (["plan", "--model", "llama-3.1-405b", "--hardware", "l4", "--tp", "1"], "fits"),
    (["plan", "--gpu-hourly-usd", "abc"], "not a number"),
    (["plan", "--rows", "1"], "--rows"),
    (["simulate", "--request-rate", "abc"], "not a number"),
    (["simulate", "--num-requests", "-5"], "--num-requests"),
    (["disagg", "--max-instances", "0"], "max_instances"),
    (["estimate", "--model", "qwen3-30b-a3b", "--tp", "2", "--ep", "2",
      "--expert-imbalance", "3"], "impossible"),
    (["estimate", "--model", "llama-3.1-8b", "--tp", "1", "--spec-draft", "llama-3.3-70b"],
     "not smaller"),
    (["plan", "--hardware", "h100-sxm", "--plot", "/proc/nonexistent/f.png"],
     "No such file"),
])
def test_plan_bad_input(args: list[str], message: str) -> None:
    r = run_cli(*args)
    assert r.returncode != 0
    assert message in r.stderr + r.stdout
    assert "Traceback" not in r.stderr


def test_frontier_and_goodput_plots_show_the_data(tmp_path: Path) -> None:
    from tokenomist.report import plots
    r = plan("llama-3.1-8b", Workload.fixed(1000, 200), SLO(tpot_p99_s=0.02),
             hardware=["h100-sxm", "l40s"])
    s = plots.plot_frontier(r, tmp_path / "f.png")
    assert set(s) == {"h100-sxm", "l40s"}
    for series in s.values():
        assert np.all(np.diff(series["tokens_per_s_per_user"]) > 0)
        assert np.all(np.diff(series["tokens_per_s_per_gpu"]) < 0)
    d = load_deployment("llama-3.1-8b", "h100-sxm")
    wl = Workload.fixed(1000, 200)
    runs = [open_loop(d, wl, rate, SLO(ttft_p99_s=0.5), num_requests=300)
            for rate in (2.0, 6.0, 12.0)]
    g = plots.plot_goodput(runs, tmp_path / "g.png", "test")
    assert np.all(g["goodput"] <= g["throughput"] + 1e-9)
    assert g["goodput"][0] == pytest.approx(2.0, rel=0.2)  # light load: everyone served
    for f in ("f.png", "g.png"):
        assert (tmp_path / f).read_bytes()[:4] == b"\x89PNG"


def test_trace_replay(tmp_path: Path) -> None:
    from tokenomist.plan.trace import load_trace
    trace = tmp_path / "azure.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                     "2023-11-16 18:15:46.6805900,374,44\n"
                     "2023-11-16 18:15:47.1805900,396,109\n"
                     "2023-11-16 18:15:50.6805900,879,15\n")
    r = load_trace(trace, speedup=2.0)
    np.testing.assert_allclose(r.arrival_s, [0.0, 0.25, 2.0])
    assert r.input_tokens.tolist() == [374, 396, 879]
    assert r.output_tokens.tolist() == [44, 109, 15]
    out = run_cli("simulate", "--model", "llama-3.1-8b", "--tp", "1", "--trace", str(trace),
                  "--ttft-p99", "1", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["points"][0]["requests"] == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("time,prompt,completion\n1,2,3\n")
    out = run_cli("simulate", "--trace", str(bad))
    assert out.returncode != 0 and "arrival_s" in out.stderr and "Traceback" not in out.stderr


def test_prices_reach_every_accelerator_however_it_is_named() -> None:
    """One price for all, prices keyed by any name the catalog resolves, and accelerators
    given as objects (a user's file) are all priced as given; a key outside the search, a
    non-positive price or an unknown tier is an error, not a silently skipped GPU."""
    from tokenomist.errors import UnknownNameError
    from tokenomist.hardware.catalog import resolve_hardware
    from tokenomist.plan.search import enumerate_candidates

    mine = resolve_hardware("h100-sxm").model_copy(update={"id": "my-h100", "rental": []})
    cands, _, _ = enumerate_candidates("llama-3.1-8b", [mine, "h200"], precisions=[None],
                                       tps=[1], usd_per_gpu_hour=0.5)
    assert {(c.deployment.hardware.id, c.usd_per_gpu_hour) for c in cands} == {
        ("my-h100", 0.5), ("h200", 0.5)}
    cands, _, _ = enumerate_candidates("llama-3.1-8b", ["h100-sxm", "h200"],
                                       precisions=[None], tps=[1],
                                       usd_per_gpu_hour={"H100-SXM": 1.25})
    by_id = {c.deployment.hardware.id: c.usd_per_gpu_hour for c in cands}
    assert by_id["h100-sxm"] == 1.25
    assert by_id["h200"] == resolve_hardware("h200").price("low_cost").usd_per_hour  # type: ignore[union-attr]
    # no catalog price and none given: skipped, and said why
    cands, skipped, _ = enumerate_candidates("llama-3.1-8b", [mine], precisions=[None], tps=[1])
    assert not cands and "give --gpu-hourly-usd" in skipped[0]
    with pytest.raises(InvalidValueError, match="not among the accelerators searched"):
        enumerate_candidates("llama-3.1-8b", ["h200"], usd_per_gpu_hour={"h100-sxm": 2.0})
    with pytest.raises(InvalidValueError, match="positive"):
        enumerate_candidates("llama-3.1-8b", ["h200"], usd_per_gpu_hour={"h200": -2.0})
    with pytest.raises(UnknownNameError):
        enumerate_candidates("llama-3.1-8b", ["h200"], tier="bogus")


def test_an_accelerator_named_twice_is_searched_once_and_prices_are_finite() -> None:
    """'h100-sxm,H100-SXM' used to double every candidate (a runner-up identical to the
    best, a doubled frontier); an infinite price printed Infinity in --json."""
    from tokenomist.plan.search import enumerate_candidates
    once, _, _ = enumerate_candidates("llama-3.1-8b", ["h100-sxm"], precisions=[None])
    twice, _, _ = enumerate_candidates("llama-3.1-8b", ["h100-sxm", "H100-SXM"],
                                       precisions=[None])
    assert len(twice) == len(once) > 0
    with pytest.raises(InvalidValueError, match="finite"):
        enumerate_candidates("llama-3.1-8b", ["h200"], usd_per_gpu_hour=float("inf"))
    r = run_cli("plan", "--model", "llama-3.1-8b", "--hardware", "h100-sxm",
                "--gpu-hourly-usd", "inf", "--json")
    assert r.returncode != 0 and "Traceback" not in r.stderr and "finite" in r.stderr


def test_disagg_rejects_a_zero_pool_tp() -> None:
    """The error names the option the user gave (it used to say --tp)."""
    for flag in ("--prefill-tp", "--decode-tp"):
        r = run_cli("disagg", "--model", "llama-3.1-8b", "--tp", "1", flag, "0")
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert flag in r.stderr


def test_prefill_pool_checks_its_prompts_like_the_engine() -> None:
    """A prefill-only replica of an engine that does not chunk cannot take a prompt over
    its step budget (the steady state and the simulator already refused it)."""
    from tokenomist.perf.steady_state import prefill_capacity
    d = load_deployment("llama-3.1-8b", "h100-sxm", tp=1, engine="trtllm")
    with pytest.raises(InvalidValueError, match="does not chunk"):
        prefill_capacity(d, 10000)
    assert prefill_capacity(d, 4000).requests_per_s > 0
