"""Deployment: parallel layout, precision, engine profile, and the memory plan."""

from tokenomist.deploy.deployment import Deployment, MemoryPlan, plan_memory
from tokenomist.deploy.engine import (
    EfficiencyPriors,
    EngineProfile,
    SchedulerLimits,
    builtin_engines,
    engine_ids,
    load_engine_file,
    resolve_engine,
)

__all__ = [
    "Deployment",
    "EfficiencyPriors",
    "EngineProfile",
    "MemoryPlan",
    "SchedulerLimits",
    "builtin_engines",
    "engine_ids",
    "load_engine_file",
    "plan_memory",
    "resolve_engine",
]
