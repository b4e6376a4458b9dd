"""HTTP side of the benchmark: one streaming (or non-streaming) OpenAI-compatible request.

Every request is checked: an HTTP error, a timeout, a dropped connection, an error event in
the stream, or a stream that ends without a finish reason is a failure with its reason,
never a success. Tokens per content chunk come from the chunk's log-probabilities when the
server sends them, else from the final usage (one token per chunk when the counts agree,
otherwise spread over chunks by text length), so a chunk of several tokens is not taken
for one slow token.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tokenomist.bench.requests_log import RequestRecord


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # e.g. http://127.0.0.1:8080/v1
    model: str
    kind: str = "chat"  # "chat" or "completions"
    api_key: str | None = None
    stream: bool = True
    extra_body: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        path = "/chat/completions" if self.kind == "chat" else "/completions"
        return self.base_url.rstrip("/") + path

    @property
    def root(self) -> str:
        """The server root (the base URL without a trailing /v1)."""
        base = self.base_url.rstrip("/")
        return base[:-3] if base.endswith("/v1") else base

    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def body(self, prompt: str, max_tokens: int) -> dict[str, Any]:
        b: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "temperature": 0.0,
                             "stream": self.stream}
        if self.kind == "chat":
            b["messages"] = [{"role": "user", "content": prompt}]
        else:
            b["prompt"] = prompt
        if self.stream:
            b["stream_options"] = {"include_usage": True}
        b.update(self.extra_body)
        return b


def _object(x: Any, what: str) -> dict[str, Any]:
    """``x`` if it is a JSON object; a reply of another shape is malformed (ValueError)."""
    if not isinstance(x, dict):
        raise ValueError(f"{what} is not a JSON object: {json.dumps(x)[:80]}")
    return x


def _first_choice(obj: dict[str, Any]) -> dict[str, Any]:
    """The first of a reply's choices (empty if it has none)."""
    choices = obj.get("choices") or []
    if not isinstance(choices, list):
        raise ValueError("choices is not a list")
    return _object(choices[0], "a choice") if choices else {}


def _content(obj: dict[str, Any], key: str) -> str:
    """A text field of a reply: a string, or absent / null for none."""
    text = obj.get(key)
    if text is not None and not isinstance(text, str):
        raise ValueError(f"{key} is not a string")
    return text or ""


def _chunk_text(obj: dict[str, Any], kind: str) -> tuple[str, int | None, str | None]:
    """(text, tokens if the chunk says, finish reason) of one streamed chunk."""
    ch = _first_choice(obj)
    if not ch:
        return "", None, None
    text = _content(_object(ch.get("delta") or {}, "delta"), "content") if kind == "chat" \
        else _content(ch, "text")
    n: int | None = None
    lp = ch.get("logprobs")
    if isinstance(lp, dict):
        if isinstance(lp.get("content"), list):
            n = len(lp["content"])
        elif isinstance(lp.get("tokens"), list):
            n = len(lp["tokens"])
    return text, n, ch.get("finish_reason")


def _settle_tokens(rec: RequestRecord, texts: list[str], counted: bool) -> None:
    """Give every content chunk its number of tokens."""
    if counted or not rec.chunk_times:
        return
    total = rec.completion_tokens
    n = len(rec.chunk_times)
    if total is None or total == n:
        rec.chunk_tokens = [1] * n
        return
    # spread the reported total over the chunks by text length (at least one each)
    lengths = [max(len(t), 1) for t in texts]
    share = [total * x / sum(lengths) for x in lengths]
    tokens = [max(int(s), 1) for s in share]
    rest = total - sum(tokens)
    order = sorted(range(n), key=lambda k: share[k] - int(share[k]), reverse=True)
    k = 0
    while rest > 0 and n:
        tokens[order[k % n]] += 1
        rest -= 1
        k += 1
    rec.chunk_tokens = tokens


async def send(client: httpx.AsyncClient, ep: Endpoint, prompt: str, rec: RequestRecord,
               clock0: float, timeout: float) -> RequestRecord:
    """Send one request and fill ``rec``; times are relative to ``clock0`` (monotonic)."""
    body = ep.body(prompt, rec.requested_output_tokens)
    rec.start = time.monotonic() - clock0
    try:
        if ep.stream:
            await _stream(client, ep, body, rec, clock0, timeout)
        else:
            resp = await client.post(ep.url, json=body, headers=ep.headers(), timeout=timeout)
            rec.end = time.monotonic() - clock0
            if resp.status_code != 200:
                rec.error = f"http {resp.status_code}: {resp.text[:200]}"
                return rec
            data = _object(resp.json(), "the response")
            # a whole response: the text of a completion, or the message of a chat
            ch = _first_choice(data)
            text = _content(ch, "text") \
                or _content(_object(ch.get("message") or {}, "message"), "content")
            rec.finish_reason = ch.get("finish_reason")
            _usage(rec, data)
            _verdict(rec, bool(text) or (rec.completion_tokens or 0) > 0,
                     "response has no finish_reason")
    except httpx.TimeoutException:
        rec.error = "timeout"
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError,
            httpx.ConnectError) as exc:
        rec.error = f"disconnected: {type(exc).__name__}"
    except httpx.HTTPError as exc:
        rec.error = f"http error: {type(exc).__name__}: {exc}"
    except ValueError as exc:
        # a reply that is not the JSON the API promises (not JSON; a list, null or a
        # string where an object belongs): this request failed, the run goes on
        rec.error = f"malformed response: {type(exc).__name__}: {exc}"
    if rec.end is None:
        rec.end = time.monotonic() - clock0
    return rec


def _usage(rec: RequestRecord, obj: dict[str, Any]) -> None:
    usage = obj.get("usage")
    if isinstance(usage, dict):
        if isinstance(usage.get("prompt_tokens"), int):
            rec.prompt_tokens = usage["prompt_tokens"]
        if isinstance(usage.get("completion_tokens"), int):
            rec.completion_tokens = usage["completion_tokens"]
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
            rec.cached_tokens = details["cached_tokens"]
    timings = obj.get("timings")
    if isinstance(timings, dict):
        rec.server_timings = {k: float(v) for k, v in timings.items()
                              if isinstance(v, (int, float))}
        cache_n = rec.server_timings.get("cache_n")
        if rec.cached_tokens is None and cache_n is not None:
            rec.cached_tokens = int(cache_n)


async def _stream(client: httpx.AsyncClient, ep: Endpoint, body: dict[str, Any],
                  rec: RequestRecord, clock0: float, timeout: float) -> None:
    texts: list[str] = []
    counted = True
    done = False
    async with client.stream("POST", ep.url, json=body, headers=ep.headers(),
                             timeout=timeout) as resp:
        if resp.status_code != 200:
            detail = (await resp.aread()).decode(errors="replace")[:200]
            rec.end = time.monotonic() - clock0
            rec.error = f"http {resp.status_code}: {detail}"
            return
        async for line in resp.aiter_lines():
            now = time.monotonic() - clock0
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                done = True
                break
            obj = _object(json.loads(payload), "a chunk")
            if "error" in obj:
                rec.end = now
                rec.error = f"server error: {json.dumps(obj['error'])[:200]}"
                return
            text, n, reason = _chunk_text(obj, ep.kind)
            if text:
                if rec.first_token is None:
                    rec.first_token = now
                rec.chunk_times.append(now)
                texts.append(text)
                if n is None:
                    counted = False
                rec.chunk_tokens.append(n if n is not None else 1)
            if reason:
                rec.finish_reason = reason
            _usage(rec, obj)
    rec.end = time.monotonic() - clock0
    _settle_tokens(rec, texts, counted)
    _verdict(rec, rec.first_token is not None, "stream ended without a finish reason"
             + ("" if done else " or [DONE]"))


def _verdict(rec: RequestRecord, got_tokens: bool, no_reason: str) -> None:
    """A request succeeded if it finished normally (stop or length) with some tokens,
    streamed or not; otherwise its error says why."""
    if rec.finish_reason is None:
        rec.error = no_reason
    elif rec.finish_reason not in ("stop", "length", "eos"):
        rec.error = f"finish reason {rec.finish_reason!r}"
    elif not got_tokens:
        rec.error = "no tokens received"
    else:
        rec.ok = True
