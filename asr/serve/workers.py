"""Several `asr serve` processes on one port (`--workers N`), so that a server uses every core.

One server process decodes on one worker thread (see asr.serve.engine), which is one core's
worth of work: the chunk-sized LSTM steps are too small to split across torch threads
(BENCHMARKS.md, "asr serve"). N processes, each with its own model and worker thread, serve N
times as many streams. The parent binds the port once (so a taken port is one error line), then
forks the workers before anything has imported torch; each accepts connections on the shared
listening socket, and the kernel hands every new connection to one of them. The parent starts
them one at a time, each after the previous one is ready, so a model that cannot be loaded is
reported once and nothing is left running; it forwards SIGTERM and SIGINT to them and waits.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import BinaryIO

from asr.errors import AsrError

Serve = Callable[[socket.socket, Callable[[], None]], int]  # serve(listening socket, call when ready) -> exit code


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) and listening; AsrError if the address cannot be had."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        return socket.create_server((host, port), family=family, backlog=256)
    except OSError as err:
        raise AsrError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None


def run_workers(count: int, serve: Serve, sock: socket.socket, started: Callable[[], None]) -> int:
    """Run `serve(sock, ready)` in `count` forked processes; 0 once all have stopped cleanly.

    A worker calls `ready()` when it accepts connections; `started()` is called once all are.
    One that exits before it is ready (e.g. its model cannot be loaded: it has printed why) stops
    the start-up, and the ones already running are stopped; the result is then 1."""
    if "torch" in sys.modules:  # forked torch state (thread pools) is not safe to use in a child
        raise RuntimeError("asr serve forks its workers before torch is imported")
    workers: list[int] = []
    stopping = False

    def forward(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        for _ in range(count):
            if stopping:
                break
            pid, ready_pipe = _start_worker(serve, sock)
            workers.append(pid)
            if stopping:  # the signal came while it was being forked
                os.kill(pid, signal.SIGTERM)
            with ready_pipe:
                is_ready = ready_pipe.read(1) == b"r"  # EOF first: it exited before it was ready
            if not is_ready:
                forward(signal.SIGTERM, None)
                _wait_all(workers)
                return 1
        if not stopping:
            started()
        codes = _wait_all(workers)
    except BaseException:  # never leave workers behind
        forward(signal.SIGTERM, None)
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0 if all(code == 0 for code in codes) else 1


def _start_worker(serve: Serve, sock: socket.socket) -> tuple[int, BinaryIO]:
    """Fork one worker; (its pid, the pipe on which it says it is ready)."""
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the worker
        os.close(read_end)
        for signum in (signal.SIGTERM, signal.SIGINT):  # the parent's forwarding is not for us
            signal.signal(signum, signal.SIG_DFL if signum == signal.SIGTERM else signal.default_int_handler)

        def ready() -> None:
            os.write(write_end, b"r")
            os.close(write_end)

        code = 1
        try:
            code = serve(sock, ready)
        except AsrError as err:
            print(f"asr: error: {err}", file=sys.stderr)
        except KeyboardInterrupt:
            code = 0
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(write_end)
    return pid, os.fdopen(read_end, "rb")


def _wait_all(pids: list[int]) -> list[int]:
    """Exit codes of the workers, waiting for each (signals interrupting the wait are retried)."""
    codes = []
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        codes.append(os.waitstatus_to_exitcode(status))
    return codes
