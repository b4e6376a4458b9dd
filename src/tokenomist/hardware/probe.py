"""Describe this machine's CPU as an accelerator, from measurements taken on the spot.

CPUs have no vendor datasheet figure an engine can be held to (the sustainable memory
bandwidth depends on the channels populated, the matrix rate on the vector units and the
clock under load), so the probe measures what NumPy can get: memory bandwidth as the best
of several multi-threaded reductions over an array much larger than the last-level
cache, and matrix FLOP/s as the best of several float32 GEMMs through NumPy's BLAS. These
play the role of a GPU's peak figures; calibration then fits the engine's achieved
fraction of them, exactly as for a GPU.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tokenomist.hardware.catalog import GIB, Accelerator


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def total_memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 16.0


def measure_bandwidth(bytes_total: int = 1 << 29, threads: int | None = None,
                      repeats: int = 5) -> float:
    """Bytes per second read by ``threads`` threads summing disjoint slices of an array."""
    threads = threads or os.cpu_count() or 1
    n = bytes_total // 8
    data = np.ones(n, dtype=np.float64)
    slices = np.array_split(data, threads)
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(np.sum, slices))  # touch the pages once
        for _ in range(repeats):
            t0 = time.perf_counter()
            list(pool.map(np.sum, slices))
            best = min(best, time.perf_counter() - t0)
    return data.nbytes / best


def measure_matmul_flops(n: int = 2048, repeats: int = 5) -> float:
    """float32 GEMM FLOP/s through NumPy's BLAS (all the threads it is allowed)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm up the BLAS thread pool
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def _measure_in_subprocess(threads: int) -> tuple[float, float]:
    """Bandwidth and FLOP/s measured in a fresh interpreter whose BLAS uses ``threads``
    threads (the thread count of a BLAS is fixed when NumPy is first imported)."""
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        env[var] = str(threads)
    code = ("import json; from tokenomist.hardware.probe import measure_bandwidth as b, "
            f"measure_matmul_flops as f; print(json.dumps([b(threads={threads}), f()]))")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=600, check=True)
    bw, flops = json.loads(r.stdout.strip().splitlines()[-1])
    return float(bw), float(flops)


def probe_cpu(accelerator_id: str = "this-cpu", *, threads: int | None = None) -> Accelerator:
    """An :class:`Accelerator` describing this CPU as ``threads`` threads see it (default:
    all cores), with measured bandwidth and FLOP/s. Give the thread count the engine
    will use (llama-server ``-t``)."""
    threads = threads or os.cpu_count() or 1
    bw, flops = _measure_in_subprocess(threads)
    today = _dt.date.today().isoformat()
    return Accelerator(
        id=accelerator_id, name=f"{cpu_name()} ({threads} threads)", vendor="cpu",
        memory_gb=round(total_memory_gib(), 1), memory_type="DRAM",
        memory_bandwidth_tbps=bw / 1e12,
        peak_tflops={"fp32": flops / 1e12, "bf16": flops / 1e12},
        reserved_memory_gib=1.0,
        notes=f"measured by `tokenomist hardware --probe-cpu` with {threads} thread(s): "
              "bandwidth = best NumPy reduction over 512 MiB, FLOP/s = best float32 "
              "2048^3 GEMM through NumPy's BLAS; bf16 is given the fp32 rate (no bf16 "
              "matrix units assumed)",
        sources=[f"tokenomist hardware probe on {platform.node() or 'this machine'}, {today}"])
