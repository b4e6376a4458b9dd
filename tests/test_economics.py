"""Pricing, energy and total cost of ownership against hand-computed cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokenomist.bench.results_io import ResultPoint, load_results
from tokenomist.economics import (
    Ownership,
    Workload,
    api_usd_per_request,
    builtin_api_prices,
    gpu_price,
    market_summary,
    owned_usd_per_request,
    owning_break_even,
    price_by_attribution,
    price_with_gamma,
    rented_usd_per_request,
    renting_break_even,
    run_energy,
)
from tokenomist.errors import ConfigError, InvalidValueError
from tokenomist.hardware import resolve_hardware
from tokenomist.testing.cli import run_cli

DATA = Path(__file__).parent / "data" / "measurements"
ARTICLE_70B = DATA / "vllm_llama-3.3-70b_4xh100-tp4_2035in_300out.json"

# Table 1 of the article: batch, $/M input, $/M output, tokens/s
TABLE_1 = [(1, 5.09, 16.98, 419.57), (2, 2.67, 8.90, 800.81), (4, 1.51, 5.02, 1419.34),
           (8, 0.86, 2.86, 2488.31), (16, 0.51, 1.71, 4166.46), (32, 0.35, 1.18, 6020.61),
           (64, 0.28, 0.95, 7453.62)]


def test_article_table_1_to_the_cent() -> None:
    points = {p.batch_size: p for p in load_results(ARTICLE_70B).points}
    for batch, usd_in, usd_out, tps in TABLE_1:
        q = price_with_gamma(points[batch], num_gpus=4, usd_per_gpu_hour=2.5, gamma=0.3)
        assert round(q.usd_per_million_input, 2) == usd_in
        assert round(q.usd_per_million_output, 2) == usd_out
        if batch < 64:
            assert round(q.total_tokens_per_s, 2) == tps
        else:
            # the article prints 7,453.62 for B=64, which does not follow from its own run
            # (64 x 2335 tokens / 19.928 s = 7,499.00); its prices for B=64 do
            assert round(q.total_tokens_per_s, 2) == 7499.00


def test_article_worked_example() -> None:
    # "4 x $2.5 per hour, 8.96 s for 16 x (2035 in + 300 out)": beta = $1.71 per M output
    p = ResultPoint(batch_size=16, input_tokens=2035, output_tokens=300, elapsed_s=8.96)
    q = price_with_gamma(p, num_gpus=4, usd_per_gpu_hour=2.5, gamma=0.3)
    beta = 4 * 2.5 / 3600 * 8.96 / (16 * (0.3 * 2035 + 300))
    assert q.usd_per_million_output == pytest.approx(beta * 1e6)
    assert q.usd_per_million_input == pytest.approx(0.3 * beta * 1e6)


def test_attribution_splits_the_bill() -> None:
    # 10 s of 4 GPUs at $3/h = $0.0333; 2 s prefill of 8 x 1000 tokens, 8 s decode of 8 x 100
    p = ResultPoint(batch_size=8, input_tokens=1000, output_tokens=100, elapsed_s=10.0,
                    prefill_s=2.0, decode_s=8.0)
    q = price_by_attribution(p, num_gpus=4, usd_per_gpu_hour=3.0)
    cost = 4 * 3.0 / 3600 * 10.0
    assert q.usd_per_million_input == pytest.approx(cost * 0.2 / 8000 * 1e6)
    assert q.usd_per_million_output == pytest.approx(cost * 0.8 / 800 * 1e6)
    assert q.implied_gamma == pytest.approx((0.2 / 8000) / (0.8 / 800))
    # the whole bill is recovered
    assert (q.usd_per_million_input * 8000 + q.usd_per_million_output * 800) / 1e6 == \
        pytest.approx(cost)


def test_catalog_prices_carry_their_source() -> None:
    g = gpu_price(resolve_hardware("h100-sxm"), None, "low_cost")
    assert g.usd_per_gpu_hour == 2.99 and "Lambda" in g.label and "2026" in g.label
    with pytest.raises(InvalidValueError, match="no on_demand price"):
        gpu_price(resolve_hardware("mi355x"), None, "on_demand")


def test_energy_hand_computed() -> None:
    # 4 GPUs of 700 W: 6 s memory-bound (0.75 TDP), 2 s compute-bound (1.0), 2 s idle
    p = ResultPoint(batch_size=10, input_tokens=100, output_tokens=100, elapsed_s=10.0,
                    breakdown_s={"compute": 2.0, "memory": 6.0, "communication": 0.0,
                                 "overhead": 0.0})
    e = run_energy(p, num_gpus=4, tdp_w=700, pue=1.25, usd_per_kwh=0.12)
    it = 4 * 700 * (2.0 * 1.0 + 6.0 * 0.75 + 2.0 * 0.15)
    assert e.it_joules == pytest.approx(it)
    assert e.facility_joules == pytest.approx(it * 1.25)
    assert e.joules_per_output_token == pytest.approx(it * 1.25 / 1000)
    assert e.output_tokens_per_joule == pytest.approx(1000 / (it * 1.25))
    assert e.electricity_usd == pytest.approx(it * 1.25 / 3.6e6 * 0.12)
    # a measured wattage overrides the model: 500 W x 4 x 10 s
    m = run_energy(p, num_gpus=4, watts_per_gpu=500, pue=1.0)
    assert m.joules_per_token == pytest.approx(20000 / 2000)


def test_tco_hand_computed_and_break_even() -> None:
    # one GPU bought at $26,280 over 3 years: $1.00/h; hosting $4,380/yr: $0.50/h;
    # 1 kW busy, 0 W idle, PUE 1.0, $0.10/kWh: $0.10/h busy. 1 request/s at full load.
    own = Ownership(purchase_usd_per_gpu=26280, amortization_years=3,
                    hosting_usd_per_gpu_year=4380, busy_power_w=1000, idle_power_w=0,
                    pue=1.0, usd_per_kwh=0.10)
    w = Workload(input_tokens=1000, output_tokens=500, requests_per_s=1.0, num_gpus=1)
    assert owned_usd_per_request(w, own, 1.0) == pytest.approx(1.60 / 3600)
    assert owned_usd_per_request(w, own, 0.5) == pytest.approx((1.50 + 0.05) / 1800)
    assert rented_usd_per_request(w, 2.0, 0.5) == pytest.approx(2.0 / 1800)
    # API at $0.20 in / $1.00 out per M: $0.0002 + $0.0005 = $0.0007 per request
    a = api_usd_per_request(w, 0.20, 1.00)
    assert a == pytest.approx(0.0007)
    # break-even: 1.5 / (0.0007 x 3600 - 0.10) = 1.5 / 2.42
    be = owning_break_even(w, own, a)
    assert be.utilization == pytest.approx(1.5 / 2.42)
    assert owned_usd_per_request(w, own, be.utilization) == pytest.approx(a)
    assert be.requests_per_s == pytest.approx(1.5 / 2.42)
    assert be.tokens_per_day == pytest.approx(1.5 / 2.42 * 86400 * 1500)
    # renting at $2/h breaks even at 2 / 2.52 utilization
    assert renting_break_even(w, 2.0, a).utilization == pytest.approx(2.0 / 2.52)
    # a cheap API can never be beaten
    assert owning_break_even(w, own, 0.0001).utilization is None


@pytest.mark.parametrize("u", [0.0, -0.1, 1.5])
def test_utilization_outside_range(u: float) -> None:
    own = Ownership(purchase_usd_per_gpu=1000)
    w = Workload(input_tokens=1, output_tokens=1, requests_per_s=1, num_gpus=1)
    with pytest.raises(InvalidValueError, match="utilization"):
        owned_usd_per_request(w, own, u)


def test_impossible_prices() -> None:
    p = ResultPoint(batch_size=1, input_tokens=10, output_tokens=10, elapsed_s=1.0)
    with pytest.raises(InvalidValueError, match="gamma"):
        price_with_gamma(p, num_gpus=1, usd_per_gpu_hour=1.0, gamma=0.0)
    with pytest.raises(InvalidValueError, match="positive"):
        price_with_gamma(p, num_gpus=1, usd_per_gpu_hour=-2.0, gamma=0.3)
    with pytest.raises(InvalidValueError, match="negative"):
        api_usd_per_request(Workload(1, 1, 1, 1), -1.0, 1.0)
    with pytest.raises(InvalidValueError, match="split"):
        price_by_attribution(p, num_gpus=1, usd_per_gpu_hour=1.0)


def test_results_file_with_missing_field_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps({"points": [{"batch_size": 1, "input_tokens": 10,
                                           "elapsed_s": 1.0}]}))
    with pytest.raises(ConfigError, match=r"points\[0\]\.output_tokens"):
        load_results(bad)
    article = json.loads(ARTICLE_70B.read_text())
    del article["results"]["4"]["elapsed_time"]
    bad.write_text(json.dumps(article))
    with pytest.raises(ConfigError, match=r"results\.4\.elapsed_time"):
        load_results(bad)


def test_market_snapshot() -> None:
    s = market_summary("llama-3.3-70b", builtin_api_prices())
    assert s.providers >= 8
    assert 0.1 < s.median_input < 1.0 and s.median_output >= s.median_input
    assert builtin_api_prices().snapshot_date == "2026-07-24"


def test_attribution_without_a_time_split_says_what_to_give() -> None:
    """The article's results have no prefill/decode split: --method attribution without a
    deployment is a clear error, not a silent gamma price."""
    r = run_cli("price", str(ARTICLE_70B), "--gpu-hourly-usd", "2.5", "--num-gpus", "4",
                "--method", "attribution")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "no prefill/decode time split" in r.stderr


def test_price_contract_on_article_results() -> None:
    r = run_cli("price", str(ARTICLE_70B), "--gpu-hourly-usd", "2.5", "--num-gpus", "4",
                "--gamma", "0.3", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    row = {p["batch_size"]: p for p in data["points"]}
    for batch, usd_in, usd_out, _ in TABLE_1:
        assert round(row[batch]["usd_per_million_input"], 2) == usd_in
        assert round(row[batch]["usd_per_million_output"], 2) == usd_out
        assert "total_tokens_per_s" in row[batch]
        assert row[batch]["output_tokens_per_s_per_usd_hour"] == pytest.approx(
            row[batch]["output_tokens_per_s"] / 10.0)


def test_estimate_output_goes_straight_to_price(tmp_path: Path) -> None:
    est = run_cli("estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--tp", "1",
                  "--batch-sizes", "1,32", "--json")
    path = tmp_path / "est.json"
    path.write_text(est.stdout)
    r = run_cli("price", str(path), "--json")  # GPUs, hardware and the split come from the file
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["num_gpus"] == 1 and data["usd_per_gpu_hour"] == 2.99
    p = data["points"][1]["attribution_method"]
    assert 0 < p["prefill_share"] < 1
    # bigger batches make output tokens cheaper
    assert data["points"][1]["usd_per_million_output"] < data["points"][0][
        "usd_per_million_output"]
    assert data["points"][1]["energy"]["joules_per_output_token"] > 0
    # the gamma method alone prints its table, without the attribution columns
    table = run_cli("price", str(path), "--method", "gamma")
    assert table.returncode == 0, table.stderr
    assert "attr." not in table.stdout and "$/M out (γ)" in table.stdout


def test_tco_cli_reports_break_even() -> None:
    r = run_cli("tco", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--tp", "1",
                "--batch-size", "64", "--utilization", "0.6", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    own = data["options"][0]
    assert own["option"] == "own" and own["usd_per_request"] > 0
    be = data["owning_break_even"]
    assert be["utilization"] is None or 0 < be["utilization"] <= 1
    r = run_cli("tco", "--utilization", "1.5")
    assert r.returncode == 2 and "utilization" in r.stderr


def test_monte_carlo_mix() -> None:
    from tokenomist import estimate, load_deployment
    from tokenomist.bench.results_io import ResultPoint as RP
    from tokenomist.economics.mix import parse_length_dist, price_mix, price_routed

    d = load_deployment("llama-3.1-8b", "h100-sxm", tp=1)
    # a fixed-length "distribution" must give exactly the single-shape attribution price
    fixed = price_mix(d, parse_length_dist("1000"), parse_length_dist("200"), batch_size=16,
                      usd_per_gpu_hour=2.0, samples=20)
    p = estimate("llama-3.1-8b", "h100-sxm", tp=1, input_tokens=1000, output_tokens=200,
                 batch_sizes=[16]).points[0]
    q = price_by_attribution(RP(16, 1000, 200, p.elapsed_s, p.prefill_s, p.decode_s),
                             num_gpus=1, usd_per_gpu_hour=2.0)
    assert fixed.usd_per_million_output == pytest.approx(q.usd_per_million_output)
    assert fixed.usd_per_million_input == pytest.approx(q.usd_per_million_input)
    # a real distribution: the confidence interval brackets the estimate, draws spread wider
    mix = price_mix(d, parse_length_dist("lognormal:1000,0.7"),
                    parse_length_dist("uniform:50,400"), batch_size=16,
                    usd_per_gpu_hour=2.0, samples=400, seed=1)
    lo, hi = mix.ci95_usd_per_million_output
    assert lo <= mix.usd_per_million_output <= hi
    assert mix.p05_p95_usd_per_million_output[0] < lo and hi < mix.p05_p95_usd_per_million_output[1]
    assert 50 <= mix.mean_output_tokens <= 400
    # routing: f=0 is the large model, f=1 the small one, in between the blend by requests
    small = price_mix(load_deployment("llama-3.1-8b", "l40s", tp=1),
                      parse_length_dist("1000"), parse_length_dist("200"), batch_size=16,
                      usd_per_gpu_hour=1.0, samples=10)
    assert price_routed(small, fixed, 0.0).usd_per_request == pytest.approx(
        fixed.usd_per_request)
    r = price_routed(small, fixed, 0.25)
    assert r.usd_per_request == pytest.approx(0.25 * small.usd_per_request
                                              + 0.75 * fixed.usd_per_request)
    with pytest.raises(InvalidValueError):
        price_routed(small, fixed, 1.5)
    with pytest.raises(InvalidValueError, match="not understood"):
        parse_length_dist("gamma:3,4")


def test_price_with_the_model_on_a_user_hardware_file(tmp_path: Path) -> None:
    """--model attributes a measured run's time with the performance model on the
    accelerator the user named, here a file of their own (it used to look the file's id
    up in the catalog and fail)."""
    def shares(hardware: str) -> list[float]:
        r = run_cli("price", str(DATA / "vllm_llama-3.1-8b_1xh100_2035in_300out.json"),
                    "--hardware", hardware, "--model", "llama-3.1-8b", "--num-gpus", "1",
                    "--gpu-hourly-usd", "2", "--json")
        assert r.returncode == 0, r.stderr
        return [p["attribution_method"]["prefill_share"] for p in json.loads(r.stdout)["points"]]

    catalog = shares("h100-sxm")
    assert all(0 < s < 1 for s in catalog)
    # the user's file is the one used: with the H100's figures it attributes as the
    # catalog's H100 does; with half its bandwidth decoding takes longer, so prefill's
    # share of every burst is smaller
    for bandwidth, same in ((3.35, True), (1.675, False)):
        spec = {"id": "my-gpu", "name": "My GPU", "memory_gb": 80,
                "memory_bandwidth_tbps": bandwidth, "peak_tflops": {"bf16": 989}}
        hw = tmp_path / f"gpu-{bandwidth}.json"
        hw.write_text(json.dumps(spec))
        mine = shares(str(hw))
        if same:
            assert mine == pytest.approx(catalog, rel=0.01)
        else:
            assert all(m < 0.75 * c for m, c in zip(mine, catalog, strict=True))
