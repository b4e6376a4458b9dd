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
go through :class:`~tokenomist.perf.step_cost.CostModel`; the cumulative time at each
interval boundary gives every request's first-token and finish times.

Everything is vectorized over *points* (shape x batch size) as well as over requests: the
schedules of all shapes are solved together on ragged arrays, and since requests are
admitted first come first served, the schedule of a burst of B is a prefix of the schedule
of any larger burst of the same shape, so one solve serves every batch size. All
intervals of all points then go through the cost model in a single call. No loop runs
over tokens, steps or requests; the only Python loops are over distinct shapes (to size
their concurrency), over waves, and a few fixed-point passes.
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


@dataclass(frozen=True)
class BurstGrid:
    """Struct-of-arrays result for many points (one entry per point)."""

    batch_size: NDArray[np.int64]
    input_tokens: NDArray[np.int64]
    output_tokens: NDArray[np.int64]
    elapsed_s: Array
    ttft_s: Array
    tpot_s: Array
    e2e_s: Array
    request_tokens_per_s: Array
    concurrency: NDArray[np.int64]
    waves: NDArray[np.int64]
    steps: Array
    compute_s: Array
    memory_s: Array
    communication_s: Array
    overhead_s: Array

    @property
    def output_tokens_per_s(self) -> Array:
        return self.batch_size * self.output_tokens / self.elapsed_s

    def point(self, k: int) -> BurstPoint:
        return BurstPoint(
            batch_size=int(self.batch_size[k]), input_tokens=int(self.input_tokens[k]),
            output_tokens=int(self.output_tokens[k]), elapsed_s=float(self.elapsed_s[k]),
            ttft_s=float(self.ttft_s[k]), tpot_s=float(self.tpot_s[k]),
            e2e_s=float(self.e2e_s[k]), request_tokens_per_s=float(self.request_tokens_per_s[k]),
            concurrency=int(self.concurrency[k]), waves=int(self.waves[k]),
            steps=float(self.steps[k]),
            breakdown_s={"compute": float(self.compute_s[k]), "memory": float(self.memory_s[k]),
                         "communication": float(self.communication_s[k]),
                         "overhead": float(self.overhead_s[k])})


def _offsets(sizes: NDArray[np.int64]) -> NDArray[np.int64]:
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def _ragged_index(sizes: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(owner, local index) of every element of ragged groups of ``sizes``."""
    owner = np.repeat(np.arange(sizes.size), sizes)
    local = np.arange(int(sizes.sum())) - np.repeat(_offsets(sizes), sizes)
    return owner, local


def _segmented_searchsorted(values: Array, owner_v: NDArray[np.int64], start_v: NDArray[np.int64],
                            queries: Array, owner_q: NDArray[np.int64],
                            side: str = "right") -> NDArray[np.int64]:
    """For each query, how many values of its own group are <= (or <) it.

    ``values`` must be sorted within each group and groups laid out in order.
    """
    lo = min(float(values.min(initial=0.0)), float(queries.min(initial=0.0)))
    hi = max(float(values.max(initial=0.0)), float(queries.max(initial=0.0)))
    span = hi - lo + 1.0
    keyed = (values - lo) + owner_v * span
    q = (queries - lo) + owner_q * span
    pos = np.searchsorted(keyed, q, side=side)  # type: ignore[call-overload]
    return np.asarray(pos - start_v[owner_q], dtype=np.int64)


def _segmented_cummax(x: Array, seg: NDArray[np.int64]) -> Array:
    """Running maximum that restarts at each new value of ``seg`` (groups contiguous)."""
    if x.size == 0:
        return x
    finite = np.isfinite(x)
    lo = float(x[finite].min()) - 1.0 if finite.any() else 0.0
    y = np.where(finite, x, lo)  # -inf sorts below every finite value
    span = float(y.max()) - lo + 1.0
    rank = np.concatenate([[0], np.cumsum(seg[1:] != seg[:-1])])
    out = np.maximum.accumulate((y - lo) + rank * span) - rank * span + lo
    return np.where(out <= lo, -np.inf, out)


EVENTS = 48  # requests per point whose events delimit intervals (all of them if fewer)


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
        self.window_shares = np.array([share for _, share in self.plan.window_shares])

    # ------------------------------------------------------------------------------ API
    def estimate(self, batch_sizes: list[int] | NDArray[np.int64], input_tokens: int,
                 output_tokens: int) -> list[BurstPoint]:
        """Bursts of each batch size for one request shape."""
        b = np.asarray(list(batch_sizes), dtype=np.int64)
        grid = self.estimate_grid(np.full(b.size, input_tokens), np.full(b.size, output_tokens),
                                  b)
        return [grid.point(k) for k in range(b.size)]

    def estimate_grid(self, input_tokens: NDArray[np.int64] | list[int],
                      output_tokens: NDArray[np.int64] | list[int],
                      batch_sizes: NDArray[np.int64] | list[int]) -> BurstGrid:
        """Bursts for many (input, output, batch) points at once (arrays of equal length)."""
        i_arr = np.asarray(input_tokens, dtype=np.int64)
        o_arr = np.asarray(output_tokens, dtype=np.int64)
        b_arr = np.asarray(batch_sizes, dtype=np.int64)
        if not (i_arr.shape == o_arr.shape == b_arr.shape) or i_arr.ndim != 1:
            raise InvalidValueError("input, output and batch arrays must have the same length")
        if np.any(b_arr < 1):
            raise InvalidValueError("batch sizes must be positive integers")
        shapes, shape_of_point = np.unique(np.stack([i_arr, o_arr], axis=1), axis=0,
                                           return_inverse=True)
        shape_of_point = shape_of_point.reshape(-1)
        n_cap = np.empty(len(shapes), np.int64)
        first = np.empty(len(shapes), np.int64)
        for k, (i_tok, o_tok) in enumerate(shapes.tolist()):
            self._validate(int(i_tok), int(o_tok))
            n_cap[k] = concurrency_limit(self.d, int(i_tok), int(o_tok))
            first[k] = admission_limit(self.d, int(i_tok), int(o_tok)) \
                if self.preempts and self.mixed else n_cap[k]
        b_max = np.zeros(len(shapes), np.int64)
        np.maximum.at(b_max, shape_of_point, b_arr)
        if self.mixed:
            return self._grid_mixed(shapes, shape_of_point, b_arr, b_max, n_cap, first)
        return self._grid_cohorts(shapes, shape_of_point, b_arr, n_cap)

    def _validate(self, i: int, o: int) -> None:
        if i < 1 or o < 1:
            raise InvalidValueError("input and output tokens must be positive integers "
                                    f"(got {i} and {o})")
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

    # ----------------------------------------------------------------------- mixed batches
    def _tau(self, decoders: Array, input_tokens: Array) -> Array:
        """Steps to prefill one prompt while ``decoders`` sequences decode."""
        room = np.maximum(self.budget - decoders, 1.0)
        if self.chunked:
            return np.maximum(input_tokens / room, 1e-9)
        # whole prompts: floor(room / I) per step, at least one prompt per step
        return 1.0 / np.maximum(np.floor(room / input_tokens), 1.0)

    def _schedule(self, shapes: NDArray[np.int64], b_max: NDArray[np.int64],
                  n_cap: NDArray[np.int64], first_wave: NDArray[np.int64]
                  ) -> tuple[NDArray[np.int64], NDArray[np.int64], Array, Array, Array]:
        """Prefill start, prefill completion and finish steps of every request of every
        shape (ragged: shape of each request, local index)."""
        owner, j = _ragged_index(b_max)
        starts = _offsets(b_max)
        i_tok = shapes[owner, 0].astype(float)
        life = (shapes[owner, 1] - 1).astype(float)
        n = np.minimum(n_cap, b_max)[owner]
        first = np.minimum(b_max, np.maximum(np.minimum(n_cap, b_max), first_wave))[owner]
        # block of each request: 0 for the first wave, then one block per n requests
        block = np.where(j < first, 0, 1 + (j - first) // np.maximum(n, 1))
        n_blocks = int(block.max()) + 1 if block.size else 1
        jf = j.astype(float)
        dec = np.minimum(jf, np.maximum(n, first) - 1.0)
        s = start = f = np.zeros_like(jf)
        by_block = np.argsort(block, kind="stable")  # request indices grouped by block
        cuts = np.searchsorted(block[by_block], np.arange(n_blocks + 1))
        for _ in range(8):
            tau = self._tau(dec, i_tok)
            cum = np.cumsum(tau)
            cum = cum - np.repeat(cum[starts] - tau[starts], b_max)  # restart per shape
            before = cum - tau
            s = np.empty_like(jf)
            for w in range(n_blocks):
                idx = by_block[cuts[w]:cuts[w + 1]]
                if idx.size == 0:
                    continue
                if w == 0:
                    s[idx] = cum[idx]
                    continue
                prev = idx - n[idx]  # the request whose finish frees the slot
                gate = s[prev] + life[idx] - before[idx]
                # continue after the previous block: u = s - cum of the block's first item
                block_start = (j[idx] == first[idx]) | (
                    (j[idx] - first[idx]) % np.maximum(n[idx], 1) == 0)
                head = np.where(block_start, idx - 1, -1)
                base = np.where(head >= 0, s[np.maximum(head, 0)] - before[idx], 0.0)
                seg = owner[idx] * (n_blocks + 1) + w
                base_run = _segmented_cummax(np.where(block_start, base, -np.inf), seg)
                shift = _segmented_cummax(np.maximum(gate, base_run), seg)
                s[idx] = cum[idx] + np.maximum(shift, 0.0)
            start = s - tau
            in_first_step = s < 1.0  # steps are discrete: what fits in step 1 ends there
            s = np.where(in_first_step, 1.0, s)
            start = np.where(in_first_step, 0.0, start)
            f = s + life
            mid = (s + start) / 2.0
            started = np.minimum(_segmented_searchsorted(s, owner, starts, mid, owner), j)
            finished = np.minimum(_segmented_searchsorted(f, owner, starts, mid, owner), j)
            new_dec = (started - finished).astype(float)
            if np.allclose(new_dec, dec):
                break
            dec = new_dec
        return owner, j, start, s, f

    def _grid_mixed(self, shapes: NDArray[np.int64], shape_of_point: NDArray[np.int64],
                    b_arr: NDArray[np.int64], b_max: NDArray[np.int64],
                    n_cap: NDArray[np.int64], first_wave: NDArray[np.int64]) -> BurstGrid:
        owner, _j, start, s, f = self._schedule(shapes, b_max, n_cap, first_wave)
        starts = _offsets(b_max)
        n_pts = b_arr.size
        sp = shape_of_point
        base_req = starts[sp]  # first request of each point's shape
        last = base_req + b_arr - 1  # last request of each point
        i_pt = shapes[sp, 0].astype(float)
        o_pt = shapes[sp, 1].astype(float)
        # ---- breakpoints of each point: events of (up to ~EVENTS of) its requests, the
        # kinks where contexts cross a window or the CUDA-graph limit, and subdivisions.
        # Between two sampled requests the composition changes by whole requests at a
        # steady pace, so evaluating it exactly at interval midpoints stays accurate.
        req_owner, req_local = _ragged_index(b_arr)  # point of each (point, request) pair
        g = base_req[req_owner] + req_local  # global request index
        # ...but never coarser than a sixteenth of a wave, whose pattern repeats
        n_pt = np.minimum(n_cap[sp], b_arr)
        stride = np.clip(-(-b_arr // EVENTS), 1, np.maximum(n_pt // 16, 1))[req_owner]
        sample = ((req_local + 1) % stride == 0) | (req_local == 0) \
            | (req_local == b_arr[req_owner] - 1)
        gs, ro = g[sample], req_owner[sample]
        kinks = [w for w in self.windows if w is not None]
        if self.graph_ctx:
            kinks.append(self.graph_ctx)
        pieces = [start[gs], s[gs], f[gs]]
        owners = [ro] * 3
        for k in kinks:
            val = s[gs] + (k - i_pt[ro] - 0.5)
            ok = k > i_pt[ro]
            pieces.append(val[ok])
            owners.append(ro[ok])
        grid_n = 49 if self.preempts else 0
        if grid_n:
            frac = np.linspace(0.0, 1.0, grid_n)
            pieces.append((f[last][:, None] * frac[None, :]).ravel())
            owners.append(np.repeat(np.arange(n_pts), grid_n))
        pieces.append(np.zeros(n_pts))
        owners.append(np.arange(n_pts))
        vals = np.concatenate(pieces)
        own = np.concatenate(owners)
        keep = vals <= f[last][own] + 1e-9
        vals, own = vals[keep], own[keep]
        span = float(vals.max(initial=0.0)) + 1.0
        order = np.argsort(vals + own * span, kind="stable")
        vals, own = vals[order], own[order]
        distinct = np.ones(vals.size, bool)
        distinct[1:] = (own[1:] != own[:-1]) | (vals[1:] - vals[:-1] > 1e-9)
        vals, own = vals[distinct], own[distinct]
        same = own[1:] == own[:-1]
        a, z, seg_pt = vals[:-1][same], vals[1:][same], own[:-1][same]
        length = z - a
        mid = (a + z) / 2.0
        # ---- decoders alive at each interval (requests of the point's own prefix)
        seg_shape = sp[seg_pt]
        b_seg = b_arr[seg_pt]
        n_started = np.minimum(_segmented_searchsorted(s, owner, starts, mid, seg_shape), b_seg)
        n_finished = np.minimum(_segmented_searchsorted(f, owner, starts, mid, seg_shape), b_seg)
        alive = (n_started - n_finished).astype(float)
        cs = np.concatenate([[0.0], np.cumsum(s)])
        off = starts[seg_shape]
        sum_s = cs[off + n_started] - cs[off + n_finished]
        i_seg = i_pt[seg_pt]
        base = i_seg + mid + 0.5  # context of a decoder = base - s_i
        ctx_sum = alive * base - sum_s
        rows = []
        for w in self.windows:
            if w is None:
                rows.append(ctx_sum)
                continue
            capped_end = np.clip(_segmented_searchsorted(s, owner, starts, base - w, seg_shape),
                                 n_finished, n_started)
            n_capped = capped_end - n_finished
            rest = n_started - capped_end
            rows.append(n_capped * float(w) + rest * base
                        - (cs[off + n_started] - cs[off + capped_end]))
        dec_keys = np.stack(rows)
        # ---- prefills in flight: request i spreads its prompt over [start_i, s_i)
        dur = np.maximum(s - start, 1e-12)
        cr = np.concatenate([[0.0], np.cumsum(1.0 / dur)])
        n_pre_started = np.minimum(
            _segmented_searchsorted(start, owner, starts, mid, seg_shape), b_seg)
        lo, hi = off + n_started, off + np.maximum(n_pre_started, n_started)
        rate = cr[hi] - cr[lo]  # prompts completed per step
        in_flight = (hi - lo).astype(float)
        active = in_flight > 0.5
        chunk_keys = {w: np.array([self._chunk_keys(int(x), w) for x in shapes[:, 0]])
                      for w in self.windows}
        pairs = np.stack([rate * causal_pairs(i_seg, w) for w in self.windows])
        pre_keys = np.stack([rate * chunk_keys[w][seg_shape] for w in self.windows])
        oldest = np.where(alive > 0, base - s[np.minimum(off + n_finished, s.size - 1)], 0.0)
        if self.preempts:
            held = np.sum(self.window_shares[:, None] * dec_keys, axis=0) \
                + in_flight * self._kv_cost(i_seg) \
                + (alive + in_flight) * self.plan.block_size / 2
            fit = np.clip(self.capacity_tokens / np.maximum(held, 1.0), 1e-3, 1.0)
        else:
            fit = np.ones_like(alive)
        running = alive * fit
        eager = self._eager(running + in_flight * fit, oldest, active)
        load = StepLoad(tokens=(alive + rate * i_seg) * fit, seqs=(alive + in_flight) * fit,
                        decode_seqs=running, logits=(alive + rate) * fit,
                        decode_keys=dec_keys * fit, prefill_pairs=pairs * fit,
                        prefill_keys=pre_keys * fit, eager=eager)
        real = length / fit
        bd = self.cost.step_time(load)
        seg_time = real * bd.total
        # ---- clocks: cumulative time at each point's interval boundaries
        first_seg = np.searchsorted(seg_pt, np.arange(n_pts), side="left")
        csum = np.cumsum(seg_time)
        t_end = csum - np.repeat(csum[first_seg] - seg_time[first_seg],
                                 np.bincount(seg_pt, minlength=n_pts))
        # time of an event x of point p: interval containing x, linear inside it
        def clock(x: Array, pt: NDArray[np.int64]) -> Array:
            k = np.searchsorted(seg_pt * 0 + a + seg_pt * (z.max(initial=0) + 1.0),
                                x + pt * (z.max(initial=0) + 1.0), side="right") - 1
            k = np.clip(k, first_seg[pt], None)
            frac = np.clip((x - a[k]) / np.maximum(length[k], 1e-12), 0.0, 1.0)
            return t_end[k] - seg_time[k] * (1.0 - frac)

        t_first = clock(s[g], req_owner)
        t_finish = clock(f[g], req_owner)
        cnt = b_arr.astype(float)
        ttft = np.bincount(req_owner, t_first, n_pts) / cnt
        e2e = np.bincount(req_owner, t_finish, n_pts) / cnt
        o_req = o_pt[req_owner]
        tpot = np.where(o_pt > 1, np.bincount(
            req_owner, (t_finish - t_first) / np.maximum(o_req - 1, 1), n_pts) / cnt, 0.0)
        req_tps = np.bincount(req_owner, o_req / t_finish, n_pts) / cnt
        elapsed = t_finish[np.cumsum(b_arr) - 1]  # the last request finishes last (FCFS)
        n_used = np.minimum(n_cap[sp], b_arr)

        def total(x: Array) -> Array:
            return np.bincount(seg_pt, real * x, n_pts)

        return BurstGrid(
            batch_size=b_arr, input_tokens=shapes[sp, 0], output_tokens=shapes[sp, 1],
            elapsed_s=elapsed, ttft_s=ttft, tpot_s=tpot, e2e_s=e2e,
            request_tokens_per_s=req_tps, concurrency=n_used,
            waves=-(-b_arr // n_used), steps=np.bincount(seg_pt, real, n_pts),
            compute_s=total(bd.compute), memory_s=total(bd.memory),
            communication_s=total(bd.communication), overhead_s=total(bd.overhead))

    def _kv_cost(self, tokens: Array) -> Array:
        return np.asarray(self.plan.kv_token_cost(tokens), dtype=float)

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

    # ------------------------------------------------------------------ prefill priority
    def _grid_cohorts(self, shapes: NDArray[np.int64], shape_of_point: NDArray[np.int64],
                      b_arr: NDArray[np.int64], n_cap: NDArray[np.int64]) -> BurstGrid:
        """Prefill-priority engines: cohorts of n prefill together, then decode together."""
        sp = shape_of_point
        n_pts = b_arr.size
        n = np.minimum(n_cap[sp], b_arr)
        waves = -(-b_arr // n)
        c_owner, c_idx = _ragged_index(waves)  # one row per cohort
        size = np.minimum(n[c_owner], b_arr[c_owner] - c_idx * n[c_owner]).astype(float)
        i_c = shapes[sp, 0][c_owner].astype(float)
        life = (shapes[sp, 1][c_owner] - 1).astype(float)
        if self.chunked:
            pf = np.ceil(size * i_c / self.budget - 1e-9)
        else:
            per_step = np.maximum(np.floor(self.budget / i_c), 1.0)
            pf = np.ceil(size / per_step)
        rate = size / pf
        # two intervals per cohort: its prefill steps, then its decode steps
        length = np.stack([pf, life], axis=1).ravel()
        seg_owner = np.repeat(c_owner, 2)
        is_pre = np.tile([True, False], c_owner.size)
        sz = np.repeat(size, 2)
        ic = np.repeat(i_c, 2)
        lf = np.repeat(life, 2)
        rt = np.repeat(rate, 2)
        chunk_keys = {w: np.array([self._chunk_keys(int(x), w) for x in shapes[:, 0]])
                      for w in self.windows}
        shape_seg = sp[seg_owner]
        dec_rows = []
        for w in self.windows:
            # mean keys of a decoder over decode steps 1..life: prompt + k, capped at w
            mean_k = ic + (lf + 1.0) / 2.0
            if w is not None:
                m = np.clip(w - ic, 0.0, lf)  # steps before the context reaches w
                mean_k = np.where(lf > 0, (m * ic + m * (m + 1) / 2.0 + (lf - m) * w)
                                  / np.maximum(lf, 1.0), 0.0)
            dec_rows.append(np.where(is_pre, 0.0, sz * mean_k))
        dec_keys = np.stack(dec_rows)
        pairs = np.stack([np.where(is_pre, rt * causal_pairs(ic, w), 0.0)
                          for w in self.windows])
        pre_keys = np.stack([np.where(is_pre, rt * chunk_keys[w][shape_seg], 0.0)
                             for w in self.windows])
        seqs = np.where(is_pre, rt, sz)
        eager = self._eager(seqs, np.where(is_pre, 0.0, ic + lf), is_pre)
        load = StepLoad(tokens=np.where(is_pre, rt * ic, sz), seqs=seqs,
                        decode_seqs=np.where(is_pre, 0.0, sz), logits=seqs,
                        decode_keys=dec_keys, prefill_pairs=pairs, prefill_keys=pre_keys,
                        eager=eager)
        keep = length > 0
        bd = self.cost.step_time(load)
        seg_time = np.where(keep, length * bd.total, 0.0)
        # per cohort: time its prefill ends and its decode ends
        pre_t = seg_time[0::2]
        dec_t = seg_time[1::2]
        cohort_t = pre_t + dec_t
        csum = np.cumsum(cohort_t)
        first_c = _offsets(waves)
        before = csum - cohort_t - np.repeat(csum[first_c] - cohort_t[first_c], waves)
        # requests: position q within its cohort completes prefill at step ceil(...)
        r_owner, r_local = _ragged_index(b_arr)
        cohort = first_c[r_owner] + r_local // n[r_owner]
        q = (r_local % n[r_owner] + 1).astype(float)
        ic_r = i_c[cohort]
        if self.chunked:
            done_step = np.ceil(q * ic_r / self.budget - 1e-9)
        else:
            done_step = np.ceil(q / np.maximum(np.floor(self.budget / ic_r), 1.0))
        t_first = before[cohort] + pre_t[cohort] * np.minimum(done_step / pf[cohort], 1.0)
        t_finish = before[cohort] + cohort_t[cohort]
        cnt = b_arr.astype(float)
        o_pt = shapes[sp, 1].astype(float)
        o_req = o_pt[r_owner]
        elapsed = np.zeros(n_pts)
        np.maximum.at(elapsed, r_owner, t_finish)

        def total(x: Array) -> Array:
            return np.bincount(seg_owner, np.where(keep, length * x, 0.0), n_pts)

        return BurstGrid(
            batch_size=b_arr, input_tokens=shapes[sp, 0], output_tokens=shapes[sp, 1],
            elapsed_s=elapsed, ttft_s=np.bincount(r_owner, t_first, n_pts) / cnt,
            tpot_s=np.where(o_pt > 1, np.bincount(
                r_owner, (t_finish - t_first) / np.maximum(o_req - 1, 1), n_pts) / cnt, 0.0),
            e2e_s=np.bincount(r_owner, t_finish, n_pts) / cnt,
            request_tokens_per_s=np.bincount(r_owner, o_req / t_finish, n_pts) / cnt,
            concurrency=n, waves=waves, steps=np.bincount(seg_owner, length, n_pts),
            compute_s=total(bd.compute), memory_s=total(bd.memory),
            communication_s=total(bd.communication), overhead_s=total(bd.overhead))


def estimate_burst(deployment: Deployment, batch_sizes: list[int], input_tokens: int,
                   output_tokens: int) -> list[BurstPoint]:
    return BurstEstimator(deployment).estimate(batch_sizes, input_tokens, output_tokens)
