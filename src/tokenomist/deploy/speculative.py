"""Speculative decoding: a cheap drafter proposes k tokens, the target verifies them at once.

Each decode step of a sequence then (1) runs the drafter k times (a small draft model, or
the model's own multi-token-prediction layers), (2) runs the target over k + 1 positions
(the last accepted token and the k proposals) - one forward pass that reads the weights
once, so in the memory-bound regime it costs little more than a plain decode step - and
(3) keeps the accepted prefix plus one token from the target. With a per-token acceptance
rate a (each proposal accepted with probability a given that the previous ones were), a
step yields on average

    E = 1 + a + a^2 + ... + a^k = (1 - a^(k+1)) / (1 - a)      (E = k + 1 when a = 1)

tokens per sequence (Leviathan et al., 2023). With a = 0 a step yields one token at a
higher cost than plain decoding: speculation never helps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tokenomist.arch.spec import ModelArch
from tokenomist.errors import InvalidValueError


@dataclass(frozen=True)
class Speculation:
    method: Literal["draft", "mtp"]
    num_tokens: int  # k: proposals per step
    acceptance: float  # per-token acceptance rate, 0..1
    draft_model: ModelArch | None = None  # method "draft"
    mtp_layers: int = 1  # method "mtp": layers of the MTP module run per proposal

    def __post_init__(self) -> None:
        if self.method not in ("draft", "mtp"):
            raise InvalidValueError(f"speculative method must be draft or mtp, got "
                                    f"{self.method!r}")
        if not isinstance(self.num_tokens, int) or self.num_tokens < 1:
            raise InvalidValueError("speculative tokens per step must be a positive integer")
        if not 0.0 <= self.acceptance <= 1.0:
            raise InvalidValueError(f"acceptance rate must be in [0, 1], got {self.acceptance}")
        if self.method == "draft" and self.draft_model is None:
            raise InvalidValueError("speculative method 'draft' needs a draft model")
        if self.mtp_layers < 1:
            raise InvalidValueError("mtp_layers must be at least 1")

    @property
    def tokens_per_step(self) -> float:
        """Expected tokens a sequence gains per decode step."""
        a, k = self.acceptance, self.num_tokens
        if a >= 1.0:
            return float(k + 1)
        return (1.0 - a ** (k + 1)) / (1.0 - a)

    @property
    def verify_width(self) -> int:
        """Positions the target processes per decoding sequence and step."""
        return self.num_tokens + 1

