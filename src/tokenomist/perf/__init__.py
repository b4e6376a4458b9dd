"""Performance model: one per-step cost model, a closed-form burst estimator, a simulator."""

from tokenomist.perf.simulator import Requests, SimulationResult, Simulator, simulate
from tokenomist.perf.step_cost import CostModel, StepBreakdown, StepLoad, decode_load

__all__ = [
    "CostModel",
    "Requests",
    "SimulationResult",
    "Simulator",
    "StepBreakdown",
    "StepLoad",
    "decode_load",
    "simulate",
]
