"""Plots (checked for what they show, not only that a file exists) and the HTML report,
rendered in headless Chromium (Debian's `chromium`, installed by `.ci/run`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from tokenomist import estimate, load_deployment
from tokenomist.bench import load_article_results
from tokenomist.report import plots
from tokenomist.testing.cli import run_cli
from tokenomist.testing.require import need

DATA = Path(__file__).parent / "data" / "measurements"
MEASURED_70B = DATA / "vllm_llama-3.3-70b_4xh100-tp4_2035in_300out.json"
BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]


def _png_has_content(path: Path) -> None:
    """A real PNG with a drawing on it: many distinct colours, not a blank canvas."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    assert img.shape[0] > 200 and img.shape[1] > 200
    colours = np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50
    assert float(np.mean(img[..., :3] < 0.9)) > 0.01  # something besides white


def test_throughput_plot_model_vs_measured(tmp_path: Path) -> None:
    measured = load_article_results(MEASURED_70B)
    est = estimate("llama-3.3-70b", "h100-sxm", tp=4, batch_sizes=BATCHES)
    rows = [{"batch_size": p.batch_size, "output_tokens_per_s": p.output_tokens_per_s,
             "request_tokens_per_s": p.request_tokens_per_s or 0.0} for p in measured]
    s = plots.plot_throughput(est, tmp_path / "t.png", rows)
    _png_has_content(tmp_path / "t.png")
    # the article's Figure: total throughput grows with the batch, per-request speed falls
    assert np.all(np.diff(s["model_total"]) > 0)
    assert np.all(np.diff(s["model_per_request"]) < 0)
    np.testing.assert_allclose(s["measured_total"], [p.output_tokens_per_s for p in measured])
    # model and measurement drawn on the same axes agree within 10% at every batch size
    model_at = dict(zip(s["batch"], s["model_total"], strict=True))
    for b, m in zip(s["measured_batch"], s["measured_total"], strict=True):
        assert abs(model_at[b] / m - 1) < 0.10


def test_kv_cache_plot_is_linear_in_length_and_batch(tmp_path: Path) -> None:
    arch = load_deployment("llama-3.3-70b", "h100-sxm", tp=4).model
    s = plots.plot_kv_cache(arch, tmp_path / "kv.png", batches=(1, 8, 32))
    _png_has_content(tmp_path / "kv.png")
    lengths = s["lengths"]
    # 80 layers x 8 KV heads x 128 dims x (K and V) x 2 bytes = 327,680 bytes per token;
    # the article: 2,048 tokens in bf16 = 671,088,640 bytes
    np.testing.assert_allclose(s["batch_1_gb"], lengths * 327_680 / 1e9)
    assert s["batch_1_gb"][lengths == 2048][0] == pytest.approx(0.67108864)
    np.testing.assert_allclose(s["batch_32_gb"], 32 * s["batch_1_gb"])
    assert lengths.max() == 131_072  # up to the model's context


def test_prefill_share_and_breakdown_and_cost(tmp_path: Path) -> None:
    lengths = np.array([128, 512, 2048, 8192, 32768])
    shares = []
    for n in lengths:
        p = estimate("llama-3.3-70b", "h100-sxm", tp=4, input_tokens=int(n), output_tokens=300,
                     batch_sizes=[1]).points[0]
        shares.append(p.prefill_s / (p.prefill_s + p.decode_s))
    s = plots.plot_prefill_share(lengths, np.array(shares), tmp_path / "p.png", "batch 1")
    _png_has_content(tmp_path / "p.png")
    assert np.all(np.diff(s["prefill_share"]) > 0)  # longer prompts, more time in prefill
    assert s["prefill_share"][0] < 0.02 < 0.2 < s["prefill_share"][-1]

    est = estimate("llama-3.3-70b", "h100-sxm", tp=4, batch_sizes=BATCHES)
    b = plots.plot_breakdown(est, tmp_path / "b.png")
    _png_has_content(tmp_path / "b.png")
    total = b["compute"] + b["memory"] + b["communication"] + b["overhead"]
    np.testing.assert_allclose(total, 100.0)
    # batch 1 is bound by reading the weights; large batches shift time to compute
    assert b["memory"][0] > 50 and b["compute"][-1] > 3 * b["compute"][0]
    assert b["communication"][0] > 0  # TP4 all-reduces

    # cost per million output tokens falls with the batch as the weight reads amortize:
    # at $2/GPU-hour on 4 GPUs, $/M = 8 $/h / (3600 s/h x tokens/s) x 1e6 for all tokens
    tps = np.array([p.output_tokens_per_s for p in est.points])
    usd_all = 8.0 / (3600 * tps) * 1e6
    c = plots.plot_cost(np.array(BATCHES, float), usd_all / 10, usd_all, tmp_path / "c.png",
                        "$2/GPU-hour")
    _png_has_content(tmp_path / "c.png")
    assert np.all(np.diff(c["usd_out"]) < 0)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def render(page: Path, profile_dir: Path) -> tuple[str, list[str]]:
    """The DOM after load and the console messages of a page opened in headless Chromium."""
    exe = _chromium()
    assert exe is not None
    r = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile_dir}", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    return r.stdout, console


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = _chromium()
    need(exe is not None, "chromium")
    assert exe is not None
    return exe


def test_chromium_check_catches_errors(chromium: str, tmp_path: Path) -> None:
    """The render check can fail: a script error and a broken image are seen."""
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body data-rendered="no"><img src="data:image/png;base64,AAAA">'
                   "<script>undefinedFunction();</script></body></html>")
    dom, console = render(bad, tmp_path / "profile")
    assert any("undefinedFunction" in line for line in console)
    assert 'data-rendered="yes"' not in dom


def test_html_report_renders_in_headless_chromium(chromium: str, tmp_path: Path) -> None:
    prof = tmp_path / "profile.json"
    r = run_cli("calibrate", str(MEASURED_70B), "--model", "llama-3.3-70b",
                "--hardware", "h100-sxm", "--tp", "4", "--output", str(prof))
    assert r.returncode == 0, r.stderr
    page = tmp_path / "report.html"
    r = run_cli("report", "--output", str(page), "--profile", str(prof),
                "--results", str(MEASURED_70B), "--results",
                str(DATA / "vllm_llama-3.3-70b_4xh100-tp4_16035in_1000out.json"))
    assert r.returncode == 0, r.stderr
    text = page.read_text()
    # self-contained: every image is embedded, nothing is fetched
    srcs = re.findall(r'src="([^"]*)"', text)
    assert len(srcs) == 8 and all(s.startswith("data:image/png;base64,") for s in srcs)
    before_sources = text.split("<h3>Sources</h3>")[0]
    assert "http://" not in before_sources and "https://" not in before_sources
    # what a reader needs: the deployment, the calibration error, assumptions, the comparison
    for needle in ("llama-3.3-70b on 4 x h100-sxm", "Calibration", "cross-validated MAPE",
                   "Assumptions", "Model vs measurement", "max_num_seqs", "Planning",
                   "frontier", "Goodput", "cheapest within"):
        assert needle in text
    dom, console = render(page, tmp_path / "chromium-profile")
    assert console == []
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None
    assert 'data-rendered="yes"' in body.group(0) and 'data-images="8"' in body.group(0)
    # the comparison table's MAPE over both files is the compare command's
    r = run_cli("compare", str(MEASURED_70B),
                str(DATA / "vllm_llama-3.3-70b_4xh100-tp4_16035in_1000out.json"),
                "--model", "llama-3.3-70b", "--hardware", "h100-sxm", "--tp", "4",
                "--profile", str(prof), "--json")
    mape = json.loads(r.stdout)["mape"]
    assert f"Model vs measurement (MAPE {mape:.1%})" in text


def test_report_plans_around_the_users_own_deployment(tmp_path: Path) -> None:
    """The report's planning section searches this deployment's own accelerator (a user's
    file), degrees (PP 2) and price: it used to look the file's id up in the catalog
    ('Unknown accelerator') and leave PP 2 out ('no deployment is valid and fits')."""
    from tokenomist.hardware.catalog import resolve_hardware
    hw = tmp_path / "mine.json"
    hw.write_text(resolve_hardware("h100-sxm").model_copy(
        update={"id": "my-h100", "rental": []}).model_dump_json())
    for k, args in enumerate((["--hardware", str(hw), "--model", "llama-3.1-8b", "--tp", "1",
                               "--gpu-hourly-usd", "1.5"],
                              ["--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--tp",
                               "1", "--pp", "2", "--batch-sizes", "1,8"])):
        page = tmp_path / f"r{k}.html"  # (each run's own page)
        r = run_cli("report", "--output", str(page), *args)
        assert r.returncode == 0, r.stderr
        assert "Throughput-interactivity frontier" in page.read_text()
