"""Energy per token: from a run's time breakdown, the GPUs' power, PUE and electricity price.

Power while serving is not a constant: kernels that saturate the tensor cores draw close to
the board power (TDP), memory-bound kernels less, collectives and host-side gaps less still.
Unless the user gives a measured wattage, each second of the performance model's
breakdown is charged at a fraction of TDP (``POWER_FRACTION``). These are priors: ML.ENERGY
and MLPerf Power report LLM inference at roughly 60-90% of TDP on H100/B200 (GPU-only),
with decode-heavy runs at the low end; calibrate them with a measured wattage.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenomist.bench.results_io import ResultPoint
from tokenomist.errors import InvalidValueError

POWER_FRACTION = {"compute": 1.0, "memory": 0.75, "communication": 0.55, "overhead": 0.4}
DEFAULT_FRACTION = 0.8  # when neither a measured wattage nor a breakdown is known
IDLE_FRACTION = 0.15  # an idle, allocated GPU


@dataclass(frozen=True)
class EnergyReport:
    it_joules: float  # accelerators only
    facility_joules: float  # x PUE
    avg_power_w: float  # accelerators, per replica
    joules_per_output_token: float
    joules_per_token: float  # input + output
    output_tokens_per_joule: float
    electricity_usd: float
    electricity_usd_per_million_output: float
    tokens_per_s_per_usd_per_w: float  # output tok/s per ($/h of GPUs) per W
    power_model: str


def run_energy(p: ResultPoint, *, num_gpus: int, tdp_w: float | None = None,
               watts_per_gpu: float | None = None, pue: float = 1.2, usd_per_kwh: float = 0.10,
               usd_per_gpu_hour: float | None = None) -> EnergyReport:
    if not isinstance(num_gpus, int) or num_gpus < 1:
        raise InvalidValueError(f"--num-gpus must be a positive integer, got {num_gpus!r}")
    if pue < 1.0:
        raise InvalidValueError(f"PUE must be at least 1.0, got {pue}")
    if usd_per_kwh < 0:
        raise InvalidValueError(f"electricity price must not be negative, got {usd_per_kwh}")
    if watts_per_gpu is not None:
        if not watts_per_gpu > 0:
            raise InvalidValueError(f"--watts must be positive, got {watts_per_gpu}")
        it = watts_per_gpu * num_gpus * p.elapsed_s
        model = f"measured/given {watts_per_gpu:g} W per accelerator"
    elif tdp_w is not None and tdp_w > 0:
        if p.breakdown_s:
            busy = sum(p.breakdown_s.values())
            it = sum(POWER_FRACTION.get(k, DEFAULT_FRACTION) * v for k, v in
                     p.breakdown_s.items()) * tdp_w * num_gpus
            it += max(p.elapsed_s - busy, 0.0) * IDLE_FRACTION * tdp_w * num_gpus
            model = (f"TDP {tdp_w:g} W x fraction by bottleneck (compute 1.0, memory 0.75, "
                     "communication 0.55, overhead 0.4)")
        else:
            it = DEFAULT_FRACTION * tdp_w * num_gpus * p.elapsed_s
            model = f"{DEFAULT_FRACTION:.0%} of TDP {tdp_w:g} W (no breakdown known)"
    else:
        raise InvalidValueError("give --watts (measured power per accelerator): the hardware "
                                "has no TDP in the catalog")
    facility = it * pue
    out_tokens = p.batch_size * p.output_tokens
    all_tokens = p.batch_size * (p.input_tokens + p.output_tokens)
    kwh = facility / 3.6e6
    usd = kwh * usd_per_kwh
    avg_w = it / p.elapsed_s
    tps = out_tokens / p.elapsed_s
    per_usd_w = (tps / (usd_per_gpu_hour * num_gpus) / avg_w) if usd_per_gpu_hour else 0.0
    return EnergyReport(
        it_joules=it, facility_joules=facility, avg_power_w=avg_w,
        joules_per_output_token=facility / out_tokens, joules_per_token=facility / all_tokens,
        output_tokens_per_joule=out_tokens / facility, electricity_usd=usd,
        electricity_usd_per_million_output=usd / out_tokens * 1e6,
        tokens_per_s_per_usd_per_w=per_usd_w, power_model=model)
