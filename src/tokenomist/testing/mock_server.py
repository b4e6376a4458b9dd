"""A deterministic OpenAI-compatible streaming server for tests.

It serves ``/v1/chat/completions`` and ``/v1/completions`` (streaming or not) and
``/tokenize``. Its behaviour is set by a :class:`MockConfig`: time to first token, gap
between chunks, tokens per chunk, a number of slots (requests beyond them wait), HTTP
errors, streams cut mid-way, streams that end without a finish reason. One word of the
prompt is one token; the chat template adds ``template_tokens``. It runs on a thread of
its own so that a client under test owns the main event loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass
class MockConfig:
    ttft_s: float = 0.02
    gap_s: float = 0.005  # between chunks
    tokens_per_chunk: int = 1
    slots: int = 1000
    template_tokens: int = 3
    fail_every: int = 0  # every n-th request gets HTTP 500
    cut_every: int = 0  # every n-th request: connection dropped mid-stream
    no_finish_every: int = 0  # every n-th request: stream ends with [DONE] but no finish
    honour_ignore_eos: bool = True
    natural_length: int = 5  # tokens generated before EOS unless ignore_eos
    send_usage: bool = True
    send_timings: bool = True


class MockServer:
    def __init__(self, config: MockConfig | None = None) -> None:
        self.config = config or MockConfig()
        self.count = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._slots: asyncio.Semaphore | None = None
        self.sent_gaps: list[float] = []  # server-side gaps between chunks

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> MockServer:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._startup())
        self._ready.set()
        self._loop.run_forever()

    async def _startup(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/tokenize", self._tokenize)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/stats", self._stats)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._slots = asyncio.Semaphore(self.config.slots)

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop

        async def shutdown() -> None:
            if self._runner:
                await self._runner.cleanup()
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        if self._thread:
            self._thread.join(5)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ handlers
    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "mock"}]})

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=f"mock_requests_total {self.count}\n")

    async def _stats(self, request: web.Request) -> web.Response:
        gaps = self.sent_gaps
        body = {"requests": self.count, "chunks": len(gaps),
                "mean_gap_s": sum(gaps) / len(gaps) if gaps else None}
        if request.query.get("reset"):
            self.sent_gaps = []
        return web.json_response(body)

    async def _tokenize(self, request: web.Request) -> web.Response:
        body = await request.json()
        text = body.get("content") or body.get("prompt") or ""
        return web.json_response({"tokens": list(range(len(text.split())))})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        cfg = self.config
        self.count += 1
        n = self.count
        body: dict[str, Any] = await request.json()
        if cfg.fail_every and n % cfg.fail_every == 0:
            return web.json_response({"error": {"message": "mock failure"}}, status=500)
        chat = request.path.endswith("chat/completions")
        text = body["messages"][-1]["content"] if chat else body["prompt"]
        prompt_tokens = len(text.split()) + (cfg.template_tokens if chat else 0)
        wanted = int(body.get("max_tokens") or 16)
        if not (cfg.honour_ignore_eos and body.get("ignore_eos")):
            wanted = min(wanted, cfg.natural_length)
        assert self._slots is not None
        async with self._slots:
            t0 = time.perf_counter()
            await asyncio.sleep(cfg.ttft_s)
            if not body.get("stream"):
                await asyncio.sleep(cfg.gap_s * max(wanted - 1, 0) / cfg.tokens_per_chunk)
                msg = " ".join("tok" for _ in range(wanted))
                choice: dict[str, Any] = {"index": 0, "finish_reason": "length"}
                if chat:
                    choice["message"] = {"role": "assistant", "content": msg}
                else:
                    choice["text"] = msg
                return web.json_response({"choices": [choice], "usage": {
                    "prompt_tokens": prompt_tokens, "completion_tokens": wanted}})
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            sent = 0
            last = time.perf_counter()
            while sent < wanted:
                k = min(cfg.tokens_per_chunk, wanted - sent)
                piece = " tok" * k
                delta = {"content": piece} if chat else None
                choice = {"index": 0, "finish_reason": None}
                if chat:
                    choice["delta"] = delta
                else:
                    choice["text"] = piece
                if sent + k >= wanted and not (cfg.no_finish_every
                                               and n % cfg.no_finish_every == 0):
                    choice["finish_reason"] = "length" if body.get("ignore_eos") or \
                        wanted == body.get("max_tokens") else "stop"
                await resp.write(f"data: {json.dumps({'choices': [choice]})}\n\n".encode())
                now = time.perf_counter()
                if sent:
                    self.sent_gaps.append((now - last) / k)
                last = now
                sent += k
                if cfg.cut_every and n % cfg.cut_every == 0 and sent >= wanted // 2:
                    if request.transport is not None:
                        request.transport.close()  # drop the connection mid-stream
                    return resp
                if sent < wanted:
                    await asyncio.sleep(cfg.gap_s)
            final: dict[str, Any] = {"choices": []}
            if cfg.send_usage:
                final["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": sent}
            if cfg.send_timings:
                elapsed = (time.perf_counter() - t0) * 1e3
                final["timings"] = {"prompt_ms": cfg.ttft_s * 1e3,
                                    "predicted_ms": elapsed - cfg.ttft_s * 1e3}
            await resp.write(f"data: {json.dumps(final)}\n\n".encode())
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            return resp


def main() -> None:
    """Run the mock server in the foreground: ``python -m tokenomist.testing.mock_server``."""
    import argparse

    ap = argparse.ArgumentParser(description="deterministic OpenAI-compatible mock server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ttft", type=float, default=0.02)
    ap.add_argument("--gap", type=float, default=0.005)
    ap.add_argument("--tokens-per-chunk", type=int, default=1)
    args = ap.parse_args()
    srv = MockServer(MockConfig(ttft_s=args.ttft, gap_s=args.gap,
                                tokens_per_chunk=args.tokens_per_chunk, send_timings=False))
    srv.start()
    print(srv.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":
    main()
