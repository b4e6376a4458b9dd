"""Planning: search deployments for a workload, the throughput-interactivity frontier,
the cheapest configuration within SLOs, open-loop goodput and what-if comparisons."""

from tokenomist.plan.frontier import pareto_front
from tokenomist.plan.search import (
    CONCURRENCY,
    DEFAULT_HARDWARE,
    Candidate,
    Config,
    PlanResult,
    enumerate_candidates,
    evaluate,
    frontier_of,
    plan,
)
from tokenomist.plan.workload import SLO, Workload

__all__ = [
    "CONCURRENCY",
    "DEFAULT_HARDWARE",
    "SLO",
    "Candidate",
    "Config",
    "PlanResult",
    "Workload",
    "enumerate_candidates",
    "evaluate",
    "frontier_of",
    "pareto_front",
    "plan",
]
