"""Closed-form estimator for a burst of B identical requests sent together.

This is the article's experiment: B requests of I input and O output tokens arrive at
once; the engine admits as many as its scheduler and KV cache allow, the others wait for
a free slot. Instead of stepping through the engine, the estimator treats the schedule as
a fluid in "step space" and evaluates the per-step cost model once per interval with a
constant batch composition:

- with mixed batches (vLLM, TensorRT-LLM, llama.cpp), prompts are prefilled first come
  first served at ``budget - decoders`` tokens per step while earlier requests decode;
  request j's prefill completes at step s_j, its first token comes out at the end of that
  step, and it decodes for O - 1 more steps. Request j may only start once request j - n
  has finished, where n is the concurrency the KV cache and ``max_num_seqs`` allow. The
  schedule (s, f) and the number of decoders alive during each prefill are solved
  together by a few fixed-point passes, on cells of requests (up to 16 per wave);
- with prefill-priority engines (SGLang), each cohort of up to n requests is prefilled
  in full-budget steps, then decodes together until it finishes.

The resulting intervals (between the completions and finishes of groups of cells) go
through :class:`~tokenomist.perf.step_cost.CostModel`. The per-request means come from the
same intervals without looking up any request's time: summed over requests, the time to
first token is the integral over the timeline of the step time x the requests still
waiting for their first token, and each interval's share of it follows from
F(x) = sum_j (x - e_j)+ over the first-token steps e_j at its two ends (likewise for
finishes).

Everything is vectorized over *points* (shape x batch size) as well as over requests: the
schedules of all shapes are solved together on ragged arrays. Since requests are
admitted first come first served, a burst of B runs exactly as the shape's largest burst
until its last prompt's step: one schedule and one timeline per shape serve every batch
size, and each smaller burst integrates only its own drain. All intervals of all points
go through the cost model in a single call. No loop runs over tokens, steps, requests or
shapes; the only Python loops are over waves and a few fixed-point passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
from numpy.typing import NDArray

from tokenomist.arch.accounting import causal_pairs, chunk_keys
from tokenomist.deploy.deployment import Deployment
from tokenomist.errors import InvalidValueError
from tokenomist.perf.simulator import prompt_over_budget
from tokenomist.perf.step_cost import CostModel, StepLoad, without_prefill

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
    prefill_s: float = 0.0  # wall time attributed to prefill (marginal cost of its work)
    decode_s: float = 0.0  # the rest: what the decodes alone would have taken

    @property
    def output_tokens_per_s(self) -> float:
        return self.batch_size * self.output_tokens / self.elapsed_s

    @property
    def input_tokens_per_s(self) -> float:
        return self.batch_size * self.input_tokens / self.elapsed_s

    @property
    def bottleneck(self) -> str:
        return max(self.breakdown_s, key=lambda k: self.breakdown_s[k])


def admission_limit(d: Deployment, input_tokens: int, output_tokens: int) -> int:
    """Requests of this shape admitted into an empty engine at once.

    ``admission="full"`` reserves prompt + output pages; ``admission="prompt"`` only the
    prompt's (vLLM, SGLang), capped by ``max_num_seqs``.
    """
    return int(admission_limits(d, np.array([input_tokens]), np.array([output_tokens]))[0])


def admission_limits(d: Deployment, input_tokens: NDArray[np.int64],
                     output_tokens: NDArray[np.int64]) -> NDArray[np.int64]:
    """:func:`admission_limit` of many request shapes at once."""
    s = d.engine.scheduler
    plan = d.memory
    usable = plan.usable_blocks(s.watermark)
    held = input_tokens + output_tokens if s.admission == "full" else input_tokens
    blocks = plan.blocks(held)
    n = np.floor_divide(usable, np.maximum(blocks, 1.0))
    return np.maximum(1, np.minimum(s.max_num_seqs, n)).astype(np.int64)


def concurrency_limit(d: Deployment, input_tokens: int, output_tokens: int) -> int:
    """Sequences of this shape running at once in a steady flow of requests.

    ``admission="full"``: KV / (I + O). ``admission="prompt"``: a new request is admitted
    when its prompt's pages are free, so the running set fills the cache; its ages are
    spread over the time a wave takes to prefill (n x I / budget steps, at most O), so it
    holds on average I + O - span / 2 tokens per sequence. Prefill-priority engines
    prefill a cohort before decoding it (no spread).
    """
    return int(concurrency_limits(d, np.array([input_tokens]), np.array([output_tokens]))[0])


def concurrency_limits(d: Deployment, input_tokens: NDArray[np.int64],
                       output_tokens: NDArray[np.int64]) -> NDArray[np.int64]:
    """:func:`concurrency_limit` of many request shapes at once."""
    s = d.engine.scheduler
    plan = d.memory
    usable = plan.usable_blocks(s.watermark)
    i_tok = np.asarray(input_tokens, dtype=np.int64)
    o_tok = np.asarray(output_tokens, dtype=np.int64)

    def fits(per_seq_tokens: Array) -> NDArray[np.int64]:
        per_blocks = per_seq_tokens / plan.block_size + 0.5  # last page partly filled
        n = np.floor_divide(float(usable), per_blocks)
        return np.maximum(1, np.minimum(s.max_num_seqs, n)).astype(np.int64)

    n = fits(plan.kv_token_cost(i_tok + o_tok))
    if s.mixed_batches and not s.chunked_prefill:
        # a whole prompt joins a step only if the decodes leave room for it
        n = np.maximum(1, np.minimum(n, s.max_num_batched_tokens - i_tok + 1))
    if s.admission == "full" or not s.mixed_batches:
        return n
    admitted = admission_limits(d, i_tok, o_tok)
    out = n.copy()
    active = o_tok > 1
    for _ in range(30):
        if not active.any():
            break
        room = np.maximum(s.max_num_batched_tokens - n, 1)
        span = np.minimum(o_tok.astype(float), n * i_tok / room)
        ages = np.linspace(o_tok - span, o_tok.astype(float), 33, axis=1)
        new = fits(np.mean(plan.kv_token_cost(i_tok[:, None] + ages), axis=1))
        settled = active & (np.abs(new - n) <= 1)
        out[settled] = np.minimum(new, admitted)[settled]
        active &= ~settled
        n = np.where(active, (n + new) // 2, n)
    out[active] = np.minimum(n, admitted)[active]
    return out


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
    prefill_s: Array
    decode_s: Array

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
                         "overhead": float(self.overhead_s[k])},
            prefill_s=float(self.prefill_s[k]), decode_s=float(self.decode_s[k]))


def _offsets(sizes: NDArray[np.int64]) -> NDArray[np.int64]:
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def _ragged_index(sizes: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(owner, local index) of every element of ragged groups of ``sizes``."""
    owner = np.repeat(np.arange(sizes.size), sizes)
    local = np.arange(int(sizes.sum())) - np.repeat(_offsets(sizes), sizes)
    return owner, local


class _GroupedSorted:
    """Values sorted within contiguous groups, ready for per-group rank queries: one
    keyed copy (value + group x span) serves every search."""

    def __init__(self, values: Array, owner: NDArray[np.int64],
                 starts: NDArray[np.int64]) -> None:
        self.values = values
        self.lo = float(values.min(initial=0.0)) - 1.0
        self.hi = float(values.max(initial=0.0)) + 1.0
        self.span = self.hi - self.lo + 1.0
        self.keyed = (values - self.lo) + owner * self.span
        self.starts = starts

    def rank(self, queries: Array, owner_q: NDArray[np.int64],
             side: str = "right") -> NDArray[np.int64]:
        """For each query, how many values of its own group are <= (``side="left"``: <)
        it. Queries outside every value are clipped, which keeps their rank."""
        return self.position(queries, owner_q, side) - self.starts[owner_q]

    def position(self, queries: Array, owner_q: NDArray[np.int64],
                 side: str = "right") -> NDArray[np.int64]:
        """:meth:`rank` plus the group's first index."""
        q = (np.clip(queries, self.lo, self.hi) - self.lo) + owner_q * self.span
        return np.asarray(np.searchsorted(self.keyed, q, side=side),  # type: ignore[call-overload]
                          dtype=np.int64)


def _segmented_cummax(x: Array, rank: NDArray[np.int64]) -> Array:
    """Running maximum that restarts at each new value of ``rank`` (0, 1, 2, ... over
    contiguous segments)."""
    if x.size == 0:
        return x
    finite = np.isfinite(x)
    lo = float(x[finite].min()) - 1.0 if finite.any() else 0.0
    y = np.where(finite, x, lo)  # -inf sorts below every finite value
    span = float(y.max()) - lo + 1.0
    out = np.maximum.accumulate((y - lo) + rank * span) - rank * span + lo
    return np.where(out <= lo, -np.inf, out)


STEP_TOL = 1e-3  # a completion this close past a step's end belongs to that step


def _step_end(s: Array) -> Array:
    """The end of the step in which a prompt completing at fluid step s completes (its
    first token comes out then); within STEP_TOL of the fixed point's precision."""
    return np.asarray(np.ceil(s - STEP_TOL), dtype=float)


def _mean_wait(first: Array, spacing: Array, count: Array) -> Array:
    """Mean of step_end(s) - s over ``count`` completion steps s = first + j x spacing.

    Up to PHASES of them are summed one by one. A longer progression whose fractional
    parts cycle through q <= PHASES values (spacing mod 1 = p / q: whole prompts per step,
    or a prompt length that divides the budget) is averaged over one cycle. Otherwise its
    fractional parts drift by (spacing mod 1) per request over the unit interval, and their
    mean is that of frac(u) over the range u sweeps (midpoint rule), whose integral is
    floor(u) / 2 + frac(u)^2 / 2.
    """
    first = np.asarray(first, dtype=float)
    out = np.empty(first.shape)
    few = (count >= 1.0) & (count <= PHASES)
    if few.any():
        k = np.flatnonzero(few)
        out[k] = _summed_wait(first[k], spacing[k], count[k])
    k = np.flatnonzero(~few)
    if k.size:
        out[k] = _long_wait(first[k], spacing[k], count[k])
    return out


def _summed_wait(first: Array, spacing: Array, terms: Array) -> Array:
    """Mean of step_end(s) - s over the first ``terms`` (<= PHASES) of the progressions
    (0 where there are none). Rows are summed in bands of up to 1, 2, 4, 8, ... terms, each
    as wide as its longest row needs."""
    out = np.zeros(first.shape)
    width = 1
    done = terms < 0.5
    while not done.all():
        k = np.flatnonzero(~done & (terms <= width + 0.5))
        width *= 2
        if k.size == 0:
            continue
        n = terms[k]
        j = np.arange(int(n.max()), dtype=float)
        x = first[k, None] + j[None, :] * spacing[k, None]
        wait = _step_end(x)
        wait -= x
        wait[j[None, :] >= n[:, None]] = 0.0
        out[k] = wait.sum(axis=1) / n
        done[k] = True
    return out


def _long_wait(first: Array, spacing: Array, count: Array) -> Array:
    """:func:`_mean_wait` of progressions of more than PHASES completions."""
    drift = spacing - np.round(spacing)
    qd = drift[:, None] * np.arange(1.0, PHASES + 1.0)[None, :]
    qd -= np.round(qd)
    hit = np.abs(qd) < 1e-6
    cycle = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1.0, 0.0)  # the smallest q
    summed = _summed_wait(first, spacing, cycle)
    # the continuous drift
    u0 = first - STEP_TOL - drift / 2.0
    u1 = u0 + count * drift

    def integral(u: Array) -> Array:
        return np.asarray(np.floor(u) / 2.0 + (u - np.floor(u)) ** 2 / 2.0, dtype=float)

    width = u1 - u0
    wide = np.abs(width) > 1e-6
    one = u0 - np.floor(u0)
    mean_frac = np.where(wide, (integral(u1) - integral(u0)) / np.where(wide, width, 1.0), one)
    return np.asarray(np.where(cycle > 0, summed, 1.0 - mean_frac), dtype=float)


PHASES = 16  # completions averaged one by one in _mean_wait
CELLS = 16  # cells per prefill-bound wave: up to 16 requests are resolved one by one
FEW_CELLS = 4  # cells per wave whose prefill is short against a request's decode
STRIDE = 4  # cells per group of integration (see BurstEstimator._group_starts)
MERGE_MIN = 4  # requests a cell needs to be merged into a group
SUBDIVISIONS = 9  # extra boundaries where the share of sequences that fit the KV cache varies


# where a request sits for _Cells.finish_at: cell, first of its shape, rank, cell size, offset
_Gate = tuple[NDArray[np.int64], NDArray[np.bool_], Array, Array, Array]


def _part(gate: _Gate, lo: int, hi: int) -> _Gate:
    k, first, u, m, offset = gate
    return k[lo:hi], first[lo:hi], u[lo:hi], m[lo:hi], offset[lo:hi]


@dataclass
class _Cells:
    """Ragged per-shape cells of requests in admission order: cell j holds m_j requests
    from count x_j; they start prefilling at T_j and complete at T_j + u (S_j - T_j) / m_j
    for u = 1..m_j (all at S_j if clamped into the first step)."""

    owner: NDArray[np.int64]
    x: Array
    m: Array
    wave: NDArray[np.int64]
    lead: NDArray[np.bool_]  # the prompts that fit the first step whole, with no decoders
    n: Array  # per shape: concurrency after the first wave
    starts: NDArray[np.int64]  # per shape: first cell
    counts: NDArray[np.int64]  # per shape: number of cells
    i_tok: Array  # per shape
    life: Array  # per shape: O - 1
    T: Array = field(default_factory=lambda: np.zeros(0))
    S: Array = field(default_factory=lambda: np.zeros(0))
    clamped: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    n_clamped: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    _index: dict[str, _GroupedSorted] = field(default_factory=dict)
    # (prefix sums over cells, the two factors within a cell; see sum_s_in)
    _before: tuple[Array, Array, Array] | None = None
    gap: Array = field(default_factory=lambda: np.zeros(0))  # steps between completions
    pace: Array = field(default_factory=lambda: np.zeros(0))  # completions per step
    _none_before: Array | None = None

    def set_schedule(self, T: Array, S: Array, clamped: NDArray[np.bool_]) -> None:
        """Start and completion steps of every cell (new arrays: the search indexes are
        keyed on their identity)."""
        self.T, self.S, self.clamped = T, S, clamped
        self.n_clamped = np.bincount(self.owner[clamped],
                                     minlength=self.counts.size).astype(np.int64)
        self.gap = (S - T) / np.maximum(self.m, 1e-12)
        self.pace = 1.0 / np.maximum(self.gap, 1e-12)  # requests per step
        self._none_before = None
        self._before = None

    def subset(self, keep: NDArray[np.bool_]) -> tuple[_Cells, NDArray[np.int64]]:
        """The cells of the shapes where ``keep`` is true (renumbered), unscheduled, and
        their indices here."""
        cells = np.flatnonzero(keep[self.owner])
        renumber = np.cumsum(keep) - 1
        counts = self.counts[keep]
        sub = _Cells(owner=renumber[self.owner[cells]], x=self.x[cells], m=self.m[cells],
                     wave=self.wave[cells], lead=self.lead[cells], n=self.n[keep],
                     starts=_offsets(counts), counts=counts, i_tok=self.i_tok[keep],
                     life=self.life[keep])
        return sub, cells

    def _rank(self, name: str, t: Array, shape: NDArray[np.int64],
              side: str = "right") -> NDArray[np.int64]:
        """Rank of t among the cells' ``name`` values (x or S) of its shape."""
        return self._sorted(name).rank(t, shape, side)

    def _sorted(self, name: str) -> _GroupedSorted:
        """The keyed index of the cells' ``name`` values (x or S), rebuilt only when that
        array has been replaced."""
        values = getattr(self, name)
        index = self._index.get(name)
        if index is None or index.values is not values:
            index = self._index[name] = _GroupedSorted(values, self.owner, self.starts)
        return index

    def spacing(self, k: NDArray[np.int64]) -> Array:
        """Steps between the completions of consecutive requests of cell k."""
        return np.asarray(self.gap[k], dtype=float)

    def done_and_started(self, t: Array, shape: NDArray[np.int64],
                         done_before: NDArray[np.int64] | None = None
                         ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Local indices: cells of ``shape`` completed by t, and cells started by t.
        ``done_before``: the cells completed by some time no later than t, where known
        (-1 elsewhere): the search then runs only where the next cell has completed since."""
        done, begun, _, _ = self._scan(t, shape, done_before)
        return done, begun

    def _scan(self, t: Array, shape: NDArray[np.int64],
              done_before: NDArray[np.int64] | None = None) -> tuple[
            NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """:meth:`done_and_started`, and the shape's first cell and number of cells."""
        tq = t + 1e-9
        g0 = self.starts[shape]
        n = self.counts[shape]
        if done_before is None:
            done = self._sorted("S").position(tq, shape) - g0
        else:
            done = done_before.copy()  # (-1: not known)
            nxt = np.clip(g0 + done, 0, self.S.size - 1)
            later = np.flatnonzero((done < 0) | ((done < n) & (self.S[nxt] <= tq)))
            done[later] = self._sorted("S").position(tq[later], shape[later]) - g0[later]
        # a shape's cells run one after another (T_j >= S_j-1), except the prompts clamped
        # into the first step, which all run from 0 to 1: at most one cell past the done
        # ones (past the clamped ones) has begun
        nxt = np.maximum(done, self.n_clamped[shape])
        has = nxt < n
        t_next = self.T[np.minimum(g0 + nxt, self.T.size - 1)]
        begun = np.where(tq < 0.0, 0, nxt + (has & (t_next <= tq)))
        return done, np.maximum(begun, done), g0, n

    def count_started(self, t: Array, shape: NDArray[np.int64]) -> Array:
        """Requests of ``shape`` whose prefill has completed by time t."""
        return self.locate(t, shape)[0]

    def _position(self, t: Array, shape: NDArray[np.int64]
                  ) -> tuple[Array, Array, NDArray[np.int64], NDArray[np.int64],
                             NDArray[np.int64]]:
        """(requests of ``shape`` in the cells completed by time t, requests' worth of
        prefill done by t in the first unfinished cell (continuous), that cell (global
        index), cells completed by t, cells started by t)."""
        done, begun, g0, n = self._scan(t, shape)
        finished = done >= n
        k = np.minimum(done, n - 1) + g0
        m_k = self.m[k]
        whole = self.x[k] + np.where(finished, m_k, 0.0)
        moving = ~finished & (begun > done) & ~self.clamped[k]
        into = np.where(moving, np.clip((t - self.T[k]) * self.pace[k], 0.0, m_k), 0.0)
        return whole, into, k, done, begun

    def locate(self, t: Array, shape: NDArray[np.int64]
               ) -> tuple[Array, NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """(requests of ``shape`` whose prefill has completed by time t, the cell that
        count falls in (global index), cells completed by t, cells started by t)."""
        whole, into, k, done, begun = self._position(t, shape)
        # the first unfinished cell may be partly done (requests complete one by one)
        return np.asarray(whole + np.floor(into + 1e-9), dtype=float), k, done, begun

    def sum_s_in(self, count: Array, k: NDArray[np.int64]) -> Array:
        """Sum of the completion steps of the first ``count`` requests of a shape, up to a
        constant of that shape, given the cell k that holds the count (x_k <= count <=
        x_k + m_k): differences within a shape are exact."""
        if self._before is None:
            # the first u requests of a cell complete at u (lin + quad u) steps in all
            quad = np.where(self.clamped, 0.0, self.gap / 2.0)
            lin = np.where(self.clamped, self.S, self.T) + quad
            per_cell = self.m * (lin + quad * self.m)
            self._before = (np.cumsum(per_cell) - per_cell, lin, quad)
        before, lin, quad = self._before
        u = np.clip(count - self.x[k], 0.0, self.m[k])
        return np.asarray(before[k] + u * (lin[k] + quad[k] * u), dtype=float)

    def s_after(self, count: Array, k: NDArray[np.int64], shape: NDArray[np.int64]) -> Array:
        """Completion step of the request right after the first ``count`` (cell k holds
        the count, as in :meth:`sum_s_in`)."""
        last = self.starts[shape] + self.counts[shape] - 1
        k = np.where(count + 1.0 > self.x[k] + self.m[k] + 1e-9, np.minimum(k + 1, last), k)
        u = np.clip(count + 1.0 - self.x[k], 0.0, self.m[k])
        return np.asarray(np.where(self.clamped[k], self.S[k],
                                   self.T[k] + u * self.spacing(k)), dtype=float)

    def s_of_count(self, count: Array, shape: NDArray[np.int64]) -> Array:
        """Completion step of the request at (1-based) position ``count``."""
        k = self._cell_of_count(count, shape)
        u = np.clip(count - self.x[k], 0.0, self.m[k])
        return np.where(self.clamped[k], self.S[k], self.T[k] + u * self.spacing(k))

    def _cell_of_count(self, count: Array, shape: NDArray[np.int64]) -> NDArray[np.int64]:
        k = self._rank("x", count - 1e-9, shape) - 1
        return np.clip(k, 0, self.counts[shape] - 1) + self.starts[shape]

    def gate(self, idx: NDArray[np.int64], count: Array) -> _Gate:
        """Where the request at position ``count`` (< 1: none) of the shape of cells
        ``idx`` sits, for :meth:`finish_at`: its cell, whether that is its shape's first
        cell, its rank in the cell, the cell's size and the offset to its finish (its
        shape's decode life, -inf for none). Fixed while the schedule is solved."""
        shape = self.owner[idx]
        k = self._cell_of_count(np.maximum(count, 1.0), shape)
        u = np.clip(count - self.x[k], 0.0, self.m[k])
        return (k, k == self.starts[shape], u, np.maximum(self.m[k], 1e-12),
                np.where(count >= 1.0, self.life[shape], -np.inf))

    @staticmethod
    def finish_at(S: Array, gate: _Gate) -> Array:
        """Finish step of the requests of :meth:`gate`, using completion steps S of the
        earlier cells (the cell's requests spread evenly after the previous one's end)."""
        k, first, u, m, offset = gate
        t0 = np.where(first, 0.0, np.maximum(S[np.maximum(k - 1, 0)], 0.0))
        return t0 + u * ((S[k] - t0) / m) + offset

    def none_before(self) -> Array:
        """Per shape: a step before which none of its prompts has completed (its first
        completion, less a margin for :meth:`locate`, which rounds counts up by 1e-9)."""
        if self._none_before is None:
            shapes = np.arange(self.counts.size)
            k = self.starts
            spacing = np.where(self.clamped[k], 0.0, self.spacing(k))
            self._none_before = np.asarray(self.s_of_count(np.ones(shapes.size), shapes)
                                           - 1e-6 * np.maximum(spacing, 1.0), dtype=float)
        return self._none_before

    def progress(self, t: Array, shape: NDArray[np.int64], cap: Array) -> tuple[Array, Array]:
        """(prompts of ``shape`` prefilled by time t, fractions of the prompts in flight
        included; whole prompts completed by t), both at most ``cap``."""
        whole, into, *_ = self._position(t, shape)
        return np.minimum(whole + into, cap), np.minimum(whole + np.floor(into + 1e-9), cap)

    def prefill_at(self, t: Array, shape: NDArray[np.int64], n_cells: NDArray[np.int64],
                   last_s: Array, last_m: Array,
                   done_begun: tuple[NDArray[np.int64], NDArray[np.int64]],
                   last_step: tuple[Array, Array, Array, Array]) -> tuple[Array, Array]:
        """(prompts completed per step, prompts in flight) at time t, over the first
        ``n_cells`` cells of the shape: every cell whose prefill spans t contributes. The
        last of them may be cut short by the batch size: only its first ``last_m``
        requests, the last of which completes at ``last_s``. ``done_begun``: the cells
        completed and started by t (:meth:`done_and_started`). ``last_step``: (start, end, prompts
        per step, prompts in flight) of the step that completes the last prompt: that
        step runs whole, and the prefill work left for it is spread evenly over it."""
        done, begun = done_begun
        whole = n_cells - 1
        hi = np.minimum(begun, whole)
        lo = np.minimum(done, hi)
        span = np.maximum(self.S - self.T, 1e-12)
        rate_c = np.cumsum(np.concatenate([[0.0], self.m / span]))
        fly_c = np.cumsum(np.concatenate([[0.0], np.where(self.clamped, self.m, 1.0)]))
        g0 = self.starts[shape]
        rate = rate_c[g0 + hi] - rate_c[g0 + lo]
        fly = fly_c[g0 + hi] - fly_c[g0 + lo]
        # the last cell, cut at the batch size
        k = g0 + whole
        clamped = self.clamped[k]
        on = (self.T[k] <= t + 1e-9) & (last_s > t + 1e-9)
        here = last_m / np.maximum(np.where(clamped, self.S[k], last_s) - self.T[k], 1e-12)
        rate = rate + np.where(on, here, 0.0)
        fly = fly + np.where(on, np.where(clamped, last_m, 1.0), 0.0)
        # its last prompt completes in the middle of a step, which still runs whole
        start, end, last_rate, last_fly = last_step
        final = (t + 1e-9 >= start) & (t + 1e-9 < end)
        return np.where(final, last_rate, rate), np.where(final, last_fly, fly)


@dataclass(frozen=True)
class _Points:
    """Per point (shape x batch size) of a grid, what the stages after the schedule use."""

    shape: NDArray[np.int64]
    batch: Array
    i_tok: Array
    life: Array  # O - 1
    end: Array  # the step of its last finish
    anchor: NDArray[np.int64]  # its shape's largest burst, whose timeline it shares
    own: NDArray[np.bool_]  # it is its own anchor
    cut: Array  # where its own timeline starts (-inf for an anchor)
    last_step_start: Array  # the start of the step completing its last prompt
    n_cells: NDArray[np.int64]
    last_cell: NDArray[np.int64]  # the cell (global index) holding its last request
    last_s: Array  # that cell's completion of its last request
    last_out: Array  # the step whose end its last first token comes out at
    last_m: Array  # and its requests in the burst
    drain_from: Array  # every prompt done: no prefill from here on
    final_step: tuple[Array, Array, Array, Array]  # see _Cells.prefill_at


@dataclass(frozen=True)
class _Groups:
    """Groups of a point's cells (see BurstEstimator._group_starts), by point then step."""

    pt: NDArray[np.int64]
    m: Array  # requests
    s_first: Array  # completion of the first and last prompts
    s_last: Array
    e_first: Array  # their first tokens' steps
    e_last: Array
    start: Array  # the first cell's start


@dataclass(frozen=True)
class _Emissions:
    """The first tokens of each point's requests, cell by cell: a point's cells are the
    first of its shape's, the last cut short at its batch size. A cell's requests complete
    their prompts at even steps s_first + u x step, and their first tokens come out at the
    ends of those steps."""

    m: Array  # per cell of every shape: its requests
    s_first: Array
    step: Array
    e_first: Array  # the step of its first first token
    wait: Array  # mean of step_end(s) - s over its requests (see _mean_wait)
    sum_m: Array  # running sums over the cells (one more entry) of m and
    sum_e: Array  # of the steps of the first tokens
    first: NDArray[np.int64]  # per point: its shape's first cell
    count: NDArray[np.int64]  # its cells
    last_m: Array  # its last cell's requests in the burst
    last_wait: Array  # their mean wait
    last_sum_e: Array  # the sum of their first tokens' steps


@dataclass(frozen=True)
class _Intervals:
    """The intervals of every point of a grid, between its distinct boundaries."""

    at: Array  # the boundaries, by point then step
    owner: NDArray[np.int64]
    same: NDArray[np.bool_]  # boundary i and i + 1 bound an interval of one point
    point: NDArray[np.int64]
    a: Array  # where each starts
    length: Array
    mid: Array
    cut_at: NDArray[np.int64]  # per point that is not its shape's anchor, in order: its
    # anchor's first interval from its cut on

    @staticmethod
    def between(at: Array, owner: NDArray[np.int64], cut_at: NDArray[np.int64]
                ) -> _Intervals:
        """``cut_at``: boundary indices, each of them the start of an interval."""
        same = owner[1:] == owner[:-1]
        a, z = at[:-1][same], at[1:][same]
        # (a point's intervals start at all its boundaries but its last)
        return _Intervals(at=at, owner=owner, same=same, point=owner[:-1][same], a=a,
                          length=z - a, mid=(a + z) / 2.0, cut_at=cut_at - owner[cut_at])


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
        self.preempts = s.admission == "prompt"
        self.capacity_tokens = float(
            self.plan.usable_blocks(s.watermark) * self.plan.block_size)
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
        if b_arr.size == 0:
            raise InvalidValueError("give at least one batch size")
        if np.any(b_arr < 1):
            raise InvalidValueError("batch sizes must be positive integers")
        # (the distinct shapes, in order of input then output tokens: one integer key each
        # where it fits)
        o_min, o_span = int(o_arr.min()), int(o_arr.max()) - int(o_arr.min()) + 1
        if (int(np.abs(i_arr).max()) + 1) * o_span < 2 ** 62:
            keys, shape_of_point = np.unique(i_arr * o_span + (o_arr - o_min),
                                             return_inverse=True)
            shapes = np.stack([keys // o_span, keys % o_span + o_min], axis=1)
        else:
            shapes, shape_of_point = np.unique(np.stack([i_arr, o_arr], axis=1), axis=0,
                                               return_inverse=True)
        shape_of_point = shape_of_point.reshape(-1)
        self._validate(shapes[:, 0], shapes[:, 1])
        n_cap = concurrency_limits(self.d, shapes[:, 0], shapes[:, 1])
        first = admission_limits(self.d, shapes[:, 0], shapes[:, 1]) \
            if self.preempts and self.mixed else n_cap
        b_max = np.zeros(len(shapes), np.int64)
        np.maximum.at(b_max, shape_of_point, b_arr)
        if not self.mixed:
            return self._grid_cohorts(shapes, shape_of_point, b_arr, n_cap)
        # points grouped by shape: lookups into each shape's schedule then come in order
        order = np.argsort(shape_of_point, kind="stable")
        grid = self._grid_mixed(shapes, shape_of_point[order], b_arr[order], b_max, n_cap,
                                first)
        back = np.empty_like(order)
        back[order] = np.arange(order.size)
        return BurstGrid(**{f.name: getattr(grid, f.name)[back] for f in fields(BurstGrid)})

    def _validate(self, i_arr: NDArray[np.int64], o_arr: NDArray[np.int64]) -> None:
        """Reject the first request shape (in order) the deployment cannot serve."""
        s = self.d.engine.scheduler
        plan = self.plan
        limit = self.d.context_limit()
        need = i_arr + o_arr if s.admission == "full" else i_arr
        blocks = plan.blocks(need)
        whole = plan.blocks(i_arr + o_arr)
        bad = (i_arr < 1) | (o_arr < 1) | (i_arr + o_arr > limit) \
            | ((not self.chunked) & (i_arr > self.budget)) \
            | (blocks > plan.usable_blocks(s.watermark)) \
            | (whole > plan.kv_blocks)
        if not bad.any():
            return
        k = int(np.argmax(bad))
        i, o = int(i_arr[k]), int(o_arr[k])
        if i < 1 or o < 1:
            raise InvalidValueError("input and output tokens must be positive integers "
                                    f"(got {i} and {o})")
        if i + o > limit:
            raise InvalidValueError(
                f"input + output = {i + o} tokens exceeds the {limit}-token context of "
                f"{self.d.model.name}")
        if not self.chunked and i > self.budget:
            raise InvalidValueError(prompt_over_budget(self.d, i))
        raise InvalidValueError(
            f"one request of {i + o} tokens needs more KV cache than the deployment "
            f"holds ({plan.kv_tokens} tokens); use more GPUs, --kv-dtype fp8 or "
            "shorter requests")

    # ----------------------------------------------------------------------- mixed batches
    def _tau(self, decoders: Array, input_tokens: Array) -> Array:
        """Steps to prefill one prompt while ``decoders`` sequences decode."""
        room = np.maximum(self.budget - decoders, 1.0)
        if self.chunked:
            return np.maximum(input_tokens / room, 1e-9)
        # whole prompts: floor(room / I) per step, at least one prompt per step
        return 1.0 / np.maximum(np.floor(room / input_tokens), 1.0)

    def _cells(self, shapes: NDArray[np.int64], b_max: NDArray[np.int64],
               n_cap: NDArray[np.int64], first_wave: NDArray[np.int64]) -> _Cells:
        """Split each shape's requests (in admission order) into cells: the prompts that
        fit the first step, the rest of the first wave (admitted at once), then waves of
        n; each into at most CELLS cells of equal size (FEW_CELLS where a wave prefills in
        less than half a request's decode; single requests when a wave is that small), the
        first wave's equal cells led by cells of 1, 1, 2, 4, ... requests. The
        cells are those of the shape's largest burst; a smaller burst of B
        takes the cells below B and the first B - x requests of the cell holding B (a
        cell's requests complete one after another at a steady rate, so those of a burst
        of B are the same)."""
        n = np.minimum(n_cap, b_max)
        first = np.minimum(b_max, np.maximum(n, first_wave))
        rest = b_max - first
        waves_after = -(-rest // np.maximum(n, 1))
        fit1 = np.minimum(np.floor(self.budget / shapes[:, 0]).astype(np.int64), first)
        lead = np.maximum(fit1, 0)  # the prompts that fit the first step whole
        # a wave whose prompts take more than half a request's decode to prefill needs the
        # finest cells (the batch changes mostly by prefill); elsewhere a few cells suffice
        span = n * self._tau(np.zeros(n.size), shapes[:, 0].astype(float))
        per_wave = np.where(2.0 * span > shapes[:, 1] - 1, CELLS, FEW_CELLS)
        equal0 = np.minimum(first - lead, per_wave)
        size0 = (first - lead) / np.maximum(equal0, 1)
        # the first requests of a wave 0 cell complete with fewer decoders than its mean:
        # cells of 1, 1, 2, 4, ... requests lead the first equal one, so that a small
        # burst is made of whole cells of the largest one
        heads = np.where(size0 > 1.0, np.ceil(np.log2(np.maximum(size0, 1.0)) - 1e-9),
                         0.0).astype(np.int64)
        cells0 = equal0 + heads + (lead > 0)
        cells_w = np.minimum(n, per_wave)
        n_reg = cells0 + waves_after * cells_w
        owner, k = _ragged_index(n_reg)
        in_first = k < cells0[owner]
        kw = k - cells0[owner]
        has_lead = lead[owner] > 0
        k0 = k - has_lead  # 0: the first cell after the lead; then the heads
        hd = heads[owner]
        x0 = np.where(k0 == 0, 0.0,
                      np.where(k0 <= hd, 2.0 ** np.clip(k0 - 1, 0, hd),
                               (k0 - hd) * size0[owner]))
        size_w = n / np.maximum(cells_w, 1)
        x_reg = np.where(in_first, np.where(has_lead & (k == 0), 0.0, lead[owner] + x0),
                         first[owner] + kw * size_w[owner])
        # boundaries at whole requests (in order: x_reg grows within each shape)
        bx = np.asarray(np.round(x_reg), dtype=float)
        keep = bx < b_max[owner] - 1e-9
        bx, bo = bx[keep], owner[keep]
        distinct = np.ones(bx.size, bool)
        distinct[1:] = (bo[1:] != bo[:-1]) | (bx[1:] - bx[:-1] > 1e-9)
        bx, bo = bx[distinct], bo[distinct]
        counts = np.bincount(bo, minlength=len(shapes)).astype(np.int64)
        starts = _offsets(counts)
        nxt = np.append(bx[1:], 0.0)
        last = np.append(bo[1:] != bo[:-1], True)
        m = np.where(last, b_max[bo] - bx, nxt - bx)
        wave = np.where(bx < first[bo] - 1e-9, 0,
                        1 + np.floor((bx - first[bo] + 1e-9) / np.maximum(n[bo], 1))).astype(
                            np.int64)
        return _Cells(owner=bo, x=bx, m=m, wave=wave, lead=bx < lead[bo] - 1e-9,
                      n=n.astype(float), starts=starts, counts=counts,
                      i_tok=shapes[:, 0].astype(float), life=(shapes[:, 1] - 1).astype(float))

    def _schedule(self, c: _Cells, dec: Array | None = None, first_sweep: int = 0) -> _Cells:
        """Solve start (T) and completion (S) steps of every cell: cell j's first request
        starts when the previous one is done and, after the first wave, when the request
        n places earlier has finished; the decoders sharing each cell's prefill steps are
        found by a few fixed-point passes."""
        own = c.owner
        i_tok, life = c.i_tok[own], c.life[own]
        n = c.n[own]
        n_waves = int(c.wave.max()) + 1 if c.wave.size else 1
        by_wave = np.argsort(c.wave, kind="stable")
        cuts = np.searchsorted(c.wave[by_wave], np.arange(n_waves + 1))
        # (a cell's own requests decode once prefilled: (m - 1) / 2 of them on average)
        if dec is None:
            dec = np.minimum(c.x + (c.m - 1.0) / 2.0,
                             np.maximum(n, c.m.max(initial=1.0)) - 1.0)
            dec = np.where(c.lead | (life <= 0.0), 0.0, dec)  # (one output token: none)
        # the requests n places before each cell's first and last (in cells of earlier waves)
        waves = [by_wave[cuts[w]:cuts[w + 1]] for w in range(1, n_waves)]
        # (all waves' gates in one lookup, then wave by wave)
        later = by_wave[cuts[1]:]
        both = c.gate(np.concatenate([later, later]),
                      np.concatenate([c.x[later] + 1.0 - n[later],
                                      c.x[later] + c.m[later] - n[later]]))
        at = cuts[1:] - cuts[1]
        gates = [(_part(both, at[w], at[w + 1]),
                  _part(both, later.size + at[w], later.size + at[w + 1]))
                 for w in range(n_waves - 1)]
        # (each wave's cells by shape: where a shape's run begins, and the runs' ranks)
        heads, ranks = [], []
        for idx in waves:
            head = np.ones(idx.size, bool)
            head[1:] = own[idx][1:] != own[idx][:-1]
            heads.append(head)
            ranks.append(np.cumsum(head) - 1)
        for sweep in range(first_sweep, 8):
            tau = self._tau(dec, i_tok)  # steps per request of the cell
            dur = c.m * tau
            cum = np.cumsum(dur)
            cum = cum - np.repeat(cum[c.starts] - dur[c.starts], c.counts)
            S = cum.copy()
            for idx, (gate_start, gate_end), is_head, rank in zip(waves, gates, heads, ranks,
                                                                 strict=True):
                if idx.size == 0:
                    continue
                # finish times of the requests n places earlier (earlier waves are solved)
                g_start = c.finish_at(S, gate_start)
                g_end = c.finish_at(S, gate_end)
                cum_w, dur_w = cum[idx], dur[idx]
                h = np.maximum(g_start + dur_w, g_end + tau[idx]) - cum_w
                # (the wave's first cell continues after the previous wave)
                base = S[idx - 1] - (cum_w - dur_w)
                run = _segmented_cummax(np.where(is_head, np.maximum(base, h), h), rank)
                S[idx] = cum_w + np.maximum(run, 0.0)
            T = np.maximum(S - dur, np.concatenate([[0.0], S[:-1]]))
            T[c.starts] = np.maximum(S[c.starts] - dur[c.starts], 0.0)
            # gated cells start no earlier than their first gate
            T = np.minimum(T, S)
            clamp = (S < 1.0 + 1e-9) | c.lead  # discrete steps: what fits step 1 ends there
            S = np.where(clamp, 1.0, S)
            T = np.where(clamp, 0.0, T)
            c.set_schedule(T, S, clamp)
            # requests completed by the middle of each cell: the earlier cells' and half
            # of its own (cells run one after another), none before the end of the first
            # step if some prompts are clamped into it
            mid = (T + S) / 2.0
            waiting = clamp | ((c.n_clamped[own] > 0) & (mid + 1e-9 < 1.0))
            started = np.where(waiting, 0.0, c.x + np.floor(c.m / 2.0 + 1e-9))
            # and finished by then (none before the shape's first completion)
            late = np.flatnonzero(mid - life >= c.none_before()[own])
            finished = np.zeros(mid.size)
            finished[late] = c.count_started(mid[late] - life[late], own[late])
            new_dec = np.maximum(started - finished, 0.0)
            new_dec = np.where(c.lead, 0.0, np.minimum(new_dec, c.x + c.m / 2.0))
            change = np.abs(self._tau(new_dec, i_tok) / tau - 1.0)
            unsettled = change >= 1e-3
            if sweep > 0 and not unsettled.any():  # the prefill rates have settled
                break
            # whole prompts per step make a few cells alternate between two counts: from
            # the third pass on, move halfway
            dec = new_dec if sweep < 2 else (dec + new_dec) / 2.0
            if sweep > 0 and sweep < 7:
                # shapes are independent: go on with those whose rates have not settled
                redo = np.zeros(c.counts.size, bool)
                redo[own[unsettled]] = True
                if redo.sum() < 0.75 * redo.size:
                    sub, cells = c.subset(redo)
                    sub = self._schedule(sub, dec[cells], sweep + 1)
                    T, S, clamp = T.copy(), S.copy(), clamp.copy()
                    T[cells], S[cells], clamp[cells] = sub.T, sub.S, sub.clamped
                    c.set_schedule(T, S, clamp)
                    break
        return c

    def _grid_mixed(self, shapes: NDArray[np.int64], shape_of_point: NDArray[np.int64],
                    b_arr: NDArray[np.int64], b_max: NDArray[np.int64],
                    n_cap: NDArray[np.int64], first_wave: NDArray[np.int64]) -> BurstGrid:
        """The stages, each keeping only what the next ones need (the arrays are large)."""
        c = self._schedule(self._cells(shapes, b_max, n_cap, first_wave))
        pts, g, em = self._points_and_groups(c, shapes, shape_of_point, b_arr, b_max)
        iv = self._intervals(c, pts, g, n_cap, first_wave)
        del g
        d_first, d_done = self._first_tokens_and_finishes(c, pts, em, iv)
        del em
        load, fit, prefilling = self._loads(c, shapes, pts, iv)
        bd = self.cost.step_time(load)
        # (the same steps without their prefill work, where they have any)
        total = np.asarray(bd.total, dtype=float)
        dec_only = total.copy()
        pre = np.flatnonzero(prefilling)
        dec_only[pre] = self.cost.step_time(without_prefill(load, pre)).total
        del load
        # per interval: seconds of compute, memory, communication and overhead, seconds
        # with prefill work, steps, seconds, and its first-token and finish integrals
        parts = np.empty((9, fit.size))
        real = np.divide(iv.length, fit, out=parts[5])
        for row, x in enumerate((bd.compute, bd.memory, bd.communication, bd.overhead)):
            np.multiply(real, x, out=parts[row])
        np.multiply(real, np.subtract(total, dec_only, out=dec_only), out=parts[4])
        np.multiply(real, total, out=parts[6])
        rate = np.divide(total, fit, out=fit)  # seconds per step
        np.multiply(rate, d_first, out=parts[7])
        np.multiply(rate, d_done, out=parts[8])
        return self._sums(pts, iv, parts, n_cap[shape_of_point], shapes)

    def _points_and_groups(self, c: _Cells, shapes: NDArray[np.int64],
                           sp: NDArray[np.int64], b_arr: NDArray[np.int64],
                           b_max: NDArray[np.int64]) -> tuple[_Points, _Groups, _Emissions]:
        n_pts = b_arr.size
        i_pt = shapes[sp, 0].astype(float)
        life_pt = shapes[sp, 1] - 1.0
        # ---- the cells of each point: its shape's cells below its batch size
        n_cells_pt = c._rank("x", b_arr.astype(float) - 1e-9, sp, side="left") \
            if c.x.size else np.zeros(n_pts, np.int64)
        n_cells_pt = np.maximum(n_cells_pt, 1)
        cp, ck = _ragged_index(n_cells_pt)  # (point, cell) pairs
        gc = c.starts[sp[cp]] + ck  # global cell
        m_pc = np.minimum(c.m[gc], b_arr[cp] - c.x[gc])
        # (each cell's first completion and the steps between its completions)
        gap = np.where(c.clamped, 0.0, c.gap)
        first_s = np.where(c.clamped, c.S, c.T + gap)
        s_first = first_s[gc]
        s_last = np.where(c.clamped[gc], c.S[gc], c.T[gc] + m_pc * gap[gc])
        # (a point's pairs are contiguous: its last finish in one pass)
        end_pt = np.maximum.reduceat(_step_end(s_last), _offsets(n_cells_pt)) + life_pt
        last_pair = _offsets(n_cells_pt) + n_cells_pt - 1
        # ---- one timeline per shape: a burst of B runs exactly as the shape's largest one
        # until its last prompt completes (at s_B); only the rest (its drain) is its own
        anchor_pt = np.full(len(shapes), -1, np.int64)
        is_max = np.flatnonzero(b_arr == b_max[sp])
        with_max, first_at = np.unique(sp[is_max], return_index=True)
        anchor_pt[with_max] = is_max[first_at]  # the first such point of each shape
        anchor = anchor_pt[sp]
        own = anchor == np.arange(n_pts)
        # (prompts that all complete in the first step are prefilled together: a smaller
        # burst has fewer of them from step 0 on, so its own timeline starts there)
        # (and its last step is its own: the prompt completing in it is its last one)
        last_step_start = np.maximum(_step_end(s_last[last_pair]) - 1.0, 0.0)
        # the prefill work left for that step, spread evenly over it (prompts per step)
        b_f = b_arr.astype(float)
        left, unfinished = c.progress(last_step_start, sp, b_f)
        last_clamped = c.clamped[gc[last_pair]]
        last_end = np.where(last_clamped, 1.0, last_step_start + 1.0)
        pts = _Points(
            shape=sp, batch=b_f, i_tok=i_pt, life=life_pt, end=end_pt, anchor=anchor,
            own=own, cut=np.where(own, -np.inf, np.where(last_clamped, 0.0, last_step_start)),
            last_step_start=last_step_start, n_cells=n_cells_pt, last_cell=gc[last_pair],
            last_s=s_last[last_pair], last_out=_step_end(s_last[last_pair]),
            last_m=m_pc[last_pair],
            drain_from=np.maximum(last_end, s_last[last_pair]),
            final_step=(last_step_start, last_end, b_f - left, b_f - unfinished))
        # ---- groups: runs of up to STRIDE consecutive cells of one phase (a wave's
        # prefills with no idle step between them), the unit of integration; the schedule
        # itself stays resolved cell by cell
        gs = np.flatnonzero(self._group_starts(c)[gc])
        ge = np.append(gs[1:], cp.size) - 1
        g_pt = cp[gs]
        g_m = np.add.reduceat(m_pc, gs)
        g_sf, g_sl = s_first[gs], s_last[ge]
        groups = _Groups(pt=g_pt, m=g_m, s_first=g_sf, s_last=g_sl, e_first=_step_end(g_sf),
                         e_last=_step_end(g_sl), start=c.T[gc[gs]])
        # ---- first tokens, cell by cell: the mean wait of a cell's requests for a step's
        # end once per cell, and again for a point's last cell where its burst cuts it short
        wait = _mean_wait(first_s, gap, c.m)
        last = gc[last_pair]
        last_m = m_pc[last_pair]
        last_wait = wait[last]
        short = np.flatnonzero(last_m < c.m[last])
        last_wait[short] = _mean_wait(first_s[last[short]], gap[last[short]], last_m[short])

        def sum_e(m: Array, s: Array, w: Array, step: Array) -> Array:
            return np.asarray(m * (s + w) + step * m * (m - 1.0) / 2.0, dtype=float)

        emissions = _Emissions(
            m=c.m, s_first=first_s, step=gap, e_first=_step_end(first_s), wait=wait,
            sum_m=np.concatenate([[0.0], np.cumsum(c.m)]),
            sum_e=np.concatenate([[0.0], np.cumsum(sum_e(c.m, first_s, wait, gap))]),
            first=c.starts[sp], count=n_cells_pt, last_m=last_m, last_wait=last_wait,
            last_sum_e=sum_e(last_m, first_s[last], last_wait, gap[last]))
        return pts, groups, emissions

    def _intervals(self, c: _Cells, pts: _Points, g: _Groups, n_cap: NDArray[np.int64],
                   first_wave: NDArray[np.int64]) -> _Intervals:
        """Interval boundaries: where the composition of a point's batch has a kink."""
        sp = pts.shape
        n_pts = sp.size
        b_arr = pts.batch
        kinks = [w for w in self.windows if w is not None]
        if self.graph_ctx:
            kinks.append(self.graph_ctx)
        # (prefill work ends at the fluid completion; a request decodes from the end of
        # that step on, for O - 1 steps. A group's first and last first tokens are
        # boundaries of their own only in a group of three or fewer requests, and the last
        # one in a point's last group: elsewhere they fall within a step of the group's
        # start and last completion)
        e_first, e_last = g.e_first, g.e_last
        life = pts.life[g.pt]
        few = g.m <= 3.0
        # (each kept where its point's own timeline runs: from its cut to its end)
        hi, lo = pts.end + 1e-9, pts.cut - 1e-12
        hi_g, lo_g = hi[g.pt], lo[g.pt]
        kept: list[tuple[Array, NDArray[np.int64]]] = []

        def add(v: Array, owner: NDArray[np.int64], top: Array, bottom: Array) -> None:
            ok = (v <= top) & (v >= bottom)
            kept.append((v[ok], owner[ok]))

        for v in (g.start, g.s_last, e_first + life, e_last + life):
            add(v, g.pt, hi_g, lo_g)
        add(e_first[few], g.pt[few], hi_g[few], lo_g[few])
        ends = few | np.append(g.pt[1:] != g.pt[:-1], True)  # (and a point's last group's)
        add(e_last[ends], g.pt[ends], hi_g[ends], lo_g[ends])
        g_i = pts.i_tok[g.pt]
        for k in kinks:
            ok = np.flatnonzero(k > g_i)
            for v in (g.s_first, g.s_last):
                add((v + k - g_i - 0.5)[ok], g.pt[ok], hi_g[ok], lo_g[ok])
        if self.graph_batch > 0:
            # the running batch crosses the largest CUDA graph (a jump in launch overhead)
            gb = float(self.graph_batch)
            cross = np.flatnonzero(b_arr > gb)
            sp_c = sp[cross]
            for v in (c.s_of_count(np.full(cross.size, gb + 0.5), sp_c),
                      c.s_of_count(b_arr[cross] - gb + 0.5, sp_c) + pts.life[cross]):
                add(v, cross, hi[cross], lo[cross])
        if self.preempts:
            # where the running set may outgrow the KV cache, the share that fits varies
            peak = np.minimum(b_arr, np.maximum(n_cap, first_wave)[sp])
            per_seq = self._kv_cost(pts.i_tok + pts.life + 1.0) + self.plan.block_size
            tight = np.flatnonzero(peak * per_seq > self.capacity_tokens)
            frac = np.linspace(0.0, 1.0, SUBDIVISIONS)
            start = np.maximum(pts.cut[tight], 0.0)
            kept.append(((start[:, None] + (pts.end[tight] - start)[:, None] * frac[None, :])
                         .ravel(), np.repeat(tight, SUBDIVISIONS)))
        late = np.flatnonzero(~pts.own)
        every = np.arange(n_pts)
        kept += [(np.maximum(pts.cut, 0.0), every), (pts.end, every)]
        add(pts.last_step_start, every, hi, lo)
        # and the anchor splits at each cut (within its timeline: a smaller burst's cut
        # comes before its own end): the last pieces, followed through the sort
        kept.append((pts.cut[late], pts.anchor[late]))
        vals = np.concatenate([v for v, _ in kept])
        owner = np.concatenate([o for _, o in kept])
        span = float(vals.max(initial=0.0)) + 1.0
        order = np.argsort(vals + owner * span, kind="stable")
        vals, owner = vals[order], owner[order]
        distinct = np.ones(vals.size, bool)
        distinct[1:] = (owner[1:] != owner[:-1]) | (vals[1:] - vals[:-1] > 1e-9)
        place = np.empty(order.size, np.int64)  # where each piece landed, among the distinct
        place[order] = np.cumsum(distinct) - 1
        return _Intervals.between(vals[distinct], owner[distinct],
                                  place[order.size - late.size:])

    def _first_tokens_and_finishes(self, c: _Cells, pts: _Points, em: _Emissions,
                                   iv: _Intervals) -> tuple[Array, Array]:
        """Per interval, the integral over it of the point's requests whose first token
        (and whose last token) is out: the difference of F(x) = sum_j (x - e_j)+ over the
        first-token steps e_j (the same at x - life for finishes) at its ends.

        F is taken at every boundary: the cells whose first tokens are all out by x add
        m x - sum(e) (exact); the one cell part-way out (cells complete one after another)
        adds those out before x's step, one by one in a cell of three or fewer (exact),
        else as an even progression with the cell's mean wait for a step's end (see
        :func:`_mean_wait`; none below zero)."""
        vals, own_v = iv.at, iv.owner
        cut_cell = em.count - 1  # (a point's last cell may be cut short)

        def out_by(x: Array, pt: NDArray[np.int64]) -> Array:
            """F(x) of points pt at their boundaries x."""
            k0, last = em.first[pt], cut_cell[pt]
            # the cells all out: a whole cell's last first token comes out at the end of
            # the step that completes the cell (step_end(S) <= x), the last cell's at its
            # burst's last one
            whole = np.minimum(c._rank("S", np.floor(x + 1e-9) + STEP_TOL, pts.shape[pt]),
                               last)
            done = (whole == last) & (pts.last_out[pt] <= x + 1e-9)
            k = k0 + whole
            out = np.asarray((em.sum_m[k] - em.sum_m[k0]) * x - (em.sum_e[k] - em.sum_e[k0])
                             + np.where(done, em.last_m[pt] * x - em.last_sum_e[pt], 0.0),
                             dtype=float)
            # the cell part-way out
            part = np.flatnonzero(~done & (em.e_first[k] < x - 1e-9))
            if part.size:
                c_o, xo, p_o = k[part], x[part], pt[part]
                cut = whole[part] == last[part]
                m = np.where(cut, em.last_m[p_o], em.m[c_o])
                sf, step = em.s_first[c_o], em.step[c_o]
                each = sum(np.where(j < m, np.maximum(xo - _step_end(sf + j * step), 0.0), 0.0)
                           for j in range(3))
                y = np.ceil(xo - 1e-9) - 1.0 + STEP_TOL  # completed by the step before x's
                n = np.clip(np.floor((y - sf) / np.maximum(step, 1e-12)) + 1.0, 0.0, m)
                w = np.where(cut, em.last_wait[p_o], em.wait[c_o])
                even = np.maximum(n * (xo - sf - w) - step * n * (n - 1.0) / 2.0, 0.0)
                out[part] += np.where(m <= 3.0, each, even)
            return out

        none_before = em.e_first[em.first[own_v]] + 1e-9  # (a point's first first token)

        def out_at(x: Array) -> Array:
            """F(x) at every boundary: none out before a point's first first token."""
            out = np.zeros(x.size)
            on = np.flatnonzero(x > none_before)
            out[on] = out_by(x[on], own_v[on])
            return out

        f_first = out_at(vals)
        f_done = out_at(vals - pts.life[own_v])
        same = iv.same
        return (f_first[1:] - f_first[:-1])[same], (f_done[1:] - f_done[:-1])[same]

    def _loads(self, c: _Cells, shapes: NDArray[np.int64], pts: _Points, iv: _Intervals
               ) -> tuple[StepLoad, Array, NDArray[np.bool_]]:
        """The batch at each interval's midpoint: its step load, the share of it the KV
        cache holds, and whether it prefills."""
        seg_pt, mid = iv.point, iv.mid
        seg_shape = pts.shape[seg_pt]
        b_seg = pts.batch[seg_pt]
        i_seg = pts.i_tok[seg_pt]
        life_seg = pts.life[seg_pt]
        k_b = pts.last_cell[seg_pt]  # the cell holding the point's last request

        # where the point's last prompt is done (its drain: every request has started, no
        # prefill) and where no request can have finished yet, the searches are skipped
        drain = mid > pts.drain_from[seg_pt]
        first_s = c.none_before()[seg_shape]

        def started_by(t: Array, rows: NDArray[np.int64] | slice = slice(None)
                       ) -> tuple[Array, NDArray[np.int64], NDArray[np.int64]]:
            """Requests of the point completed by t (intervals ``rows``), the cell that
            count falls in, and the cells completed by t."""
            count, k, done, _ = c.locate(t, seg_shape[rows])
            over = count > b_seg[rows]
            return np.where(over, b_seg[rows], count), np.where(over, k_b[rows], k), done

        def counted(t: Array, rows: NDArray[np.bool_]) -> tuple[Array, NDArray[np.int64]]:
            """:func:`started_by` where ``rows``; none (the first cell) elsewhere."""
            n_out, k_out = np.zeros(t.size), c.starts[seg_shape]
            if rows.any():
                idx = np.flatnonzero(rows)
                n_out[idx], k_out[idx], _ = started_by(t[idx], idx)
            return n_out, k_out

        # decoders: the requests whose first token came out before this step, less those
        # whose last one did (steps are whole: this one ends at ceil(mid))
        before = np.ceil(mid - 1e-9) - 1.0 + STEP_TOL
        filling = np.flatnonzero(~drain)
        n_started, k_st = b_seg.copy(), k_b.copy()
        n_started[filling], k_st[filling], done_before = started_by(before[filling], filling)
        may_finish = before - life_seg >= first_s
        n_finished, k_fi = counted(before - life_seg, may_finish)
        alive = np.maximum(n_started - n_finished, 0.0)
        base = i_seg + mid + 0.5  # context of a decoder that completed prefill at s: base - s
        sum_st = c.sum_s_in(n_started, k_st)
        sum_fi = c.sum_s_in(n_finished, k_fi)
        rows = []
        for w in self.windows:
            if w is None:
                rows.append(alive * base - (sum_st - sum_fi))
                continue
            # decoders whose context has reached w
            n_w, k_w = counted(base - w, (base - w >= first_s) & (alive > 0))
            low, high = n_w < n_finished, n_w > n_started
            n_w = np.where(low, n_finished, np.where(high, n_started, n_w))
            k_w = np.where(low, k_fi, np.where(high, k_st, k_w))
            rows.append((n_w - n_finished) * float(w) + (n_started - n_w) * base
                        - (sum_st - c.sum_s_in(n_w, k_w)))
        # (no decoders: no keys, whatever the rounding of the sums of completion steps)
        dec_keys = np.where(alive > 0, np.maximum(np.stack(rows), 0.0), 0.0)
        rate, in_flight = np.zeros(mid.size), np.zeros(mid.size)
        if filling.size:
            f_pt = seg_pt[filling]
            start, end, rate_last, fly_last = pts.final_step
            rate[filling], in_flight[filling] = c.prefill_at(
                mid[filling], seg_shape[filling], pts.n_cells[f_pt], pts.last_s[f_pt],
                pts.last_m[f_pt], c.done_and_started(
                    mid[filling], seg_shape[filling],
                    np.where(before[filling] <= mid[filling], done_before, -1)),
                (start[f_pt], end[f_pt], rate_last[f_pt], fly_last[f_pt]))
        active = in_flight > 1e-9
        i_shape = shapes[:, 0].astype(float)
        pairs = rate * np.stack([causal_pairs(i_shape, w) for w in self.windows])[:, seg_shape]
        pre_keys = rate * self._chunk_keys(shapes[:, 0])[:, seg_shape]
        # the oldest decoder's context (a CUDA graph covers contexts up to graph_ctx; a
        # shape whose requests never grow past it needs no search)
        oldest = np.zeros(mid.size)
        if self.graph_ctx:
            long = np.flatnonzero((alive > 0) & (i_seg + life_seg + 2.0 > self.graph_ctx))
            oldest[long] = base[long] - c.s_after(n_finished[long], k_fi[long],
                                                  seg_shape[long])
        if self.preempts:
            held = np.sum(self.window_shares[:, None] * dec_keys, axis=0) \
                + in_flight * self._kv_cost(i_shape)[seg_shape] \
                + (alive + in_flight) * self.plan.block_size / 2
            fit = np.clip(self.capacity_tokens / np.maximum(held, 1.0), 1e-3, 1.0)
        else:
            fit = np.ones_like(alive)
        every = bool(np.all(fit >= 1.0))  # (every sequence fits: nothing to scale)

        def fitting(x: Array) -> Array:
            return x if every else np.asarray(x * fit, dtype=float)

        running = fitting(alive)
        seqs = fitting(alive + in_flight)
        load = StepLoad(tokens=fitting(alive + rate * i_seg), seqs=seqs, decode_seqs=running,
                        logits=fitting(alive + rate), decode_keys=fitting(dec_keys),
                        prefill_pairs=fitting(pairs), prefill_keys=fitting(pre_keys),
                        eager=self._eager(seqs, oldest, active))
        return load, fit, active | (rate > 0.0)

    def _sums(self, pts: _Points, iv: _Intervals, parts: Array, n_cap: NDArray[np.int64],
              shapes: NDArray[np.int64]) -> BurstGrid:
        """The points' totals: ``parts`` (per interval, see _grid_mixed) summed over each
        point's own intervals, plus,
        for a point that is not its shape's anchor, the anchor's before its cut (one of the
        anchor's boundaries). Summed over a point's B requests, clock(e_j) = B x elapsed -
        the first-token integral; the same for finishes, and sum_j 1 / e2e_j = B / elapsed
        + the integral of (requests finished) d(-1 / clock)."""
        seg_pt, a = iv.point, iv.a
        n_pts = pts.batch.size
        counts = np.bincount(seg_pt, minlength=n_pts)
        first_seg = _offsets(counts)
        late = np.flatnonzero(~pts.own)
        f_a, k_cut = first_seg[pts.anchor[late]], iv.cut_at
        # (one pass over the intervals, split at every point's start and every cut)
        split = np.sort(np.concatenate([first_seg, k_cut[k_cut < a.size]]))
        split = split[np.append(True, split[1:] != split[:-1])]
        own_end = np.searchsorted(split, first_seg + counts)
        own_start = np.searchsorted(split, first_seg)
        cut_at, cut_from = np.searchsorted(split, k_cut), np.searchsorted(split, f_a)

        def summed(x: Array) -> tuple[Array, Array]:
            """Rows x of every interval summed over each point's own intervals and its
            anchor's before its cut (zero for an anchor), and the latter alone."""
            cum = np.concatenate([np.zeros((x.shape[0], 1)),
                                  np.cumsum(np.add.reduceat(x, split, axis=1), axis=1)], axis=1)
            pre = np.zeros((x.shape[0], n_pts))
            pre[:, late] = cum[:, cut_at] - cum[:, cut_from]
            return cum[:, own_end] - cum[:, own_start] + pre, pre

        totals, at_cut = summed(parts)
        # the clock at each interval's start and end, for the finishes' d(-1 / clock)
        seconds, d_done = parts[6], parts[8]
        t_a = np.cumsum(seconds) - seconds
        t_a = t_a - (t_a[first_seg] - at_cut[6])[seg_pt]
        inv_e2e = summed(np.where(d_done > 0.0, d_done / np.maximum(
            t_a * (t_a + seconds), 1e-300), 0.0)[None, :])[0][0]
        b_f = pts.batch
        o_pt = pts.life + 1.0
        elapsed = totals[6]
        ttft = elapsed - totals[7] / b_f
        e2e = np.where(o_pt > 1, elapsed - totals[8] / b_f, ttft)  # (one token: its first)
        tpot = np.where(o_pt > 1, (e2e - ttft) / np.maximum(o_pt - 1.0, 1.0), 0.0)
        req_tps = o_pt * (1.0 / np.maximum(elapsed, 1e-30) + inv_e2e / b_f)
        b_arr = np.asarray(b_f, dtype=np.int64)
        n_used = np.minimum(n_cap, b_arr)
        return BurstGrid(
            batch_size=b_arr, input_tokens=shapes[pts.shape, 0],
            output_tokens=shapes[pts.shape, 1], elapsed_s=elapsed, ttft_s=ttft, tpot_s=tpot,
            e2e_s=e2e, request_tokens_per_s=req_tps, concurrency=n_used,
            waves=-(-b_arr // n_used), steps=totals[5],
            compute_s=totals[0], memory_s=totals[1], communication_s=totals[2],
            overhead_s=totals[3], prefill_s=totals[4], decode_s=totals[6] - totals[4])

    def _group_starts(self, c: _Cells) -> NDArray[np.bool_]:
        """Where a group starts, over each shape's cells (the same for every point of the
        shape: a point's cells are the first ones of its shape).

        A group is a run of up to STRIDE consecutive cells of one wave whose prompts are
        prefilled back to back at a steady rate. Between its boundaries the decoders, the
        keys they read and the prefill work all change smoothly, so the midpoint of each
        interval integrates the step time. Cells
        stay apart where the batch does not change smoothly:
        - a new wave, the prompts of the first step, a cell whose prefill starts after an
          idle gap, or a jump in the prefill rate (whole prompts per step change);
        - cells of fewer than MERGE_MIN requests (the batch changes by whole sequences);
        - cells whose prefill spans more than 1 / STRIDE of a request's decode (the
          decoders alive then change faster than an interval's midpoint can sample).
        """
        span = np.maximum(c.S - c.T, 1e-12)
        rate = c.m / span
        start = np.ones(c.x.size, bool)
        start[1:] = (c.owner[1:] != c.owner[:-1]) | (c.wave[1:] != c.wave[:-1]) \
            | (c.lead[1:] != c.lead[:-1]) | (c.clamped[1:] != c.clamped[:-1]) \
            | (c.T[1:] > c.S[:-1] + 1e-9) | (np.abs(rate[1:] - rate[:-1]) > 0.02 * rate[1:])
        alone = (c.m < MERGE_MIN) | (span * STRIDE > c.life[c.owner])
        start |= alone | np.concatenate([[False], alone[:-1]])
        idx = np.arange(c.x.size)
        head = np.maximum.accumulate(np.where(start, idx, 0))  # where this run began
        return np.asarray(start | ((idx - head) % STRIDE == 0), dtype=bool)

    def _kv_cost(self, tokens: Array) -> Array:
        return np.asarray(self.plan.kv_token_cost(tokens), dtype=float)

    def _chunk_keys(self, i_tok: NDArray[np.int64]) -> Array:
        """Cached keys the chunks of one prompt of each length read in total, per window
        (windows x prompts)."""
        i = np.asarray(i_tok, dtype=float)
        c = np.minimum(self.budget, i) if self.chunked else i
        return np.stack([chunk_keys(i, c, w) for w in self.windows])

    def _eager(self, seqs: Array, max_ctx: Array, has_prefill: NDArray[np.bool_]) -> Array:
        return np.asarray(self.d.engine.scheduler.runs_eager(seqs, max_ctx, has_prefill),
                          dtype=float)

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
        prompt_keys = self._chunk_keys(shapes[:, 0])
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
        pre_keys = np.where(is_pre, rt * prompt_keys[:, shape_seg], 0.0)
        seqs = np.where(is_pre, rt, sz)
        eager = self._eager(seqs, np.where(is_pre, 0.0, ic + lf), is_pre)
        load = StepLoad(tokens=np.where(is_pre, rt * ic, sz), seqs=seqs,
                        decode_seqs=np.where(is_pre, 0.0, sz), logits=seqs,
                        decode_keys=dec_keys, prefill_pairs=pairs, prefill_keys=pre_keys,
                        eager=eager)
        keep = length > 0
        bd = self.cost.step_time(load)
        dec_only = self.cost.step_time(without_prefill(load)).total
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
            return np.bincount(seg_owner, np.where(keep, length * x, 0.0), n_pts).astype(float)

        return BurstGrid(
            batch_size=b_arr, input_tokens=shapes[sp, 0], output_tokens=shapes[sp, 1],
            elapsed_s=elapsed, ttft_s=np.bincount(r_owner, t_first, n_pts) / cnt,
            tpot_s=np.where(o_pt > 1, np.bincount(
                r_owner, (t_finish - t_first) / np.maximum(o_req - 1, 1), n_pts) / cnt, 0.0),
            e2e_s=np.bincount(r_owner, t_finish, n_pts) / cnt,
            request_tokens_per_s=np.bincount(r_owner, o_req / t_finish, n_pts) / cnt,
            concurrency=n, waves=waves,
            steps=np.bincount(seg_owner, length, n_pts).astype(float),
            compute_s=total(bd.compute), memory_s=total(bd.memory),
            communication_s=total(bd.communication), overhead_s=total(bd.overhead),
            prefill_s=total(bd.total - dec_only), decode_s=total(dec_only))
