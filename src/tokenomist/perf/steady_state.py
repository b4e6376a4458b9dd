"""Closed-form steady state of continuous batching at a fixed concurrency.

The throughput-vs-interactivity benchmarks keep C requests in flight: when one finishes
the next starts. In steady state the engine runs n = min(C, what its KV cache and
``max_num_seqs`` allow) sequences; D of them decode, and requests complete at
lambda = D x E / (O - 1) per step (E tokens per decode step, 1 without speculative
decoding), so the engine must prefill lambda x I' prompt tokens per step (I' = the prompt
tokens not served from a prefix cache).

Prefill is lumpy, as in the engines: with mixed batches a step carries either decodes only
or decodes plus one prefill chunk of up to ``budget - D`` tokens (several short prompts
when they fit); a share f of the steps carries a chunk. If the chunks cannot keep up
(f would exceed 1) every step carries one and D shrinks until they do. Prefill-priority
engines (SGLang) run full-budget prefill-only steps that pause the decodes.

The two kinds of step go through :class:`~tokenomist.perf.step_cost.CostModel` - the one
cost model - vectorized over every concurrency at once:

- TPOT = mean step time / E (every decoding sequence advances each step);
- mean TTFT from Little's law (C clients, no think time: E2E = C / throughput) less the
  decode time; its p99 adds the excess tail of an M/D/1 prefill queue of load f;
- throughput = lambda x O per step time.

It assumes uniform lengths (pass means for distributions); the step simulator handles
arbitrary workloads and arrival processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tokenomist.arch.accounting import causal_pairs, chunk_keys
from tokenomist.deploy.deployment import Deployment
from tokenomist.errors import InvalidValueError
from tokenomist.perf.burst import concurrency_limit
from tokenomist.perf.simulator import prompt_over_budget
from tokenomist.perf.step_cost import CostModel, StepLoad

Array = NDArray[np.float64]


@dataclass(frozen=True)
class SteadyState:
    """Steady-state figures per concurrency (arrays aligned with ``concurrency``)."""

    concurrency: Array  # requests kept in flight by the clients
    running: Array  # sequences the engine runs at once
    decoding: Array  # of which decoding
    step_s: Array  # mean step time
    decode_step_s: Array  # a step without prefill (the best-case inter-token latency)
    mixed_step_s: Array  # a step carrying a prefill chunk (the worst-case ITL)
    prefill_step_share: Array  # share of steps that carry prefill work
    ttft_s: Array  # mean
    ttft_p99_s: Array  # M/D/1 prefill queue with an exponential tail
    tpot_s: Array
    e2e_s: Array
    requests_per_s: Array
    output_tokens_per_s: Array  # the replica
    input_tokens_per_s: Array
    prefill_time_share: Array  # share of GPU time attributable to prefill (marginal)
    breakdown_share: dict[str, Array]  # share of step time: compute, memory, comm., overhead
    num_gpus: int

    @property
    def output_tokens_per_s_per_gpu(self) -> Array:
        return self.output_tokens_per_s / self.num_gpus

    @property
    def tokens_per_s_per_user(self) -> Array:
        """Interactivity: the decode speed one user sees (1 / TPOT)."""
        return 1.0 / self.tpot_s

    @property
    def bottleneck(self) -> list[str]:
        keys = list(self.breakdown_share)
        stack = np.stack([self.breakdown_share[k] for k in keys])
        return [keys[i] for i in np.argmax(stack, axis=0)]


def md1_p99_wait(service: ArrayLike, rho: ArrayLike) -> Array:
    """The 99th percentile of the wait in an M/D/1 queue of load rho: the wait is nonzero
    with probability rho, then about exponential with the conditional mean
    service / (2 (1 - rho)), so its p99 is that mean x ln(100 rho) (zero below rho = 1%)."""
    service, rho = np.asarray(service, dtype=float), np.asarray(rho, dtype=float)
    cond_mean = service / (2.0 * (1.0 - rho))
    return np.asarray(np.where(rho > 0.01, cond_mean * np.log(np.maximum(100.0 * rho, 1.0)),
                               0.0), dtype=float)


def _window_mean(lo: float, hi: float, w: int | None) -> float:
    """Mean over contexts uniformly spread on [lo, hi] of min(context, w)."""
    if w is None or hi <= w:
        return 0.5 * (lo + hi)
    if lo >= w:
        return float(w)
    # part below the window grows, part above is flat
    below = (w - lo) / (hi - lo)
    return below * 0.5 * (lo + w) + (1.0 - below) * w


def steady_state(d: Deployment, input_tokens: float, output_tokens: float,
                 concurrency: ArrayLike, *, cost: CostModel | None = None,
                 prefix_hit_rate: float = 0.0) -> SteadyState:
    """Steady state of ``concurrency`` clients sending requests of the given lengths."""
    i_tok, o_tok = float(input_tokens), float(output_tokens)
    if i_tok < 1 or o_tok < 2:
        raise InvalidValueError("steady state needs input >= 1 and output >= 2 tokens")
    conc = np.atleast_1d(np.asarray(concurrency, float))
    if np.any(conc < 1):
        raise InvalidValueError("concurrency must be at least 1")
    d.check_fits()
    if i_tok + o_tok > d.context_limit():
        raise InvalidValueError(f"a request of {i_tok + o_tok:.0f} tokens exceeds the "
                                f"{d.context_limit()}-token context of {d.model.name}")
    cost = cost or CostModel(d)
    s = d.engine.scheduler
    budget = float(s.max_num_batched_tokens)
    windows = d.model.windows
    e_tok = cost.tokens_per_decode_step
    dec_steps = (o_tok - 1.0) / e_tok  # decode steps per request
    cached, i_new = _new_prompt(d, i_tok, prefix_hit_rate)

    cap = float(concurrency_limit(d, int(i_tok), int(o_tok)))
    n = np.minimum(conc, cap)

    # the prompt's chunks, how many prompts one prefill step holds, how many decode
    room = np.maximum(budget - n, 1.0) if s.mixed_batches else np.full_like(n, budget)
    d_dec = n.copy()
    lam = n / dec_steps
    # decoders, room and prefill share settle in a few passes (at once without mixing)
    for _ in range(4 if s.mixed_batches else 1):
        chunk = np.minimum(room, i_new) if s.chunked_prefill else np.full_like(room, i_new)
        whole = chunk >= i_new
        # a prefill step holds as many whole prompts as fit and are waiting: about the
        # completions per step (each replaced by a new request), at least one
        waiting = np.minimum(np.maximum(np.ceil(lam - 1e-9), 1.0), n)
        prompts = np.where(whole, np.clip(np.floor(room / i_new), 1.0, waiting), 1.0)
        tokens_pre = np.where(whole, prompts * i_new, chunk)
        chunks_per_prompt = np.where(whole, 1.0, np.ceil(i_new / chunk))
        if s.mixed_batches:
            # a prompt's chunks run in consecutive steps; meanwhile it is not decoding
            d_dec = n / (1.0 + chunks_per_prompt / dec_steps)
            lam = d_dec / dec_steps  # completions per step
            f = lam * i_new / tokens_pre  # share of steps carrying prefill
            # if the chunks cannot keep up, every step carries one and fewer decode
            d_dec = np.where(f > 1.0, tokens_pre * dec_steps / i_new, d_dec)
            f = np.minimum(f, 1.0)
            room = np.maximum(budget - d_dec, 1.0)
        else:
            lam = d_dec / dec_steps
            f_pre = lam * i_new / tokens_pre  # prefill-only steps per decode step
            f = f_pre / (1.0 + f_pre)  # their share of all steps
    lam = d_dec / dec_steps

    # step loads: a decode-only step and a step with a prefill chunk
    ctx_hi = i_tok + o_tok
    dec, dec_keys_each = _decode_step(d, d_dec, i_tok, o_tok)
    per_step_pairs, per_step_keys = _prefill_work(i_new, cached, chunk, tokens_pre, windows)
    dec_in_mixed = d_dec if s.mixed_batches else np.zeros_like(d_dec)
    eager_mix = s.runs_eager(dec_in_mixed + prompts, ctx_hi, True)
    mixed = StepLoad(
        tokens=dec_in_mixed + tokens_pre, seqs=dec_in_mixed + prompts,
        decode_seqs=dec_in_mixed,
        logits=dec_in_mixed + tokens_pre / i_new,  # completing prompts sample a token
        decode_keys=np.outer(dec_keys_each, dec_in_mixed),
        prefill_pairs=per_step_pairs, prefill_keys=per_step_keys, eager=eager_mix)
    bd_dec = cost.step_time(dec)
    bd_mix = cost.step_time(mixed)
    t_dec, t_mix = bd_dec.total, bd_mix.total

    t_step = (1.0 - f) * t_dec + f * t_mix
    if s.mixed_batches:
        prefill_time = f * (t_mix - t_dec)
        per_decode_step = t_step  # every step advances the decodes
        # a request's own chunks run while it is not decoding: its decode steps carry
        # the other requests' chunks only (f x lifetime steps, less its own)
        life = dec_steps + chunks_per_prompt
        seen = np.clip((f * life - chunks_per_prompt) / dec_steps, 0.0, 1.0)
        step_seen = (1.0 - seen) * t_dec + seen * t_mix
    else:
        # f is the share of prefill-only steps; decodes advance only in the others
        prefill_time = f * t_mix
        per_decode_step = t_step / (1.0 - f)
        # prefill-only steps in a request's lifetime, less its own, pause its decodes
        pre_steps = f / (1.0 - f) * dec_steps
        others = np.maximum(pre_steps - chunks_per_prompt, 0.0)
        step_seen = t_dec + others / dec_steps * t_mix
    tpot = step_seen / e_tok
    req_per_s = lam / per_decode_step
    # TTFT: in a closed loop of `conc` clients Little's law fixes the mean end-to-end
    # latency, conc / throughput; what the decode steps do not take is the wait for a
    # slot and for the prefill chunks (at least the prompt's own chunks)
    service = chunks_per_prompt * t_mix
    e2e = conc / np.maximum(req_per_s, 1e-30)
    ttft = np.maximum(e2e - (o_tok - 1.0) * tpot, service)
    e2e = ttft + (o_tok - 1.0) * tpot
    # the tail: prefill work arrives at random while the chunks serve it (an M/D/1
    # queue of load f: P(wait > 0) = f, then about exponential with the conditional
    # mean service / (2 (1 - f))); p99 adds its excess over its mean. Near saturation
    # a closed loop serves its clients in turn and the wait is nearly deterministic.
    rho = np.minimum(f, 0.9)
    mean_q = rho / (2.0 * (1.0 - rho)) * service
    tail = md1_p99_wait(service, rho)
    taper = np.clip((1.0 - f) / 0.2, 0.0, 1.0)  # 1 up to f = 0.8, 0 at saturation
    ttft_p99 = ttft + taper * np.maximum(tail - mean_q, 0.0)
    out_tps = req_per_s * o_tok
    weights = {k: (1.0 - f) * getattr(bd_dec, k) + f * getattr(bd_mix, k)
               for k in ("compute", "memory", "communication", "overhead")}
    total = sum(weights.values())
    return SteadyState(
        concurrency=conc, running=n, decoding=d_dec, step_s=t_step, decode_step_s=t_dec,
        mixed_step_s=t_mix, prefill_step_share=f, ttft_s=ttft, ttft_p99_s=ttft_p99,
        tpot_s=tpot, e2e_s=e2e,
        requests_per_s=req_per_s, output_tokens_per_s=out_tps,
        input_tokens_per_s=req_per_s * i_tok, prefill_time_share=prefill_time / t_step,
        breakdown_share={k: v / total for k, v in weights.items()}, num_gpus=d.num_gpus)


def _decode_step(d: Deployment, n: Array, i_tok: float, o_tok: float
                 ) -> tuple[StepLoad, Array]:
    """A decode-only step of n sequences whose contexts are spread evenly over a request's
    decode (I + 1 .. I + O), and the keys one of them reads per window on average."""
    keys_each = np.array([_window_mean(i_tok + 1.0, i_tok + o_tok, w)
                          for w in d.model.windows])
    n = np.asarray(n, dtype=float)
    zeros = np.zeros((keys_each.size, *n.shape))
    eager = np.asarray(d.engine.scheduler.runs_eager(n, i_tok + o_tok, False), dtype=float)
    return StepLoad(tokens=n, seqs=n, decode_seqs=n, logits=n,
                    decode_keys=np.outer(keys_each, n).reshape(zeros.shape),
                    prefill_pairs=zeros, prefill_keys=zeros, eager=eager), keys_each


def _new_prompt(d: Deployment, i_tok: float, prefix_hit_rate: float) -> tuple[int, float]:
    """(prompt tokens served from the prefix cache, prompt tokens computed), checked: a
    hit rate in [0, 1), at least one token to compute, within the step budget of an
    engine that does not chunk."""
    if not 0.0 <= prefix_hit_rate < 1.0:
        raise InvalidValueError(f"prefix-cache hit rate must be in [0, 1), got "
                                f"{prefix_hit_rate}")
    cached = math.floor(i_tok * prefix_hit_rate)
    i_new = i_tok - cached
    if not i_new >= 1.0:
        raise InvalidValueError(f"a prefill needs at least one new prompt token, got {i_new}")
    s = d.engine.scheduler
    if not s.chunked_prefill and i_new > s.max_num_batched_tokens:
        raise InvalidValueError(prompt_over_budget(d, int(i_new)))
    return cached, i_new


def _prefill_work(i_new: float, cached: int, chunk: Array, tokens_pre: Array,
                  windows: tuple[int | None, ...]) -> tuple[Array, Array]:
    """Query-key pairs and cached keys read by steps that prefill ``tokens_pre`` tokens of
    prompts (``i_new`` new tokens after ``cached`` ones, in chunks of ``chunk``), per
    window (windows x steps)."""
    share = tokens_pre / i_new  # prompts' worth per step
    pairs = np.array([float(causal_pairs(i_new, w, cached)) for w in windows])[:, None]
    keys = np.stack([chunk_keys(i_new, chunk, w, cached) for w in windows])
    return pairs * share, keys * share


@dataclass(frozen=True)
class PrefillCapacity:
    """A replica that only prefills (the prefill pool of disaggregated serving)."""

    requests_per_s: float  # prompts per second at full load
    step_s: float  # one full-budget prefill step
    service_s: float  # time one prompt's chunks take


def prefill_capacity(d: Deployment, input_tokens: float, *, prefix_hit_rate: float = 0.0,
                     cost: CostModel | None = None) -> PrefillCapacity:
    """Prompts per second of full-budget, prefill-only steps (no decodes)."""
    d.check_fits()
    cost = cost or CostModel(d)
    s = d.engine.scheduler
    budget = float(s.max_num_batched_tokens)
    cached, i_new = _new_prompt(d, float(input_tokens), prefix_hit_rate)
    chunk = min(budget, i_new) if s.chunked_prefill else i_new
    whole = chunk >= i_new
    prompts = max(math.floor(budget / i_new), 1) if whole else 1.0
    tokens_pre = prompts * i_new if whole else chunk
    chunks = 1.0 if whole else math.ceil(i_new / chunk)
    windows = d.model.windows
    pairs, keys = _prefill_work(i_new, cached, np.array([chunk]), np.array([tokens_pre]),
                                windows)
    zero = np.zeros(1)
    load = StepLoad(tokens=np.array([tokens_pre]), seqs=np.array([float(prompts)]),
                    decode_seqs=zero, logits=np.array([tokens_pre / i_new]),
                    decode_keys=np.zeros((len(windows), 1)), prefill_pairs=pairs,
                    prefill_keys=keys, eager=np.ones(1))
    t = float(cost.step_time(load).total[0])
    return PrefillCapacity(requests_per_s=tokens_pre / i_new / t, step_s=t,
                           service_s=chunks * t)


@dataclass(frozen=True)
class DecodeCapacity:
    """A replica that only decodes (the decode pool), per concurrency."""

    concurrency: Array
    running: Array
    step_s: Array
    tpot_s: Array
    requests_per_s: Array
    output_tokens_per_s: Array


def decode_capacity(d: Deployment, input_tokens: float, output_tokens: float,
                    concurrency: ArrayLike, *, cost: CostModel | None = None
                    ) -> DecodeCapacity:
    """Decode-only steps of ``min(concurrency, capacity)`` sequences whose prompts were
    prefilled elsewhere (their KV arrives with them)."""
    d.check_fits()
    cost = cost or CostModel(d)
    i_tok, o_tok = float(input_tokens), float(output_tokens)
    conc = np.atleast_1d(np.asarray(concurrency, float))
    n = np.minimum(conc, float(concurrency_limit(d, int(i_tok), int(o_tok))))
    t = cost.step_time(_decode_step(d, n, i_tok, o_tok)[0]).total
    e_tok = cost.tokens_per_decode_step
    rps = n * e_tok / (o_tok - 1.0) / t
    return DecodeCapacity(concurrency=conc, running=n, step_s=t, tpot_s=t / e_tok,
                          requests_per_s=rps, output_tokens_per_s=rps * o_tok)
