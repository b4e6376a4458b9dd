"""Step-level simulator of a serving engine for any list of requests.

It follows the engine profile's scheduler, step by step:

1. running sequences are scheduled first: every decoding sequence gets one token, then
   unfinished (chunked) prefills continue in admission order, within the step's token
   budget (``max_num_batched_tokens``);
2. waiting requests are admitted first-come first-served while the budget, the sequence
   limit (``max_num_seqs``) and the KV cache allow. ``admission="prompt"`` needs the
   prompt's KV pages plus a watermark and, when a decoding sequence later finds no free
   page, preempts the newest running request, which is recomputed later (vLLM, SGLang);
   ``admission="full"`` reserves prompt + output up front and never preempts
   (TensorRT-LLM). Without chunked prefill, whole prompts run in prefill-only steps that
   take priority over decodes (vLLM V0 without chunking);
3. the step's composition goes through :class:`~tokenomist.perf.step_cost.CostModel`.

Stretches of pure decoding (nothing to admit, no prefill in flight) are advanced many
steps at a time with vectorized step costs, so long generations are cheap to simulate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, MutableSequence, Sized
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tokenomist.arch.accounting import causal_pairs
from tokenomist.deploy.deployment import Deployment
from tokenomist.errors import InvalidValueError
from tokenomist.perf import simulator_fast
from tokenomist.perf.step_cost import CostModel, StepLoad, without_prefill

Array = NDArray[np.float64]
_PARTS = ("compute", "memory", "communication", "overhead")


@dataclass(frozen=True)
class Requests:
    """A workload: arrival times (s) and exact input and output lengths (tokens).

    ``cached_tokens`` (optional): leading prompt tokens whose KV the engine already holds
    (prefix caching hits); only the rest of each prompt is computed.
    """

    arrival_s: Array
    input_tokens: NDArray[np.int64]
    output_tokens: NDArray[np.int64]
    cached_tokens: NDArray[np.int64] | None = None

    def with_cached_prefix(self, hit_rate: float) -> Requests:
        """The same requests with ``hit_rate`` of every prompt served from a prefix cache
        (at least one token is always computed)."""
        if not 0.0 <= hit_rate <= 1.0:
            raise InvalidValueError(f"prefix-cache hit rate must be in [0, 1], got {hit_rate}")
        cached = np.minimum(np.floor(self.input_tokens * hit_rate).astype(np.int64),
                            self.input_tokens - 1)
        return Requests(self.arrival_s, self.input_tokens, self.output_tokens, cached)

    @staticmethod
    def poisson(rate: float, n: int, input_tokens: ArrayLike, output_tokens: ArrayLike,
                seed: int = 0) -> Requests:
        """``n`` requests arriving as a Poisson process of ``rate`` per second."""
        if not rate > 0:
            raise InvalidValueError(f"request rate must be positive, got {rate}")
        if n < 1:
            raise InvalidValueError("need at least one request")
        gaps = np.random.default_rng(seed).exponential(1.0 / rate, n)
        return Requests.of(np.cumsum(gaps) - gaps[0], input_tokens, output_tokens)

    @staticmethod
    def burst(batch: int, input_tokens: int, output_tokens: int) -> Requests:
        return Requests(np.zeros(batch), np.full(batch, input_tokens, np.int64),
                        np.full(batch, output_tokens, np.int64))

    @staticmethod
    def of(arrival_s: ArrayLike, input_tokens: ArrayLike, output_tokens: ArrayLike) -> Requests:
        arr = np.asarray(arrival_s, float)
        inp = np.asarray(input_tokens, np.int64)
        out = np.asarray(output_tokens, np.int64)
        arr, inp, out = np.broadcast_arrays(arr, inp, out)
        if arr.ndim != 1 or arr.size == 0:
            raise InvalidValueError("requests must be a non-empty list")
        if np.any(inp < 1) or np.any(out < 1):
            raise InvalidValueError("input and output lengths must be positive")
        if np.any(arr < 0) or not np.all(np.isfinite(arr)):
            raise InvalidValueError("arrival times must be finite and non-negative")
        return Requests(arr.astype(float), inp.astype(np.int64), out.astype(np.int64))

    def __len__(self) -> int:
        return int(self.arrival_s.size)


@dataclass
class SimulationResult:
    """Per-request timings and run totals."""

    arrival_s: Array
    first_token_s: Array
    finish_s: Array
    input_tokens: NDArray[np.int64]
    output_tokens: NDArray[np.int64]
    steps: int
    preemptions: int
    busy_s: float
    breakdown_s: dict[str, float] = field(default_factory=dict)
    max_running: int = 0
    prefill_s: float = 0.0  # busy time attributed to prefill (marginal cost of its work)

    @property
    def decode_s(self) -> float:
        return self.busy_s - self.prefill_s

    @property
    def ttft_s(self) -> Array:
        return self.first_token_s - self.arrival_s

    @property
    def e2e_s(self) -> Array:
        return self.finish_s - self.arrival_s

    @property
    def tpot_s(self) -> Array:
        """Mean time per output token after the first, per request (NaN for 1 token)."""
        n = self.output_tokens - 1
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, (self.finish_s - self.first_token_s) / np.maximum(n, 1),
                            np.nan)

    @property
    def elapsed_s(self) -> float:
        return float(np.max(self.finish_s) - np.min(self.arrival_s))


class Simulator:
    """Simulates one replica of a deployment."""

    def __init__(self, deployment: Deployment, cost: CostModel | None = None, *,
                 attribute_prefill: bool = True, fast: bool = True) -> None:
        """``attribute_prefill=False`` skips splitting busy time into prefill and decode
        (one cost evaluation per mixed step instead of two). ``fast=False`` keeps the
        array scheduler even where the incremental one applies (they agree; the tests
        compare them)."""
        self.d = deployment
        self.fast = fast
        self.cost = cost or CostModel(deployment)
        self.attribute_prefill = attribute_prefill
        self._last_decode_dt = 0.0
        self._lines: dict[tuple[float, float], tuple[tuple[float, ...], tuple[float, ...]]
                          | None] = {}
        plan = deployment.check_fits()
        self.plan = plan
        s = deployment.engine.scheduler
        self.budget = s.max_num_batched_tokens
        self.max_seqs = s.max_num_seqs
        self.block = s.kv_block_size
        self.total_blocks = plan.kv_blocks
        self.watermark_blocks = plan.watermark_blocks(s.watermark)
        self.windows = deployment.model.windows
        self.shares = plan.window_shares
        self.chunked = s.chunked_prefill
        self.mixed = s.mixed_batches
        self.full_reserve = s.admission == "full"
        self.graph_batch = s.cuda_graph_max_batch
        self.graph_ctx = s.cuda_graph_max_context
        layers = self.cost.layers_t
        self._probe = int(np.argmax(layers))
        self._key_weights = tuple(x / layers[self._probe] for x in layers)

    # -------------------------------------------------------------------- helpers
    def _blocks(self, tokens: ArrayLike) -> NDArray[np.int64]:
        return self.plan.blocks(tokens).astype(np.int64)

    def _eager(self, n_seqs: float, max_ctx: float, has_prefill: bool) -> float:
        return float(self.d.engine.scheduler.runs_eager(n_seqs, max_ctx, has_prefill))

    def _keys(self, ctx: Array) -> tuple[float, ...]:
        return tuple(float(np.sum(ctx if w is None else np.minimum(ctx, w)))
                     for w in self.windows)

    # -------------------------------------------------------------------- main loop
    def run(self, requests: Requests, max_steps: int = 50_000_000) -> SimulationResult:
        n = len(requests)
        self._check(requests)
        reported_out = requests.output_tokens
        per_step = self.cost.tokens_per_decode_step
        if per_step != 1.0:
            # speculative decoding: each decode step gains `per_step` tokens on average, so
            # a request needs 1 + (O - 1) / per_step steps (its KV grows one slot per step
            # here, a slight underestimate of the keys it reads)
            steps_out = 1 + np.ceil((reported_out - 1) / per_step).astype(np.int64)
            requests = Requests(requests.arrival_s, requests.input_tokens, steps_out,
                                requests.cached_tokens)
        run: _Run = (simulator_fast.FastRun(self, requests)
                     if self.fast and simulator_fast.applies(self) else _ArrayRun(self, requests))
        order = np.argsort(requests.arrival_s, kind="stable").tolist()
        arrival = requests.arrival_s.tolist()
        next_idx = 0
        t = arrival[order[0]]
        totals = dict.fromkeys(_PARTS, 0.0)
        prefill_s = 0.0
        steps = 0
        busy = 0.0
        max_running = 0

        while run.done < n:
            while next_idx < n and arrival[order[next_idx]] <= t + 1e-12:
                run.waiting.append(order[next_idx])
                next_idx += 1
            if not run.running and not run.waiting:
                t = arrival[order[next_idx]]
                continue
            next_arrival = arrival[order[next_idx]] if next_idx < n else math.inf

            if run.pure_decode():
                k, dt, bd = run.decode_stretch(next_arrival - t)
                if k > 0:
                    steps += k
                    busy += dt
                    t += dt
                    for key in totals:
                        totals[key] += bd[key]
                    run.advance(k, t)
                    max_running = max(max_running, len(run.running))
                    continue

            plan = run.schedule()
            if plan is None:
                if next_idx < n:  # nothing fits yet: wait for the next arrival
                    t = max(t, next_arrival)
                    continue
                raise RuntimeError("simulator stalled")  # pragma: no cover
            load = run.load(plan)
            bd1 = self.cost.step_time(load)
            dt = float(bd1.total)
            if self.attribute_prefill and load.seqs != load.decode_seqs:  # (has prefill)
                prefill_s += dt - float(self.cost.step_time(without_prefill(load)).total)
            for key in _PARTS:
                totals[key] += float(getattr(bd1, key))
            busy += dt
            steps += 1
            t += dt
            max_running = max(max_running, len(run.running))
            run.apply(plan, t)
            if steps > max_steps:  # pragma: no cover - guard against runaway inputs
                raise RuntimeError("simulation exceeded the step limit")

        first, finish = run.times()
        return SimulationResult(
            arrival_s=requests.arrival_s.copy(), first_token_s=first, finish_s=finish,
            input_tokens=requests.input_tokens.copy(),
            output_tokens=reported_out.copy(), steps=steps,
            preemptions=run.preemptions, busy_s=busy, breakdown_s=totals,
            max_running=max_running, prefill_s=prefill_s)

    def _check(self, requests: Requests) -> None:
        ctx_limit = self.d.context_limit()
        total_len = requests.input_tokens + requests.output_tokens
        worst = int(np.max(total_len))
        longest = int(np.max(requests.input_tokens))
        if not self.chunked and longest > self.budget:
            raise InvalidValueError(prompt_over_budget(self.d, longest))
        if worst > ctx_limit:
            raise InvalidValueError(
                f"a request needs a context of {worst} tokens (input + output) but "
                f"{self.d.model.name} supports at most {ctx_limit}")
        reserve = total_len if self.full_reserve else requests.input_tokens
        if int(np.max(self._blocks(reserve))) + self.watermark_blocks > self.total_blocks \
                or int(np.max(self._blocks(total_len))) > self.total_blocks:
            raise InvalidValueError(
                f"a request of {worst} tokens needs more KV cache than the deployment holds "
                f"({self.plan.kv_tokens} tokens); use more GPUs, --kv-dtype fp8 or shorter "
                "requests")

    # -------------------------------------------------------------------- scheduling
    def _can_admit(self, st: _State, i: int) -> bool:
        reserve = st.inp[i] + st.out[i] if self.full_reserve else st.target[i]
        return st.free - int(self._blocks(reserve)) >= self.watermark_blocks

    def _admit(self, st: _State, i: int) -> None:
        reserve = st.inp[i] + st.out[i] if self.full_reserve else st.target[i]
        blocks = int(self._blocks(reserve))
        st.free -= blocks
        st.held[i] = blocks
        st.admit_counter += 1
        st.admit_seq[i] = st.admit_counter
        st.running.append(i)

    def _pure_decode(self, st: _State) -> bool:
        if not st.running or len(st.running) > self.budget:
            return False
        run = np.fromiter(st.running, np.int64, len(st.running))
        if np.any(st.computed[run] < st.target[run]):
            return False
        if not st.waiting or len(st.running) >= self.max_seqs:
            return True
        head = st.waiting[0]
        if not self.chunked and self.mixed \
                and st.target[head] - st.computed[head] > self.budget - len(st.running):
            return True  # the whole prompt cannot join the decodes until one finishes
        return not self._can_admit(st, head)

    def _schedule(self, st: _State) -> dict[int, int]:
        """Tokens each sequence processes this step (admissions included)."""
        sched: dict[int, int] = {}
        run = np.fromiter(st.running, np.int64, len(st.running))
        is_dec = st.computed[run] >= st.target[run]
        prefilling = run[~is_dec]
        admissible = bool(st.waiting) and len(st.running) < self.max_seqs \
            and self._can_admit(st, st.waiting[0])
        budget = self.budget
        # prefill-priority engines run prefill-only steps while there is prefill work
        prefill_only = not self.mixed and (prefilling.size > 0 or admissible)
        if not prefill_only:
            for i in run[is_dec].tolist():
                if budget <= 0:
                    break
                sched[i] = 1
                budget -= 1
        if self.mixed or prefill_only:
            for i in prefilling.tolist():
                if budget <= 0:
                    break
                chunk = int(min(st.target[i] - st.computed[i], budget))
                sched[i] = chunk
                budget -= chunk
        if not self.full_reserve and sched and self._grow_or_preempt(st, sched):
            return sched  # no admissions in a step that preempted
        if not (self.mixed or prefill_only):
            return sched
        # admissions, first come first served
        while st.waiting and budget > 0 and len(st.running) < self.max_seqs:
            i = st.waiting[0]
            remaining = int(st.target[i] - st.computed[i])
            if not self.chunked and remaining > budget and sched:
                break  # a whole prompt must fit (a lone prompt may exceed the budget)
            if not self._can_admit(st, i):
                break
            st.waiting.pop(0)
            self._admit(st, i)
            chunk = min(remaining, budget) if self.chunked else remaining
            sched[i] = chunk
            budget -= chunk
        return sched

    def _grow_or_preempt(self, st: _State, sched: dict[int, int]) -> bool:
        """Give scheduled sequences the KV pages they grow into; preempt (recompute) the
        newest running requests while pages are short. Returns True if it preempted."""
        ids = np.fromiter(sched.keys(), np.int64, len(sched))
        add = np.fromiter(sched.values(), np.int64, len(sched))
        grow = np.maximum(self._blocks(st.computed[ids] + add) - st.held[ids], 0)
        short = int(np.sum(grow)) - st.free
        preempted = False
        while short > 0 and st.running:
            victim = max(st.running, key=lambda j: st.admit_seq[j])
            st.running.remove(victim)
            st.preemptions += 1
            preempted = True
            st.free += int(st.held[victim])
            short -= int(st.held[victim])
            if victim in sched:
                pos = int(np.nonzero(ids == victim)[0][0])
                short -= int(grow[pos])
                del sched[victim]
                ids, grow = np.delete(ids, pos), np.delete(grow, pos)
            st.held[victim] = 0
            st.computed[victim] = 0
            st.target[victim] = st.inp[victim] + st.generated[victim]
            st.waiting.insert(0, victim)
        st.free -= int(np.sum(grow))
        st.held[ids] += grow
        return preempted

    # -------------------------------------------------------------------- step loads
    def _load(self, st: _State, ids: NDArray[np.int64], add: NDArray[np.int64]) -> StepLoad:
        prefix = st.computed[ids]
        is_pre = prefix < st.target[ids]
        completes = is_pre & (prefix + add >= st.target[ids])
        dec = ~is_pre
        keys_dec = self._keys((prefix[dec] + 1).astype(float))
        pre_len = add[is_pre].astype(float)
        pre_prefix = prefix[is_pre].astype(float)
        pairs = tuple(float(np.sum(causal_pairs(pre_len, w, pre_prefix)))
                      for w in self.windows)
        pre_keys = self._keys(pre_prefix + pre_len)
        n_seq = float(ids.size)
        max_ctx = float(np.max(prefix + add))
        n_dec = float(np.sum(dec))
        # plain floats: the cost model's scalar path
        return StepLoad(
            tokens=float(np.sum(add)), seqs=n_seq, decode_seqs=n_dec,
            logits=n_dec + float(np.sum(completes)),
            decode_keys=keys_dec, prefill_pairs=pairs, prefill_keys=pre_keys,
            eager=self._eager(n_seq, max_ctx, bool(np.any(is_pre))))

    def _decode_stretch(self, st: _State, until_arrival: float
                        ) -> tuple[int, float, dict[str, float]]:
        """Advance pure-decode steps at once: until the first request finishes, the KV
        cache runs short, or a request arrives. Returns (steps, seconds, breakdown)."""
        run = np.fromiter(st.running, np.int64, len(st.running))
        k_max = int(np.min(st.out[run] - st.generated[run]))
        ctx0 = st.computed[run].astype(float)
        def pages_for(k: int) -> int:
            return int(np.sum(np.maximum(self._blocks(ctx0 + k) - st.held[run], 0)))

        if not self.full_reserve and pages_for(k_max) > st.free:
            lo, hi = 0, k_max  # largest k with pages for k more tokens each
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if pages_for(mid) <= st.free:
                    lo = mid
                else:
                    hi = mid - 1
            k_max = lo
        if k_max < 2:
            return 0, 0.0, {}
        return self.stretch_steps(run.size, ctx0, k_max, until_arrival)

    def stretch_steps(self, b_run: int, ctx0: Array | Callable[[], Array], k_max: int,
                      until_arrival: float, ctx_max: float = 0.0,
                      keys: tuple[tuple[float, ...], tuple[float, ...]] | None = None
                      ) -> tuple[int, float, dict[str, float]]:
        """Up to ``k_max`` pure-decode steps of ``b_run`` sequences holding ``ctx0`` tokens
        each, stopping with the step during which ``until_arrival`` seconds pass. Returns
        (steps, seconds, breakdown). ``ctx0`` may be a function that builds the contexts,
        with their maximum and ``keys`` given: it is called only if the closed form does not
        apply. ``keys``: (keys per window of the first step, their rise per step), when no
        sequence reaches a window during the stretch."""
        assert keys is not None or not callable(ctx0), "contexts built on demand need keys"
        ctx_sum = 0.0  # (read only without keys, when ctx0 is the contexts themselves)
        if not callable(ctx0):
            ctx_sum, ctx_max = float(np.sum(ctx0)), float(np.max(ctx0))
        fast = self._affine_stretch(b_run, ctx_sum, ctx_max, k_max, until_arrival, keys)
        if fast is not None:
            return fast
        if callable(ctx0):
            ctx0 = ctx0()
        if math.isfinite(until_arrival) and self._last_decode_dt > 0:
            # steps only slow down as contexts grow: evaluate a few more than the last
            # step's time says fit before the next arrival (the loop continues after)
            k_max = max(2, min(k_max, int(until_arrival / self._last_decode_dt * 1.1) + 3))
        j = np.arange(1, k_max + 1, dtype=float)  # step j attends to ctx0 + j keys
        b = float(b_run)
        srt = np.sort(ctx0)
        prefix_sum = np.concatenate([[0.0], np.cumsum(srt)])
        rows = []
        for w in self.windows:
            if w is None:
                rows.append(prefix_sum[-1] + b * j)
            else:
                idx = np.searchsorted(srt, w - j, side="left")  # ctx0 + j < w
                rows.append(prefix_sum[idx] + idx * j + (b - idx) * w)
        step_keys = np.stack(rows)
        max_ctx = srt[-1] + j
        eager_arr = self.d.engine.scheduler.runs_eager(float(b), max_ctx, False)
        zeros = np.zeros_like(step_keys)
        bvec = np.full(k_max, b)
        bd = self.cost.step_time(StepLoad(tokens=bvec, seqs=bvec, decode_seqs=bvec, logits=bvec,
                                          decode_keys=step_keys,
                                          prefill_pairs=zeros, prefill_keys=zeros,
                                          eager=eager_arr))
        times = bd.total
        self._last_decode_dt = float(times[0])
        k = k_max
        if math.isfinite(until_arrival):
            cum = np.cumsum(times)
            k = min(int(np.searchsorted(cum, until_arrival, side="left")) + 1, k_max)
        return k, float(np.sum(times[:k])), {
            part: float(np.sum(getattr(bd, part)[:k])) for part in _PARTS}


    def _affine_stretch(self, n_run: int, ctx_sum: float, ctx_max: float, k_max: int,
                        until_arrival: float,
                        keys: tuple[tuple[float, ...], tuple[float, ...]] | None = None
                        ) -> tuple[int, float, dict[str, float]] | None:
        """A pure-decode stretch in closed form, when its step time is affine in the step
        index: full attention only (the keys grow by one per sequence and step, and
        attention's FLOPs and bytes are both proportional to them, so its roofline is
        linear) and the same CUDA-graph decision throughout; otherwise None (the
        vectorized path). The line of each batch size is found once (three evaluations
        of the cost model check that it is one) and reused."""
        b = float(n_run)
        if keys is None:
            if self.windows != (None,):
                return None
            keys = ((ctx_sum + b,), (b,))  # keys of the first step, rise per step
        elif len(self.windows) > 1 and self.d.speculative is not None:
            return None  # the draft reads the full-attention keys alone
        e1 = self._eager(b, ctx_max + 1, False)
        if e1 != self._eager(b, ctx_max + k_max, False):
            return None
        line = self._decode_line(b, e1)
        if line is None:
            return None
        base, per_key = line
        weights = self._key_weights
        k1 = sum(w * k for w, k in zip(weights, keys[0], strict=True))
        dk = sum(w * k for w, k in zip(weights, keys[1], strict=True))
        first = [c0 + ck * k1 for c0, ck in zip(base, per_key, strict=True)]
        rise = [ck * dk for ck in per_key]  # per step
        t1 = sum(first)
        slope = sum(rise)
        self._last_decode_dt = t1

        def cum(k: float) -> float:
            return k * t1 + slope * k * (k - 1) / 2.0

        k = k_max
        if math.isfinite(until_arrival):
            # steps that end before the arrival, plus the one during which it arrives
            if abs(slope) < 1e-18:
                done = math.ceil(until_arrival / t1) - 1
            else:
                a, bq = slope / 2.0, t1 - slope / 2.0
                disc = max(bq * bq + 4.0 * a * until_arrival, 0.0)
                done = math.ceil((-bq + math.sqrt(disc)) / (2.0 * a)) - 1
            done = max(done, 0)
            while done > 0 and cum(done) >= until_arrival:
                done -= 1
            while done + 1 <= k_max and cum(done + 1) < until_arrival:
                done += 1
            k = min(done + 1, k_max)

        return k, cum(k), {name: k * c1 + dc * k * (k - 1) / 2.0
                           for name, c1, dc in zip(_PARTS, first, rise, strict=True)}

    def _decode_line(self, b: float, eager: float
                     ) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """(value at no keys, slope per key) of each part of the time of a pure-decode step
        of ``b`` sequences, or None if it is not affine in the keys (a draft model with
        sliding windows). Keys are counted on the attention window with the most layers;
        the others weigh by their layers (:attr:`_key_weights`): attention reads and
        computes in proportion to layers x keys."""
        key = (b, eager)
        if key in self._lines:
            return self._lines[key]
        probe = self._probe
        zeros = (0.0,) * len(self.windows)

        def at(keys: float) -> tuple[float, ...]:
            on_probe = tuple(keys if k == probe else 0.0 for k in range(len(self.windows)))
            bd = self.cost.step_time(StepLoad(
                tokens=b, seqs=b, decode_seqs=b, logits=b, decode_keys=on_probe,
                prefill_pairs=zeros, prefill_keys=zeros, eager=eager))
            return tuple(float(getattr(bd, name)) for name in _PARTS)

        lo, hi, far = b, b * 1024.0, b * 1048576.0  # contexts of 1, 1k and 1M tokens
        y_lo, y_hi, y_far = at(lo), at(hi), at(far)
        per_key = tuple((h - l_) / (hi - lo) for l_, h in zip(y_lo, y_hi, strict=True))
        base = tuple(l_ - k * lo for l_, k in zip(y_lo, per_key, strict=True))
        line: tuple[tuple[float, ...], tuple[float, ...]] | None = (base, per_key)
        predicted = sum(base) + sum(per_key) * far
        if abs(predicted - sum(y_far)) > 1e-9 * sum(y_far) + 1e-15:
            line = None
        self._lines[key] = line
        return line


class _Run(Protocol):
    """One simulation's scheduler state, as :meth:`Simulator.run` drives it: the array
    scheduler (:class:`_ArrayRun`) or the incremental one
    (:class:`~tokenomist.perf.simulator_fast.FastRun`)."""

    @property
    def waiting(self) -> MutableSequence[int]: ...
    @property
    def preemptions(self) -> int: ...
    @property
    def done(self) -> int: ...
    @property
    def running(self) -> Sized: ...
    def pure_decode(self) -> bool: ...
    def decode_stretch(self, until_arrival: float) -> tuple[int, float, dict[str, float]]: ...
    def advance(self, k: int, t: float) -> None: ...
    def schedule(self) -> Any: ...  # None: nothing to run
    def load(self, plan: Any) -> StepLoad: ...
    def apply(self, plan: Any, t: float) -> None: ...
    def times(self) -> tuple[Array, Array]: ...


class _ArrayRun:
    """The array scheduler (:class:`Simulator`'s methods on a :class:`_State`)."""

    def __init__(self, sim: Simulator, requests: Requests) -> None:
        self.sim = sim
        self.st = _State(requests, sim.total_blocks)
        self.waiting = self.st.waiting

    @property
    def running(self) -> list[int]:
        return self.st.running

    @property
    def done(self) -> int:
        return self.st.done

    @property
    def preemptions(self) -> int:
        return self.st.preemptions

    def pure_decode(self) -> bool:
        return self.sim._pure_decode(self.st)

    def decode_stretch(self, until_arrival: float) -> tuple[int, float, dict[str, float]]:
        return self.sim._decode_stretch(self.st, until_arrival)

    def advance(self, k: int, t: float) -> None:
        self.st.advance_decodes(np.fromiter(self.st.running, np.int64), k, self.sim, t)

    def schedule(self) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
        sched = self.sim._schedule(self.st)
        if not sched:
            return None
        return (np.fromiter(sched.keys(), np.int64, len(sched)),
                np.fromiter(sched.values(), np.int64, len(sched)))

    def load(self, plan: tuple[NDArray[np.int64], NDArray[np.int64]]) -> StepLoad:
        return self.sim._load(self.st, *plan)

    def apply(self, plan: tuple[NDArray[np.int64], NDArray[np.int64]], t: float) -> None:
        self.st.apply(plan[0], plan[1], self.sim, t)

    def times(self) -> tuple[Array, Array]:
        return self.st.first_tok, self.st.finish


class _State:
    """Mutable per-request state of a simulation."""

    def __init__(self, requests: Requests, total_blocks: int) -> None:
        n = len(requests)
        self.inp = requests.input_tokens
        self.out = requests.output_tokens
        self.computed = (np.zeros(n, np.int64) if requests.cached_tokens is None
                         else requests.cached_tokens.astype(np.int64).copy())  # KV held
        self.target = self.inp.copy()  # tokens to prefill (+ generated ones if preempted)
        self.generated = np.zeros(n, np.int64)
        self.held = np.zeros(n, np.int64)  # KV pages held
        self.admit_seq = np.zeros(n, np.int64)
        self.first_tok = np.full(n, np.nan)
        self.finish = np.full(n, np.nan)
        self.waiting: list[int] = []
        self.running: list[int] = []
        self.free = total_blocks
        self.admit_counter = 0
        self.preemptions = 0
        self.done = 0

    def _finish(self, fin: NDArray[np.int64], t: float) -> None:
        if not fin.size:
            return
        self.finish[fin] = t
        self.free += int(np.sum(self.held[fin]))
        self.held[fin] = 0
        self.done += int(fin.size)
        fin_set = set(fin.tolist())
        self.running = [i for i in self.running if i not in fin_set]

    def apply(self, ids: NDArray[np.int64], add: NDArray[np.int64], sim: Simulator,
              t: float) -> None:
        before = self.computed[ids]
        emits = (before >= self.target[ids]) | (before + add >= self.target[ids])
        self.computed[ids] += add
        emit = ids[emits]
        self.generated[emit] += 1
        first = emit[np.isnan(self.first_tok[emit])]
        self.first_tok[first] = t
        self._finish(emit[self.generated[emit] >= self.out[emit]], t)

    def advance_decodes(self, run: NDArray[np.int64], k: int, sim: Simulator, t: float) -> None:
        new_ctx = self.computed[run] + k
        if not sim.full_reserve:
            grow = np.maximum(sim._blocks(new_ctx) - self.held[run], 0)
            self.free -= int(np.sum(grow))
            self.held[run] += grow
        self.computed[run] = new_ctx
        self.generated[run] += k
        self._finish(run[self.generated[run] >= self.out[run]], t)


def prompt_over_budget(d: Deployment, prompt: int) -> str:
    s = d.engine.scheduler
    return (f"a {prompt}-token prompt exceeds the step budget of {d.engine.id} "
            f"(max_num_batched_tokens {s.max_num_batched_tokens}) and the profile does not chunk "
            "prefills, so the engine would reject it; raise the budget or enable chunked "
            "prefill in an engine profile of your own")


def simulate(deployment: Deployment, requests: Requests) -> SimulationResult:
    return Simulator(deployment).run(requests)
