"""Search deployments for a workload: the Pareto frontier and the cheapest one within SLOs.

Every candidate deployment (accelerator x TP x PP x EP x weight precision x KV dtype x
engine) that is valid and fits is evaluated at a grid of concurrencies by the closed-form
steady state (one vectorized call of the cost model per candidate). Each (deployment,
concurrency) is a configuration with output tokens/s per GPU, tokens/s per user, TTFT,
TPOT and cost per million tokens at the accelerator's rental price.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tokenomist.arch.accounting import moe_spec
from tokenomist.arch.presets import resolve_model
from tokenomist.arch.spec import ModelArch
from tokenomist.deploy.deployment import Deployment
from tokenomist.deploy.engine import EngineProfile, resolve_engine
from tokenomist.deploy.speculative import Speculation
from tokenomist.economics.prices import TIERS, gpu_price
from tokenomist.errors import InvalidValueError, TokenomistError, UnknownNameError
from tokenomist.hardware.catalog import Accelerator, resolve_hardware
from tokenomist.perf.steady_state import steady_state
from tokenomist.plan.frontier import pareto_front
from tokenomist.plan.workload import SLO, Workload

CONCURRENCY = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768,
               1024)
DEFAULT_HARDWARE = ("h100-sxm", "h200", "b200", "mi300x")


@dataclass(frozen=True)
class Candidate:
    deployment: Deployment
    usd_per_gpu_hour: float

    @property
    def label(self) -> str:
        d = self.deployment
        parts = [d.hardware.id, f"TP{d.tp}"]
        if d.pp > 1:
            parts.append(f"PP{d.pp}")
        if d.ep > 1:
            parts.append(f"EP{d.ep}")
        parts.append(d.precision or "native")
        if d.kv_dtype != "bf16":
            parts.append(f"kv-{d.kv_dtype}")
        parts.append(d.engine.id)
        return " ".join(parts)


@dataclass(frozen=True)
class Config:
    """One candidate at one concurrency."""

    candidate: Candidate
    concurrency: int
    running: float
    tokens_per_s_per_gpu: float
    tokens_per_s_per_user: float
    ttft_s: float
    ttft_p99_s: float
    tpot_s: float
    e2e_s: float
    usd_per_million_output: float  # all-in: the whole GPU time over the output tokens
    usd_per_million_input_attributed: float
    usd_per_million_output_attributed: float
    usd_per_request: float
    prefill_time_share: float
    bottleneck: str
    breakdown_share: dict[str, float]
    meets_slo: bool

    @property
    def label(self) -> str:
        return f"{self.candidate.label} @ {self.concurrency} in flight"

    def as_dict(self) -> dict[str, object]:
        d = self.candidate.deployment
        return {"hardware": d.hardware.id, "tp": d.tp, "pp": d.pp, "ep": d.ep,
                "precision": d.precision or "native", "kv_dtype": d.kv_dtype,
                "engine": d.engine.id, "num_gpus": d.num_gpus,
                "usd_per_gpu_hour": self.candidate.usd_per_gpu_hour,
                "concurrency": self.concurrency, "running": self.running,
                "output_tokens_per_s_per_gpu": self.tokens_per_s_per_gpu,
                "tokens_per_s_per_user": self.tokens_per_s_per_user,
                "ttft_s": self.ttft_s, "ttft_p99_s": self.ttft_p99_s, "tpot_s": self.tpot_s,
                "e2e_s": self.e2e_s, "usd_per_million_output": self.usd_per_million_output,
                "usd_per_million_input_attributed": self.usd_per_million_input_attributed,
                "usd_per_million_output_attributed": self.usd_per_million_output_attributed,
                "usd_per_request": self.usd_per_request,
                "prefill_time_share": self.prefill_time_share, "bottleneck": self.bottleneck,
                "meets_slo": self.meets_slo}


@dataclass
class PlanResult:
    workload: Workload
    slo: SLO
    configs: list[Config]
    frontier: dict[str, list[Config]]  # per accelerator, by increasing interactivity
    best: Config | None
    runner_up: Config | None
    explanation: list[str]
    skipped: list[str] = field(default_factory=list)
    candidates: int = 0
    unpriced: list[str] = field(default_factory=list)  # accelerators left out: no price


def enumerate_candidates(model: str | ModelArch,
                         hardware: Sequence[str | Accelerator] = DEFAULT_HARDWARE,
                         *, engines: Sequence[str | EngineProfile] = ("vllm",),
                         precisions: Sequence[str | None] = (None, "fp8"),
                         kv_dtypes: Sequence[str] = ("bf16",),
                         tps: Sequence[int] = (1, 2, 4, 8), pps: Sequence[int] = (1,),
                         expert_parallel: bool = True,
                         speculative: Speculation | None = None,
                         expert_imbalance: float = 1.0, tier: str = "low_cost",
                         usd_per_gpu_hour: float | dict[str, float] | None = None
                         ) -> tuple[list[Candidate], list[str], list[str]]:
    """Valid deployments that fit; why the others were left out; and, among those, the
    accelerators left out for want of a price.

    ``hardware``: catalog names or accelerators (a user's file). ``usd_per_gpu_hour``: one
    price for every accelerator, or prices by accelerator (any name the catalog resolves);
    the others are priced from the catalog's ``tier``."""
    arch = model if isinstance(model, ModelArch) else resolve_model(model)
    accs: dict[str, Accelerator] = {}  # by id: an accelerator named twice is searched once
    for h in hardware:
        acc = h if isinstance(h, Accelerator) else resolve_hardware(h)
        accs.setdefault(acc.id, acc)
    profiles = [e if isinstance(e, EngineProfile) else resolve_engine(e) for e in engines]
    if tier not in TIERS:  # (even where every price is given)
        raise UnknownNameError("price tier", tier, TIERS)
    given = _given_prices(list(accs), usd_per_gpu_hour)
    is_moe = moe_spec(arch) is not None
    out: list[Candidate] = []
    skipped: list[str] = []
    unpriced: list[str] = []
    for acc in accs.values():
        try:
            usd = gpu_price(acc, given.get(acc.id), tier).usd_per_gpu_hour
        except InvalidValueError as err:
            unpriced.append(f"{acc.id}: {err}")
            skipped.append(unpriced[-1])
            continue
        for eng, prec, kv, tp, pp in itertools.product(profiles, precisions, kv_dtypes, tps,
                                                       pps):
            eps = [1]
            if expert_parallel and tp > 1 and is_moe:
                eps.append(tp)
            for ep in eps:
                try:
                    d = Deployment(arch, acc, eng, tp=tp, pp=pp, ep=ep, precision=prec,
                                   kv_dtype=kv, speculative=speculative,
                                   expert_imbalance=expert_imbalance)
                    if not d.memory.fits:
                        skipped.append(f"{acc.id} TP{tp} PP{pp} {prec or 'native'}: does "
                                       f"not fit ({d.memory.needed_min_bytes / 1e9:.0f} GB "
                                       f"needed per GPU)")
                        continue
                except InvalidValueError as err:
                    skipped.append(f"{acc.id} TP{tp} PP{pp} EP{ep} {prec or 'native'}: {err}")
                    continue
                out.append(Candidate(d, usd))
    return out, list(dict.fromkeys(skipped)), unpriced


def _given_prices(ids: Sequence[str], given: float | dict[str, float] | None
                  ) -> dict[str, float]:
    """The user's USD per GPU-hour by accelerator id (checked once, up front: positive,
    and keyed by accelerators being searched); the others are priced from the catalog."""
    if given is None:
        return {}
    if not isinstance(given, dict):
        usd = gpu_price(None, given).usd_per_gpu_hour
        return dict.fromkeys(ids, usd)
    by_id: dict[str, float] = {}
    for name, usd in given.items():
        acc_id = name if name in ids else resolve_hardware(name).id
        if acc_id not in ids:
            raise InvalidValueError(f"--gpu-hourly-usd {name}={usd}: {acc_id} is not among "
                                    f"the accelerators searched ({', '.join(ids)})")
        by_id[acc_id] = gpu_price(None, usd).usd_per_gpu_hour
    return by_id


def evaluate(candidates: Sequence[Candidate], workload: Workload, slo: SLO,
             concurrency: Sequence[int] = CONCURRENCY) -> tuple[list[Config], list[str]]:
    """Every candidate at every concurrency, through the steady-state model."""
    conc = np.asarray(concurrency, float)
    i_tok, o_tok = workload.mean_input, workload.mean_output
    configs: list[Config] = []
    skipped: list[str] = []
    for cand in candidates:
        d = cand.deployment
        try:
            ss = steady_state(d, i_tok, o_tok, conc, prefix_hit_rate=workload.prefix_hit_rate)
        except TokenomistError as err:
            skipped.append(f"{cand.label}: {err}")
            continue
        usd_per_s = cand.usd_per_gpu_hour * d.num_gpus / 3600.0
        out_tps = ss.output_tokens_per_s
        in_tps = ss.input_tokens_per_s
        all_in = usd_per_s / out_tps * 1e6
        share = ss.prefill_time_share
        per_in = usd_per_s * share / np.maximum(in_tps, 1e-30) * 1e6
        per_out = usd_per_s * (1.0 - share) / out_tps * 1e6
        per_req = usd_per_s / ss.requests_per_s
        meets = slo.meets(ss.ttft_p99_s, ss.tpot_s)
        bottleneck = ss.bottleneck
        per_gpu, per_user = ss.output_tokens_per_s_per_gpu, ss.tokens_per_s_per_user
        for k in range(conc.size):
            configs.append(Config(
                candidate=cand, concurrency=int(conc[k]), running=float(ss.running[k]),
                tokens_per_s_per_gpu=float(per_gpu[k]),
                tokens_per_s_per_user=float(per_user[k]), ttft_s=float(ss.ttft_s[k]),
                ttft_p99_s=float(ss.ttft_p99_s[k]), tpot_s=float(ss.tpot_s[k]),
                e2e_s=float(ss.e2e_s[k]), usd_per_million_output=float(all_in[k]),
                usd_per_million_input_attributed=float(per_in[k]),
                usd_per_million_output_attributed=float(per_out[k]),
                usd_per_request=float(per_req[k]), prefill_time_share=float(share[k]),
                bottleneck=bottleneck[k],
                breakdown_share={key: float(v[k]) for key, v in ss.breakdown_share.items()},
                meets_slo=bool(meets[k])))
    return configs, skipped


def frontier_of(configs: Sequence[Config]) -> list[Config]:
    """The Pareto-optimal configurations, by increasing tokens/s per user."""
    if not configs:
        return []
    idx = pareto_front([c.tokens_per_s_per_user for c in configs],
                       [c.tokens_per_s_per_gpu for c in configs])
    return [configs[i] for i in idx]


def plan(model: str | ModelArch, workload: Workload, slo: SLO, *,
         hardware: Sequence[str | Accelerator] = DEFAULT_HARDWARE,
         engines: Sequence[str | EngineProfile] = ("vllm",),
         precisions: Sequence[str | None] = (None, "fp8"), kv_dtypes: Sequence[str] = ("bf16",),
         tps: Sequence[int] = (1, 2, 4, 8), pps: Sequence[int] = (1,),
         concurrency: Sequence[int] = CONCURRENCY, speculative: Speculation | None = None,
         expert_imbalance: float = 1.0, tier: str = "low_cost",
         usd_per_gpu_hour: float | dict[str, float] | None = None) -> PlanResult:
    """Search, evaluate, and pick: see the module docstring."""
    cands, skipped, unpriced = enumerate_candidates(
        model, hardware, engines=engines, precisions=precisions, kv_dtypes=kv_dtypes,
        tps=tps, pps=pps, speculative=speculative, expert_imbalance=expert_imbalance,
        tier=tier, usd_per_gpu_hour=usd_per_gpu_hour)
    if not cands:
        raise InvalidValueError("no deployment is valid and fits: " + "; ".join(skipped[:6]))
    configs, more = evaluate(cands, workload, slo, concurrency)
    skipped += more
    by_hw: dict[str, list[Config]] = {}
    for c in configs:
        by_hw.setdefault(c.candidate.deployment.hardware.id, []).append(c)
    frontier = {hw: frontier_of(cs) for hw, cs in by_hw.items()}
    best, runner_up, why = choose(configs, slo)
    return PlanResult(workload=workload, slo=slo, configs=configs, frontier=frontier,
                      best=best, runner_up=runner_up, explanation=why, skipped=skipped,
                      candidates=len(cands), unpriced=unpriced)


def choose(configs: Sequence[Config], slo: SLO) -> tuple[Config | None, Config | None,
                                                         list[str]]:
    """The cheapest configuration meeting the SLOs (cost per million output tokens, all
    GPU time included), the best of another deployment, and why."""
    ok = [c for c in configs if c.meets_slo]
    if not ok:
        fastest = max(configs, key=lambda c: c.tokens_per_s_per_user, default=None)
        why = [f"no configuration meets {slo.describe()}"]
        if fastest is not None:
            why.append(f"the most interactive one is {fastest.label}: TPOT "
                       f"{fastest.tpot_s * 1e3:.1f} ms ({fastest.tokens_per_s_per_user:.0f} "
                       f"tokens/s per user), p99 TTFT {fastest.ttft_p99_s:.2f} s")
        return None, None, why
    best = min(ok, key=lambda c: c.usd_per_million_output)
    others = [c for c in ok if c.candidate is not best.candidate]
    runner = min(others, key=lambda c: c.usd_per_million_output) if others else None
    return best, runner, explain(best, runner, configs, slo)


def explain(best: Config, runner: Config | None, configs: Sequence[Config],
            slo: SLO) -> list[str]:
    b = best.breakdown_share
    lines = [
        f"cheapest within {slo.describe()}: {best.label}: "
        f"{best.tokens_per_s_per_gpu:,.0f} output tokens/s per GPU, "
        f"{best.tokens_per_s_per_user:.0f} tokens/s per user, p99 TTFT "
        f"{best.ttft_p99_s:.2f} s, ${best.usd_per_million_output:.3f} per million output "
        f"tokens at ${best.candidate.usd_per_gpu_hour:.2f}/GPU-hour",
        f"its steps are {best.bottleneck}-bound: compute {b['compute']:.0%}, memory "
        f"{b['memory']:.0%}, communication {b['communication']:.0%}, overhead "
        f"{b['overhead']:.0%}; prefill takes {best.prefill_time_share:.0%} of the GPU time"]
    same = sorted((c for c in configs if c.candidate is best.candidate),
                  key=lambda c: c.concurrency)
    higher = [c for c in same if c.concurrency > best.concurrency]
    if higher:
        nxt = higher[0]
        if not nxt.meets_slo:
            lines.append(f"more requests in flight would break the SLO: at "
                         f"{nxt.concurrency} TPOT is {nxt.tpot_s * 1e3:.1f} ms and p99 TTFT "
                         f"{nxt.ttft_p99_s:.2f} s")
        elif nxt.running <= best.running + 1e-9:
            lines.append(f"the engine runs at most {best.running:.0f} sequences (KV cache or "
                         "max_num_seqs); more clients would only queue")
    if runner is not None:
        r = runner
        ratio = r.usd_per_million_output / best.usd_per_million_output - 1.0
        price_ratio = r.candidate.usd_per_gpu_hour / best.candidate.usd_per_gpu_hour
        tput_ratio = r.tokens_per_s_per_gpu / best.tokens_per_s_per_gpu
        lines.append(
            f"runner-up: {r.label} costs {ratio:+.0%} per token: its GPU-hour costs "
            f"{price_ratio:.2f}x and it delivers {tput_ratio:.2f}x the tokens per GPU "
            f"within the SLO ({r.tokens_per_s_per_gpu:,.0f} vs "
            f"{best.tokens_per_s_per_gpu:,.0f}; {r.bottleneck}-bound)")
    return lines
