"""Closed-form estimator for a burst of B identical requests sent together.

This is the article's experiment: B requests of I input and O output tokens arrive at
once; the engine admits as many as its scheduler and KV cache allow, the others wait for
a free slot. Instead of stepping through the engine, the estimator treats the schedule as
a fluid in "step space" and evaluates the per-step cost model once per interval with a
constant batch composition:

- with mixed batches (vLLM, TensorRT-LLM, llama.cpp), prompts are prefilled first come
  first served at ``budget - decoders`` tokens per step while earlier requests decode;
  request j's prefill completes at step s_j and it finishes at f_j = s_j + O - 1. Request
  j may only start once request j - n has finished, where n is the concurrency the KV
  cache and ``max_num_seqs`` allow. The schedule (s, f) and the number of decoders alive
  during each prefill are solved together by a few fixed-point passes;
- with prefill-priority engines (SGLang), each cohort of up to n requests is prefilled
  in full-budget steps, then decodes together until it finishes.

The resulting intervals (between consecutive prefill starts, completions and finishes)
go through :class:`~tokenomist.perf.step_cost.CostModel` in one vectorized call; the
cumulative time at each interval boundary gives every request's first-token and finish
times. Cost: O(B log B) NumPy work per batch size, no loop over tokens or steps.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tokenomist.arch.accounting import causal_pairs
from tokenomist.deploy.deployment import Deployment
from tokenomist.errors import InvalidValueError
from tokenomist.perf.step_cost import CostModel, StepLoad

Array = NDArray[np.float64]


@dataclass(frozen=True)
class BurstPoint:
    """Predicted outcome of one burst of ``batch_size`` identical requests."""

    batch_size: int
    input_tokens: int
    output_tokens: int
    elapsed_s: float
    ttft_s: float  # mean over requests
    tpot_s: float  # mean over requests of (finish - first token) / (O - 1)
    e2e_s: float  # mean end-to-end latency
    request_tokens_per_s: float  # mean over requests of O / its end-to-end latency
    concurrency: int  # sequences the engine runs at once
    waves: int
    steps: float
    breakdown_s: dict[str, float]  # seconds by cause over the whole burst

    @property
    def output_tokens_per_s(self) -> float:
        return self.batch_size * self.output_tokens / self.elapsed_s

    @property
    def input_tokens_per_s(self) -> float:
        return self.batch_size * self.input_tokens / self.elapsed_s

    @property
    def per_request_tokens_per_s(self) -> float:
        return self.output_tokens / self.e2e_s

    @property
    def bottleneck(self) -> str:
        return max(self.breakdown_s, key=lambda k: self.breakdown_s[k])


def admission_limit(d: Deployment, input_tokens: int, output_tokens: int) -> int:
    """Requests of this shape admitted into an empty engine at once.

    ``admission="full"`` reserves prompt + output pages; ``admission="prompt"`` only the
    prompt's (vLLM, SGLang), capped by ``max_num_seqs``.
    """
    s = d.engine.scheduler
    plan = d.memory
    usable = plan.kv_blocks - int(s.watermark * plan.kv_blocks)
    held = input_tokens + output_tokens if s.admission == "full" else input_tokens
    blocks = math.ceil(float(plan.kv_token_cost(held)) / plan.block_size)
    return max(1, min(s.max_num_seqs, usable // max(blocks, 1)))


def concurrency_limit(d: Deployment, input_tokens: int, output_tokens: int) -> int:
    """Sequences of this shape running at once in a steady flow of requests.

    ``admission="full"``: KV / (I + O). ``admission="prompt"``: a new request is admitted
    when its prompt's pages are free, so the running set fills the cache; its ages are
    spread over the time a wave takes to prefill (n x I / budget steps, at most O), so it
    holds on average I + O - span / 2 tokens per sequence. Prefill-priority engines
    prefill a cohort before decoding it (no spread).
    """
    s = d.engine.scheduler
    plan = d.memory
    usable = plan.kv_blocks - int(s.watermark * plan.kv_blocks)

    def fits(per_seq_tokens: float) -> int:
        per_blocks = per_seq_tokens / plan.block_size + 0.5  # last page partly filled
        return max(1, min(s.max_num_seqs, int(usable // per_blocks)))

    n = fits(float(plan.kv_token_cost(input_tokens + output_tokens)))
    if s.mixed_batches and not s.chunked_prefill:
        # a whole prompt joins a step only if the decodes leave room for it
        n = max(1, min(n, s.max_num_batched_tokens - input_tokens + 1))
    if s.admission == "full" or not s.mixed_batches or output_tokens <= 1:
        return n
    for _ in range(30):
        room = max(s.max_num_batched_tokens - n, 1)
        span = min(float(output_tokens), n * input_tokens / room)
        ages = np.linspace(output_tokens - span, output_tokens, 33)
        new = fits(float(np.mean(plan.kv_token_cost(input_tokens + ages))))
        if abs(new - n) <= 1:
            return min(new, admission_limit(d, input_tokens, output_tokens))
        n = (n + new) // 2
    return min(n, admission_limit(d, input_tokens, output_tokens))


class BurstEstimator:
    """Closed-form burst predictions for one deployment."""

    def __init__(self, deployment: Deployment, cost: CostModel | None = None) -> None:
        self.d = deployment
        self.cost = cost or CostModel(deployment)
        self.plan = deployment.check_fits()
        s = deployment.engine.scheduler
        self.budget = float(s.max_num_batched_tokens)
        self.chunked = s.chunked_prefill
        self.mixed = s.mixed_batches
        self.windows = deployment.model.windows
        self.graph_batch = s.cuda_graph_max_batch
        self.graph_ctx = s.cuda_graph_max_context
        self.graph_mixed = s.cuda_graph_mixed_steps
        self.preempts = s.admission == "prompt"
        self.capacity_tokens = float(
            (self.plan.kv_blocks - int(s.watermark * self.plan.kv_blocks)) * self.plan.block_size)

    # ------------------------------------------------------------------------------ API
    def estimate(self, batch_sizes: list[int] | NDArray[np.int64], input_tokens: int,
                 output_tokens: int) -> list[BurstPoint]:
        self._validate(batch_sizes, input_tokens, output_tokens)
        n_cap = concurrency_limit(self.d, input_tokens, output_tokens)
        self.first_wave = admission_limit(self.d, input_tokens, output_tokens) \
            if self.preempts and self.mixed else n_cap
        return [self._burst(int(b), input_tokens, output_tokens, n_cap) for b in batch_sizes]

    def _validate(self, batch_sizes: list[int] | NDArray[np.int64], i: int, o: int) -> None:
        if i < 1 or o < 1:
            raise InvalidValueError("input and output tokens must be positive integers "
                                    f"(got {i} and {o})")
        if any(int(b) < 1 for b in batch_sizes):
            raise InvalidValueError("batch sizes must be positive integers")
        limit = self.d.context_limit()
        if i + o > limit:
            raise InvalidValueError(
                f"input + output = {i + o} tokens exceeds the {limit}-token context of "
                f"{self.d.model.name}")
        s = self.d.engine.scheduler
        if not self.chunked and i > self.budget:
            from tokenomist.perf.simulator import prompt_over_budget
            raise InvalidValueError(prompt_over_budget(self.d, i))
        need = i + o if s.admission == "full" else i
        blocks = math.ceil(float(self.plan.kv_token_cost(need)) / self.plan.block_size)
        if blocks + int(s.watermark * self.plan.kv_blocks) > self.plan.kv_blocks \
                or math.ceil(float(self.plan.kv_token_cost(i + o)) / self.plan.block_size) \
                > self.plan.kv_blocks:
            raise InvalidValueError(
                f"one request of {i + o} tokens needs more KV cache than the deployment "
                f"holds ({self.plan.kv_tokens} tokens); use more GPUs, --kv-dtype fp8 or "
                "shorter requests")

    # ------------------------------------------------------------------------- schedule
    def _tau(self, decoders: Array, input_tokens: int) -> Array:
        """Steps to prefill one prompt while ``decoders`` sequences decode."""
        room = np.maximum(self.budget - decoders, 1.0)
        if self.chunked:
            return np.maximum(input_tokens / room, 1e-9)
        # whole prompts: floor(room / I) per step, at least one prompt per step
        per_step = np.maximum(np.floor(room / input_tokens), 1.0)
        return 1.0 / per_step

    def _schedule_mixed(self, b: int, i_tok: int, o_tok: int, n: int, first: int
                        ) -> tuple[Array, Array, Array]:
        """Prefill start, prefill completion and finish steps of each request.

        The first ``first`` requests are admitted at once; request k after them waits for
        request k - n to finish.
        """
        j = np.arange(b, dtype=float)
        dec = np.minimum(j, max(n, first) - 1)
        bounds = [0, *range(min(first, b), b, n), b]
        life = float(o_tok - 1)
        start = s = f = np.zeros(b)
        for _ in range(6):
            tau = self._tau(dec, i_tok)
            cum = np.cumsum(tau)
            s = np.empty(b)
            start = np.empty(b)
            prev_end = 0.0
            for w0, w1 in itertools.pairwise(bounds):
                idx = np.arange(w0, w1)
                t_before = cum[idx] - tau[idx]  # cumulative tau before request k
                # from the second block on, request k waits for request k - n to finish
                gate = np.full(idx.size, -np.inf) if w0 == 0 else s[idx - n] + life - t_before
                base = max(prev_end - (cum[w0] - tau[w0]), 0.0) if w0 else 0.0
                shift = np.maximum.accumulate(np.maximum(gate, base))
                s[idx] = cum[idx] + shift
                start[idx] = s[idx] - tau[idx]
                prev_end = float(s[w1 - 1])
            # steps are discrete: prompts that fit in the first step all complete in it
            in_first_step = s < 1.0
            s = np.where(in_first_step, 1.0, s)
            start = np.where(in_first_step, 0.0, start)
            f = s + life
            mid = (s + start) / 2.0
            started = np.minimum(np.searchsorted(s, mid, side="right"), j)
            finished = np.minimum(np.searchsorted(f, mid, side="right"), j)
            new_dec = (started - finished).astype(float)
            if np.allclose(new_dec, dec):
                break
            dec = new_dec
        return start, s, f

    # ------------------------------------------------------------------------- burst
    def _burst(self, b: int, i_tok: int, o_tok: int, n_cap: int) -> BurstPoint:
        n = min(n_cap, b)
        if self.mixed:
            first = min(b, max(n, self.first_wave))
            start, s, f = self._schedule_mixed(b, i_tok, o_tok, n, first)
            seg = self._segments_mixed(start, s, f, i_tok)
        else:
            start, s, f, seg = self._schedule_cohorts(b, i_tok, o_tok, n)
        length, load, progress = seg
        bd = self.cost.step_time(load)
        seg_time = length * bd.total
        edges = np.concatenate([[0.0], np.cumsum(progress)])  # schedule (progress) steps
        clock = np.concatenate([[0.0], np.cumsum(seg_time)])
        t_first = np.interp(s, edges, clock)
        t_finish = np.interp(f, edges, clock)
        elapsed = float(t_finish.max())
        ttft = float(np.mean(t_first))
        tpot = float(np.mean((t_finish - t_first) / (o_tok - 1))) if o_tok > 1 else 0.0
        breakdown = {
            "compute": float(np.sum(length * bd.compute)),
            "memory": float(np.sum(length * bd.memory)),
            "communication": float(np.sum(length * bd.communication)),
            "overhead": float(np.sum(length * bd.overhead)),
        }
        return BurstPoint(batch_size=b, input_tokens=i_tok, output_tokens=o_tok,
                          elapsed_s=elapsed, ttft_s=ttft, tpot_s=tpot,
                          e2e_s=float(np.mean(t_finish)),
                          request_tokens_per_s=float(np.mean(o_tok / t_finish)), concurrency=n,
                          waves=math.ceil(b / n), steps=float(np.sum(length)),
                          breakdown_s=breakdown)

    def _segments_mixed(self, start: Array, s: Array, f: Array, i_tok: int
                        ) -> tuple[Array, StepLoad, Array]:
        """Intervals of constant composition between schedule events: (real steps, load
        per step, schedule steps)."""
        # kinks: a decoder's context reaches a window or the CUDA-graph context limit
        kinks = [w for w in self.windows if w is not None]
        if self.graph_ctx:
            kinks.append(self.graph_ctx)
        extra = [s + (k - i_tok - 0.5) for k in kinks if k > i_tok]
        if self.preempts:
            # the share of sequences that fit in the cache changes along a long decode:
            # subdivide so each interval is short against the generation length
            extra.append(np.linspace(0.0, f[-1], 49))
        pts = np.unique(np.concatenate([[0.0], start, s, f, *extra]))
        pts = pts[pts <= f[-1]]
        a, z = pts[:-1], pts[1:]
        keep = z - a > 1e-9
        a, z = a[keep], z[keep]
        length = z - a
        mid = (a + z) / 2.0
        # decoders: prefill done, not finished (s and f are both sorted by request)
        n_started = np.searchsorted(s, mid, side="right")
        n_finished = np.searchsorted(f, mid, side="right")
        alive = (n_started - n_finished).astype(float)
        cs = np.concatenate([[0.0], np.cumsum(s)])
        # context of decoder i at mid: prompt + tokens generated (+1 for the new token)
        base = i_tok + mid + 0.5
        ctx_sum = alive * base - (cs[n_started] - cs[n_finished])
        rows = []
        for w in self.windows:
            if w is None:
                rows.append(ctx_sum)
                continue
            # decoders whose context reached the window: s_i <= base - w
            capped_end = np.clip(np.searchsorted(s, base - w, side="right"), n_finished,
                                 n_started)
            n_cap = capped_end - n_finished
            rest = n_started - capped_end
            rows.append(n_cap * float(w) + rest * base - (cs[n_started] - cs[capped_end]))
        dec_keys = np.stack(rows)
        # prefills in flight: each spreads its prompt evenly over [start_j, s_j)
        dur = np.maximum(s - start, 1e-12)
        ev_pos = np.concatenate([start, s])
        order = np.argsort(ev_pos, kind="stable")
        ev_rate = np.concatenate([1.0 / dur, -1.0 / dur])[order]
        ev_cnt = np.concatenate([np.ones_like(s), -np.ones_like(s)])[order]
        pos = ev_pos[order]
        idx = np.searchsorted(pos, mid, side="right") - 1
        rate = np.where(idx >= 0, np.cumsum(ev_rate)[np.maximum(idx, 0)], 0.0)
        rate = np.maximum(rate, 0.0)  # prompts completed per step
        in_flight = np.where(idx >= 0, np.cumsum(ev_cnt)[np.maximum(idx, 0)], 0.0)
        active = in_flight > 0.5
        pairs = np.stack([rate * float(causal_pairs(i_tok, w)) for w in self.windows])
        pre_keys = np.stack([rate * float(self._chunk_keys(i_tok, w)) for w in self.windows])
        oldest = np.where(alive > 0, base - s[np.minimum(n_finished, s.size - 1)], 0.0)
        if self.preempts:
            # pages held: decoders' contexts (windows capped) and whole admitted prompts;
            # when they exceed the cache, only the share that fits runs each step
            shares = np.array([share for _, share in self.plan.window_shares])[:, None]
            held = np.sum(shares * dec_keys, axis=0) + in_flight * float(
                self.plan.kv_token_cost(i_tok)) + (alive + in_flight) * self.plan.block_size / 2
            fit = np.clip(self.capacity_tokens / np.maximum(held, 1.0), 1e-3, 1.0)
        else:
            fit = np.ones_like(alive)
        running = alive * fit
        eager = self._eager(running + in_flight * fit, oldest, active)
        load = StepLoad(tokens=(alive + rate * i_tok) * fit, seqs=(alive + in_flight) * fit,
                        decode_seqs=running,
                        logits=(alive + rate) * fit, decode_keys=dec_keys * fit,
                        prefill_pairs=pairs * fit, prefill_keys=pre_keys * fit, eager=eager)
        real = length / fit
        return real, load, length

    def _chunk_keys(self, i_tok: int, window: int | None) -> float:
        """Cached keys the chunks of one prompt read in total (chunk c, prefix k*c)."""
        c = min(self.budget, float(i_tok)) if self.chunked else float(i_tok)
        m = math.ceil(i_tok / c)
        reads = np.minimum(np.arange(1, m + 1) * c, i_tok)
        if window is not None:
            reads = np.minimum(reads, window)
        return float(np.sum(reads))

    def _eager(self, seqs: Array, max_ctx: Array, has_prefill: NDArray[np.bool_]) -> Array:
        if self.graph_batch == 0:
            return np.ones_like(seqs)
        eager = seqs > self.graph_batch
        if not self.graph_mixed:
            eager = eager | has_prefill
        if self.graph_ctx:
            eager = eager | (max_ctx > self.graph_ctx)
        return eager.astype(float)

    def _schedule_cohorts(self, b: int, i_tok: int, o_tok: int, n: int
                          ) -> tuple[Array, Array, Array, tuple[Array, StepLoad, Array]]:
        """Prefill-priority engines: cohorts of n prefill together, then decode together."""
        sizes = np.full(b // n, n, dtype=float)
        if b % n:
            sizes = np.append(sizes, b % n)
        lengths: list[Array] = []
        loads: list[StepLoad] = []
        start = np.empty(b)
        s = np.empty(b)
        f = np.empty(b)
        offset = 0.0
        life = float(o_tok - 1)
        pos = 0
        for size in sizes:
            k = int(size)
            tokens = size * i_tok
            if self.chunked:
                pf_steps = float(math.ceil(tokens / self.budget - 1e-9))
                # a prompt completes in the step that processes its last token
                per_req = np.ceil(np.arange(1, k + 1) * i_tok / self.budget - 1e-9)
            else:
                per_step = max(math.floor(self.budget / i_tok), 1)
                pf_steps = float(math.ceil(k / per_step))
                per_req = np.ceil(np.arange(1, k + 1) / per_step)
            per_req = np.maximum(per_req, 1e-9)
            s[pos:pos + k] = offset + np.minimum(per_req, pf_steps)
            start[pos:pos + k] = offset
            f[pos:pos + k] = offset + pf_steps + life
            rate = size / pf_steps
            lengths.append(np.array([pf_steps]))
            loads.append(self._one_load(tokens=tokens / pf_steps, seqs=rate, logits=rate,
                                        dec_alive=0.0, ctx=(0, 0.0), prefill_rate=rate,
                                        i_tok=i_tok, prefill=True))
            if life > 0:
                lengths.append(np.array([life]))
                loads.append(self._one_load(tokens=size, seqs=size, logits=size,
                                            dec_alive=size, ctx=(i_tok, life), prefill_rate=0.0,
                                            i_tok=i_tok, prefill=False,
                                            oldest=i_tok + life))
            # completions in a cohort all happen at the end of its decode phase
            offset += pf_steps + life
            pos += k
        # the first token of each request is sampled when its cohort's decode starts
        length = np.concatenate(lengths)
        load = StepLoad(
            tokens=np.concatenate([ld.tokens for ld in loads]),
            seqs=np.concatenate([ld.seqs for ld in loads]),
            decode_seqs=np.concatenate([ld.decode_seqs for ld in loads]),
            logits=np.concatenate([ld.logits for ld in loads]),
            decode_keys=np.concatenate([ld.decode_keys for ld in loads], axis=1),
            prefill_pairs=np.concatenate([ld.prefill_pairs for ld in loads], axis=1),
            prefill_keys=np.concatenate([ld.prefill_keys for ld in loads], axis=1),
            eager=np.concatenate([ld.eager for ld in loads]))
        return start, s, f, (length, load, length)

    def _one_load(self, *, tokens: float, seqs: float, logits: float, dec_alive: float,
                  ctx: tuple[int, float], prefill_rate: float, i_tok: int, prefill: bool,
                  oldest: float = 0.0) -> StepLoad:
        """Load of an interval: ``ctx`` = (prompt, decode steps) gives the mean keys of a
        decoder over steps 1..n exactly, window caps included."""
        def col(x: float) -> Array:
            return np.array([x])

        prompt, n_dec = ctx
        k = np.arange(1, int(n_dec) + 1, dtype=float) + prompt if n_dec else np.zeros(1)
        dec_keys = np.array([[dec_alive * float(np.mean(k if w is None else np.minimum(k, w)))]
                             for w in self.windows])
        pairs = np.array([[prefill_rate * float(causal_pairs(i_tok, w))] for w in self.windows])
        keys = np.array([[prefill_rate * self._chunk_keys(i_tok, w)] for w in self.windows])
        eager = self._eager(col(seqs), col(oldest), col(float(prefill)).astype(bool))
        return StepLoad(tokens=col(tokens), seqs=col(seqs), decode_seqs=col(dec_alive),
                        logits=col(logits),
                        decode_keys=dec_keys, prefill_pairs=pairs, prefill_keys=keys,
                        eager=eager)


def estimate_burst(deployment: Deployment, batch_sizes: list[int], input_tokens: int,
                   output_tokens: int) -> list[BurstPoint]:
    return BurstEstimator(deployment).estimate(batch_sizes, input_tokens, output_tokens)
