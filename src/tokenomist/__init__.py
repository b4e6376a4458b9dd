"""tokenomist: what does a token cost, and why?

The typed API: :func:`estimate` (bursts through the closed-form estimator or the step
simulator), :func:`load_deployment`, :func:`resolve_model`, :func:`resolve_hardware`,
:func:`resolve_engine`, and the accounting functions of :mod:`tokenomist.arch`.
"""

from tokenomist.api import ARTICLE_BATCH_SIZES, estimate, estimate_deployment, load_deployment
from tokenomist.arch import param_breakdown, resolve_model
from tokenomist.deploy import Deployment, resolve_engine
from tokenomist.errors import (
    ConfigError,
    DoesNotFitError,
    InvalidValueError,
    TokenomistError,
    UnknownNameError,
)
from tokenomist.hardware import resolve_hardware
from tokenomist.perf.results import EstimatePoint, EstimateResult

__version__ = "0.1.0"

__all__ = [
    "ARTICLE_BATCH_SIZES",
    "ConfigError",
    "Deployment",
    "DoesNotFitError",
    "EstimatePoint",
    "EstimateResult",
    "InvalidValueError",
    "TokenomistError",
    "UnknownNameError",
    "__version__",
    "estimate",
    "estimate_deployment",
    "load_deployment",
    "param_breakdown",
    "resolve_engine",
    "resolve_hardware",
    "resolve_model",
]
