"""The step simulator's scheduler with incremental state, for full-attention models.

:class:`~tokenomist.perf.simulator.Simulator` keeps every request's progress in arrays
and rebuilds each step's schedule from them. That is simple and handles every case
(sliding-window layers whose KV pages are freed as they slide, steps whose decodes exceed
the token budget), but it costs tens of numpy calls per step. Here the same scheduler
keeps running totals instead, so a step costs a few dozen Python operations plus one
call of the cost model:

- a decoding sequence advances one token per decode step, so its context is its
  *base* plus a global decode-step counter ``G``; the sum of the contexts is
  ``sum(base) + n G`` and the largest is the largest base plus ``G``;
- with full attention a sequence holds ``ceil(context / page)`` KV pages and needs a new
  page in the step where its context is a multiple of the page size: the number of
  sequences that do is a count by ``base mod page``, so a stretch of k decode steps needs
  ``(k // page) n`` pages plus a partial sum over one cycle;
- finishing steps sit in a heap.

It makes the same decisions in the same order as the array scheduler (the tests compare
the two request by request); :meth:`Simulator.run` uses it whenever it applies.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tokenomist.perf.step_cost import StepLoad

if TYPE_CHECKING:
    from tokenomist.perf.simulator import Requests, Simulator


def applies(sim: Simulator) -> bool:
    """A step budget that always holds every decode (every engine profile shipped)."""
    return sim.max_seqs <= sim.budget


class FastRun:
    """One simulation's mutable state, stepped by :meth:`Simulator.run` (the ``_Run``
    protocol: schedule, load, apply, decode_stretch, advance)."""

    def __init__(self, sim: Simulator, requests: Requests) -> None:
        self.sim = sim
        n = len(requests)
        self.inp: list[int] = requests.input_tokens.tolist()
        self.out: list[int] = requests.output_tokens.tolist()
        cached = requests.cached_tokens
        self.computed: list[int] = [0] * n if cached is None else cached.tolist()
        self.target: list[int] = list(self.inp)
        self.generated = [0] * n
        self.held = [0] * n  # pages, for sequences that are not decoding (or full reserve)
        self.first_tok = [math.nan] * n
        self.finish = [math.nan] * n
        self.waiting: deque[int] = deque()
        self.running: dict[int, None] = {}  # admission order (an ordered set)
        self.prefilling: list[int] = []  # running, not yet decoding, admission order
        self.free = sim.total_blocks
        self.preemptions = 0
        self.done = 0
        # decoding sequences: context = dbase + G, generated = gbase + G
        self.G = 0
        self.dbase: dict[int, int] = {}
        self.gbase: dict[int, int] = {}
        self.sum_dbase = 0
        self.page = sim.block
        self.by_residue = [0] * self.page  # decoders by dbase mod page
        self.version = [0] * n
        self.finish_heap: list[tuple[int, int, int]] = []  # (G at finish, id, version)
        self.ctx_heap: list[tuple[int, int, int]] = []  # (-dbase, id, version)
        self.track_ctx = bool(sim.graph_batch and sim.graph_ctx)
        # KV pages: with full attention only, a sequence's pages follow from its context
        # (counts by residue); with sliding windows each decoder's pages are kept and the
        # step of its next page sits in a heap
        shares = sim.shares
        self.plain_kv = len(shares) == 1 and shares[0][0] is None and shares[0][1] == 1.0
        self.shares = [(w, float(f)) for w, f in shares]
        self.widest = max((w for w, _ in self.shares if w is not None), default=0)
        self.growth = sum(f for w, f in self.shares if w is None)  # cost per token past them
        self.fixed = sum(f * w for w, f in self.shares if w is not None)
        self.page_heap: list[tuple[int, int, int]] = []  # (G of the step, id, version)
        # sliding-window attention: per window, decoders whose keys still grow
        self.windows = sim.windows
        self.finite = [k for k, w in enumerate(self.windows) if w is not None]
        self.below_n = [0] * len(self.windows)
        self.below_sum = [0] * len(self.windows)
        self.capped_n = [0] * len(self.windows)
        self.cross_heap: list[tuple[int, int, int, int]] = []  # (G capped, id, version, k)
        self.window_pages = self._blocks(self.widest)  # pages of one full window

    # ---------------------------------------------------------------- bookkeeping
    def _reserve(self, i: int) -> int:
        return self._blocks(self.inp[i] + self.out[i] if self.sim.full_reserve
                            else self.target[i])

    def _can_admit(self, i: int) -> bool:
        return self.free - self._reserve(i) >= self.sim.watermark_blocks

    def _held(self, i: int) -> int:
        """Pages request i holds now."""
        if self.plain_kv and i in self.dbase and not self.sim.full_reserve:
            return self._blocks(self.dbase[i] + self.G)
        return self.held[i]

    def _blocks(self, ctx: int) -> int:
        """Pages of a context (the array scheduler's ``_blocks``, in scalar arithmetic)."""
        cost = 0.0
        for w, share in self.shares:
            cost = cost + share * (ctx if w is None else min(ctx, w))
        return math.ceil(cost / self.page - 1e-9)

    def _next_page(self, i: int, g: int) -> None:
        """Schedule decoder i's next new page: the first step (counted from G = g, its
        context then ``dbase + g``) whose extra token its pages do not hold."""
        ctx = self.dbase[i] + g
        held = self.held[i]
        if self._blocks(ctx + 1) > held:
            heapq.heappush(self.page_heap, (g, i, self.version[i]))
            return
        # the cost grows by at most one token per token: search the first context whose
        # pages exceed the held ones between ctx + 1 and ctx + 1 + page / growth rate
        grow = self.growth
        if grow <= 0.0 and held >= self.window_pages:
            return  # windows only: it already holds the pages of a full window
        if grow > 0.0 and ctx + 1 >= self.widest:
            # past every window the cost is linear, A + grow x context: solve, then step
            # to the exact boundary of the (rounded) page count
            hi = max(ctx + 2, math.floor((self.page * (held + 1e-9) - self.fixed) / grow) + 1)
            while hi - 1 > ctx + 1 and self._blocks(hi - 1) > held:
                hi -= 1
            while self._blocks(hi) <= held:
                hi += 1
            heapq.heappush(self.page_heap, (g + hi - 1 - ctx, i, self.version[i]))
            return
        lo, hi = ctx + 1, ctx + 2
        while self._blocks(hi) <= held:
            lo, hi = hi, ctx + 1 + 2 * (hi - ctx - 1)
        while hi - lo > 1:  # blocks(lo) <= held < blocks(hi)
            mid = (lo + hi) // 2
            if self._blocks(mid) > held:
                hi = mid
            else:
                lo = mid
        # the step whose token makes the context hi starts with context hi - 1
        heapq.heappush(self.page_heap, (g + hi - 1 - ctx, i, self.version[i]))

    def _due_pages(self, until: int) -> list[int]:
        """Decoders needing a page in a step that starts before G = ``until``."""
        heap, out = self.page_heap, []
        while heap and heap[0][0] < until:
            _, i, ver = heapq.heappop(heap)
            if self._live(i, ver):
                out.append(i)
        return out

    def _start_decoding(self, i: int) -> None:
        base = self.computed[i] - self.G
        self.dbase[i] = base
        self.gbase[i] = self.generated[i] - self.G
        self.sum_dbase += base
        self.by_residue[base % self.page] += 1
        self.version[i] += 1
        heapq.heappush(self.finish_heap, (self.out[i] - self.gbase[i], i, self.version[i]))
        if self.track_ctx:
            heapq.heappush(self.ctx_heap, (-base, i, self.version[i]))
        if not self.plain_kv and not self.sim.full_reserve:
            self._next_page(i, self.G)
        for k in self.finite:
            w = self.windows[k]
            assert w is not None
            if base + self.G + 1 <= w:  # its next step's keys still below the window
                self.below_n[k] += 1
                self.below_sum[k] += base
                heapq.heappush(self.cross_heap, (w - base, i, self.version[i], k))
            else:
                self.capped_n[k] += 1

    def _stop_decoding(self, i: int) -> None:
        """Materialize a decoder's progress and drop it from the running totals."""
        if self.finite:
            self._cross()
        base = self.dbase.pop(i)
        self.computed[i] = base + self.G
        self.generated[i] = self.gbase.pop(i) + self.G
        self.sum_dbase -= base
        self.by_residue[base % self.page] -= 1
        for k in self.finite:
            w = self.windows[k]
            assert w is not None
            if base + self.G + 1 <= w:
                self.below_n[k] -= 1
                self.below_sum[k] -= base
            else:
                self.capped_n[k] -= 1
        self.version[i] += 1

    def _live(self, i: int, version: int) -> bool:
        """Whether a heap entry still describes decoder i (entries are dropped lazily)."""
        return i in self.dbase and self.version[i] == version

    def _top(self, heap: list[tuple[int, int, int]]) -> tuple[int, int, int] | None:
        while heap and not self._live(heap[0][1], heap[0][2]):
            heapq.heappop(heap)
        return heap[0] if heap else None

    def _max_decode_ctx(self) -> int:
        top = self._top(self.ctx_heap)
        return -top[0] + self.G if top else 0

    def _finish(self, i: int, t: float) -> None:
        self.free += self._held(i)
        if i in self.dbase:
            self._stop_decoding(i)
        self.held[i] = 0
        self.finish[i] = t
        self.done += 1
        del self.running[i]

    def _finish_due(self, t: float) -> None:
        heap = self.finish_heap
        while heap and heap[0][0] <= self.G:
            _, i, ver = heapq.heappop(heap)
            if self._live(i, ver):
                self._finish(i, t)

    def _cross(self) -> int | None:
        """Move decoders whose keys reached a window at the current step to the capped
        counts; returns the step of the next such crossing (None: none)."""
        heap = self.cross_heap
        while heap:
            g_cap, i, ver, k = heap[0]
            if not self._live(i, ver):
                heapq.heappop(heap)
            elif g_cap <= self.G:
                heapq.heappop(heap)
                self.below_n[k] -= 1
                self.below_sum[k] -= self.dbase[i]
                self.capped_n[k] += 1
            else:
                return g_cap
        return None

    def _decode_keys(self, steps_ahead: int) -> tuple[float, ...]:
        """Keys per window the decoders attend to in the step ``steps_ahead`` after the
        current one (no crossing in between)."""
        n_dec = len(self.dbase)
        nxt = self.G + 1 + steps_ahead
        out = []
        for k, w in enumerate(self.windows):
            if w is None:
                out.append(float(self.sum_dbase + n_dec * nxt))
            else:
                out.append(float(self.below_sum[k] + self.below_n[k] * nxt
                                 + self.capped_n[k] * w))
        return tuple(out)

    def _pages_over(self, k: int) -> int:
        """New pages the decoders need for k more decode steps."""
        if not self.plain_kv:
            ctx = np.fromiter(self.dbase.values(), np.int64, len(self.dbase)) + self.G
            held = np.array([self.held[i] for i in self.dbase], np.int64)
            return int(np.sum(np.maximum(self.sim._blocks(ctx + k) - held, 0)))
        page, n_dec = self.page, len(self.dbase)
        full, part = divmod(k, page)
        g = self.G
        res = self.by_residue
        return full * n_dec + sum(res[(-(g + j)) % page] for j in range(part))

    # ---------------------------------------------------------------- stretches
    def pure_decode(self) -> bool:
        sim = self.sim
        if not self.running or self.prefilling:
            return False
        if not self.waiting or len(self.running) >= sim.max_seqs:
            return True
        head = self.waiting[0]
        if not sim.chunked and sim.mixed \
                and self.target[head] - self.computed[head] > sim.budget - len(self.running):
            return True
        return not self._can_admit(head)

    def decode_stretch(self, until_arrival: float) -> tuple[int, float, dict[str, float]]:
        top = self._top(self.finish_heap)
        assert top is not None  # every running sequence is decoding
        k_max = top[0] - self.G
        if self.finite:
            nxt = self._cross()
            if nxt is not None:
                k_max = min(k_max, nxt - self.G)  # keys grow linearly until then
        if not self.sim.full_reserve and self._short_of_pages(k_max):
            lo, hi = 0, k_max  # largest k with pages for k more tokens each
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self._pages_over(mid) <= self.free:
                    lo = mid
                else:
                    hi = mid - 1
            k_max = lo
        if k_max < 2:
            return 0, 0.0, {}
        n_dec = len(self.dbase)
        g = self.G
        ctx_max = float(self._max_decode_ctx()) if self.track_ctx else 0.0
        first = self._decode_keys(0)
        rise = tuple(b - a for a, b in zip(first, self._decode_keys(1), strict=True))

        def contexts() -> NDArray[np.float64]:
            return np.array([self.dbase[i] + g for i in self.running], float)

        return self.sim.stretch_steps(n_dec, contexts, k_max, until_arrival,
                                      ctx_max=ctx_max, keys=(first, rise))

    def _short_of_pages(self, k: int) -> bool:
        if self.plain_kv:
            return self._pages_over(k) > self.free
        # a sequence needs at most one page per `page` tokens, plus one
        if len(self.dbase) * (k // self.page + 1) <= self.free:
            return False
        return self._pages_over(k) > self.free

    def advance(self, k: int, t: float) -> None:
        if not self.sim.full_reserve:
            if self.plain_kv:
                self.free -= self._pages_over(k)
            else:
                end = self.G + k
                for i in self._due_pages(end):
                    new = self._blocks(self.dbase[i] + end)
                    self.free -= new - self.held[i]
                    self.held[i] = new
                    self._next_page(i, end)
        self.G += k
        self._finish_due(t)

    # ---------------------------------------------------------------- one step
    def _preempt_newest(self) -> int:
        victim = next(reversed(self.running))
        held = self._held(victim)
        del self.running[victim]
        self.preemptions += 1
        self.free += held
        if victim in self.dbase:
            self._stop_decoding(victim)
        else:
            self.prefilling.remove(victim)
        self.held[victim] = 0
        self.computed[victim] = 0
        self.target[victim] = self.inp[victim] + self.generated[victim]
        self.waiting.appendleft(victim)
        return held

    def schedule(self) -> tuple[bool, list[list[int]]] | None:
        """(decoders run this step, [request, chunk] of the prefills), or None if nothing
        runs: the array scheduler's rules (:meth:`Simulator._schedule`)."""
        decodes, chunks = self._plan()
        return (decodes, chunks) if decodes or chunks else None

    def _plan(self) -> tuple[bool, list[list[int]]]:
        sim = self.sim
        waiting = self.waiting
        admissible = bool(waiting) and len(self.running) < sim.max_seqs \
            and self._can_admit(waiting[0])
        budget = sim.budget
        prefill_only = not sim.mixed and (bool(self.prefilling) or admissible)
        decodes = not prefill_only and bool(self.dbase)
        if decodes:
            budget -= len(self.dbase)
        chunks: list[list[int]] = []
        if sim.mixed or prefill_only:
            for i in self.prefilling:
                if budget <= 0:
                    break
                chunk = min(self.target[i] - self.computed[i], budget)
                chunks.append([i, chunk])
                budget -= chunk
        if not sim.full_reserve and (decodes or chunks):
            growing: dict[int, int] = {}  # decoders that need a page, sliding windows
            if self.plain_kv:
                growers = self.by_residue[(-self.G) % self.page] if decodes else 0
            elif decodes:
                for i in self._due_pages(self.G + 1):
                    growing[i] = self._blocks(self.dbase[i] + self.G + 1) - self.held[i]
                growers = sum(growing.values())
            else:
                growers = 0
            short = growers - self.free
            preempted = False
            while short > 0 and self.running:
                victim = next(reversed(self.running))
                was_decoding = victim in self.dbase
                if self.plain_kv:
                    grows = int(was_decoding and decodes
                                and (self.dbase[victim] + self.G) % self.page == 0)
                else:
                    grows = growing.pop(victim, 0)
                short -= self._preempt_newest()
                preempted = True
                short -= grows
                growers -= grows
                if not was_decoding:
                    chunks = [c for c in chunks if c[0] != victim]
            self.free -= growers
            for i, extra in growing.items():
                self.held[i] += extra
                self._next_page(i, self.G + 1)
            if preempted:
                return decodes and bool(self.dbase), chunks
        if not (sim.mixed or prefill_only):
            return decodes, chunks
        while waiting and budget > 0 and len(self.running) < sim.max_seqs:
            i = waiting[0]
            remaining = self.target[i] - self.computed[i]
            if not sim.chunked and remaining > budget and (decodes or chunks):
                break  # a whole prompt must fit (a lone prompt may exceed the budget)
            if not self._can_admit(i):
                break
            waiting.popleft()
            blocks = self._reserve(i)
            self.free -= blocks
            self.held[i] = blocks
            self.running[i] = None
            self.prefilling.append(i)
            chunk = min(remaining, budget) if sim.chunked else remaining
            chunks.append([i, chunk])
            budget -= chunk
        return decodes, chunks

    def load(self, plan: tuple[bool, list[list[int]]]) -> StepLoad:
        decodes, chunks = plan
        n_dec = len(self.dbase) if decodes else 0
        windows = self.windows
        if n_dec:
            if self.finite:
                self._cross()
            keys_dec = self._decode_keys(0)
        else:
            keys_dec = (0.0,) * len(windows)
        max_ctx = self._max_decode_ctx() + 1 if (n_dec and self.track_ctx) else 0
        pairs = [0.0] * len(windows)
        pre_keys = [0.0] * len(windows)
        tokens = n_dec
        completes = 0
        for i, c in chunks:
            prefix = self.computed[i]
            for k, w in enumerate(windows):
                if w is None:
                    pairs[k] += c * prefix + c * (c + 1) / 2
                    pre_keys[k] += prefix + c
                else:  # accounting.causal_pairs with a window
                    first = min(max(w - prefix, 0), c)
                    pairs[k] += first * prefix + first * (first + 1) / 2 + (c - first) * w
                    pre_keys[k] += min(prefix + c, w)
            tokens += c
            if prefix + c >= self.target[i]:
                completes += 1
            max_ctx = max(max_ctx, prefix + c)
        n_seq = float(n_dec + len(chunks))
        return StepLoad(
            tokens=float(tokens), seqs=n_seq, decode_seqs=float(n_dec),
            logits=float(n_dec + completes), decode_keys=keys_dec,
            prefill_pairs=tuple(pairs), prefill_keys=tuple(pre_keys),
            eager=self.sim._eager(n_seq, float(max_ctx), bool(chunks)))

    def apply(self, plan: tuple[bool, list[list[int]]], t: float) -> None:
        decodes, chunks = plan
        if decodes:
            self.G += 1
        for i, c in chunks:
            self.computed[i] += c
            if self.computed[i] < self.target[i]:
                continue
            self.prefilling.remove(i)
            self.generated[i] += 1
            if math.isnan(self.first_tok[i]):
                self.first_tok[i] = t
            if self.generated[i] >= self.out[i]:
                self._finish(i, t)
            else:
                self._start_decoding(i)
        if decodes:
            self._finish_due(t)

    def times(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return np.array(self.first_tok), np.array(self.finish)
