"""Synthetic prompts of an exact number of tokens, different for every request.

No tokenizer is downloaded. Where the server has a tokenize endpoint (llama.cpp and vLLM
``/tokenize``, llama-cpp-python ``/extras/tokenize``) the prompt is measured and adjusted
word by word to the exact count; otherwise the words-to-tokens rate is calibrated from the
``usage.prompt_tokens`` the server reports for two probe prompts. The chat template's own
tokens are measured the same way and subtracted. Each prompt starts with words drawn for
that request alone, so no prefix cache can serve one request's prefill to another.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from tokenomist.bench.client import Endpoint

WORDS = [
    "the", "of", "and", "to", "in", "is", "for", "on", "that", "with", "as", "by", "it", "at",
    "be", "this", "from", "or", "an", "are", "not", "but", "which", "have", "has", "one", "all",
    "were", "we", "they", "when", "their", "there", "been", "more", "can", "will", "would",
    "about", "if", "up", "out", "into", "time", "some", "could", "them", "other", "than",
    "then", "now", "only", "its", "over", "also", "after", "use", "two", "how", "our", "work",
    "first", "well", "way", "even", "new", "want", "because", "any", "these", "give", "day",
    "most", "us", "model", "token", "cost", "price", "speed", "memory", "batch", "cache",
    "prompt", "output", "input", "server", "engine", "serve", "load", "run", "test", "fast",
    "slow", "data", "value", "point",
]


def words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(n)]


@dataclass
class Tokenizer:
    """The server's tokenize endpoint, if it has one."""

    url: str
    style: str  # "llamacpp" (content), "vllm" (model + prompt) or "llama-cpp-python" (input)
    model: str

    async def count(self, client: httpx.AsyncClient, text: str) -> int:
        if self.style == "llamacpp":
            body: dict[str, object] = {"content": text, "add_special": False}
        elif self.style == "vllm":
            body = {"model": self.model, "prompt": text, "add_special_tokens": False}
        else:
            body = {"input": text}
        r = await client.post(self.url, json=body, timeout=30)
        r.raise_for_status()
        data = r.json()
        if isinstance(data.get("count"), int):
            return int(data["count"])
        return len(data["tokens"])

    async def count_prompt(self, client: httpx.AsyncClient, text: str, chat: bool,
                           root: str) -> int | None:
        """Tokens of the whole prompt the server will see (chat template and BOS
        included), where the server can tell; None where it cannot."""
        try:
            if self.style == "llamacpp":
                full = text
                if chat:
                    r = await client.post(root + "/apply-template", json={
                        "messages": [{"role": "user", "content": text}]}, timeout=30)
                    r.raise_for_status()
                    full = r.json()["prompt"]
                r = await client.post(self.url, json={"content": full, "add_special": True},
                                      timeout=30)
                r.raise_for_status()
                return len(r.json()["tokens"])
            if self.style == "vllm":
                body: dict[str, object] = {"model": self.model}
                if chat:
                    body["messages"] = [{"role": "user", "content": text}]
                else:
                    body["prompt"] = text
                r = await client.post(self.url, json=body, timeout=30)
                r.raise_for_status()
                return int(r.json()["count"])
        except (httpx.HTTPError, KeyError, ValueError, TypeError):
            return None
        return None


async def find_tokenizer(client: httpx.AsyncClient, ep: Endpoint) -> Tokenizer | None:
    """Probe the known tokenize endpoints."""
    for path, style in (("/tokenize", "llamacpp"), ("/tokenize", "vllm"),
                        ("/extras/tokenize", "llama-cpp-python")):
        tok = Tokenizer(ep.root + path, style, ep.model)
        try:
            n = await tok.count(client, "hello world")
        except (httpx.HTTPError, KeyError, ValueError, TypeError):
            continue
        if 1 <= n <= 64:  # any sane tokenizer splits "hello world" into a few tokens
            return tok
    return None


class PromptFactory:
    """Makes prompts whose total prompt tokens (template included) hit a target."""

    def __init__(self, tokenizer: Tokenizer | None, template_tokens: int,
                 tokens_per_word: float, seed: int = 0, chat: bool = True,
                 root: str = "") -> None:
        self.tokenizer = tokenizer
        self.template_tokens = template_tokens
        self.tokens_per_word = tokens_per_word
        self.seed = seed
        self.chat = chat
        self.root = root
        self.whole_prompt: bool | None = None  # can the server count the templated prompt?

    async def _count(self, client: httpx.AsyncClient, text: str) -> tuple[int, bool]:
        assert self.tokenizer is not None
        if self.whole_prompt is not False:
            n = await self.tokenizer.count_prompt(client, text, self.chat, self.root)
            self.whole_prompt = n is not None
            if n is not None:
                return n, True
        return await self.tokenizer.count(client, text), False

    async def make(self, client: httpx.AsyncClient, target: int, index: int) -> str:
        rng = random.Random(f"{self.seed}:{index}:{target}")
        content_target = max(target - self.template_tokens, 1)
        n = max(round(content_target / self.tokens_per_word), 1)
        text = " ".join(words(rng, n))
        if self.tokenizer is None:
            return text
        # adjust to the exact count: whole words while far, then single characters
        for _ in range(200):
            have, whole = await self._count(client, text)
            if whole:
                have += content_target - target  # compare like with like
            diff = content_target - have
            if diff == 0:
                return text
            if abs(diff) > 3 * self.tokens_per_word:
                k = max(int(abs(diff) / self.tokens_per_word) - 1, 1)
                if diff > 0:
                    text = text + " " + " ".join(words(rng, k))
                else:
                    parts = text.split(" ")
                    text = " ".join(parts[:-k]) if len(parts) > k else parts[0]
            elif diff > 0:
                text = text + (" " if rng.random() < 0.5 else "") + rng.choice("abcdefghij")
            else:
                text = text[:-1] if len(text) > 1 else text
        return text
