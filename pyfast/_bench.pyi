# Types of pyfast._bench (Cython): the C load generator and reference
# servers of python -m pyfast.bench.  See pyfast/_bench.pyx.
import socket
from typing import Any

MODES: dict[str, int]
CLOSERS: dict[str, int]
REF_MODES: dict[str, int]

def run_loadgen(address: tuple[str, int] | str, mode: str = "echo", *, conns: int = 50,
                depth: int = 1, active: int = 0, stalled: int = 0, size: int = 1024,
                warmup: float = 1.0, duration: float = 5.0,
                connect_timeout: float = 2.0, udp_timeout: float = 0.2,
                backoff: float = 0.05, connect_burst: int = 256,
                closer: str = "client", http_path: str = "/",
                http_host: str | None = None, mark_fd: int = -1,
                stop_fd: int = -1, prefix: bytes = b"") -> dict[str, Any]: ...
def serve_echo_tcp(fd: socket.socket | int, stop_fd: int = -1,
                   mode: str = "echo") -> dict[str, int]: ...
def serve_echo_udp(fd: socket.socket | int, stop_fd: int = -1) -> dict[str, int]: ...
