"""asr serve under load: N concurrent real-time streams of real speech, latency, CPU and memory.

    python tools/bench/serve_streams.py                                   # the default ladder
    python tools/bench/serve_streams.py --counts 1 4 8 --stdlib-counts 4 --seconds 10   # quicker
    python tools/bench/serve_streams.py --write BENCHMARKS.md

Starts `asr serve` (the default model and settings, one torch thread as the CLI sets) in a
subprocess, then for each N in --counts runs N streams at once, each a different LibriSpeech
recording (two utterances of ../shared/data/real/librispeech_pseudo joined by 1 s of silence,
cut to --seconds) sent as 100 ms pcm16 frames paced by the wall clock, as a microphone would,
the stream starts spread at random over one second. Measured per N:

  * latency after the end of speech: the arrival of the stream's last final ("last": true)
    minus the sending of its last audio frame (p50 and p95 over the streams). A server that
    keeps up answers within a chunk's compute; one that falls behind has a backlog that grows
    with the stream, so this is also the real-time test: a stream "kept real time" when its
    latency is under --behind-s (default 1 s);
  * lag of the finals inside the stream: arrival minus the wall time its audio ended (its "end"
    in stream seconds after the stream's first frame); includes the 800 ms endpoint pause;
  * the server's CPU (utime + stime from /proc/PID/stat over the run, in cores) and its peak
    RSS (VmRSS sampled every 0.2 s); the worker thread's share of the wall time spent in decoding
    passes (near 1: saturated) and the batch sizes the passes ran (see below);
  * the clients' own CPU (they share the machine) and how late they sent a frame at worst;
  * what else the machine did meanwhile: CPU of niced processes and of the rest, from /proc/stat.

The ladder stops after the first N at which a stream fell behind. Two clients: asyncio with
aiohttp's WebSocket client (all streams in one thread), and tools/serve_client.py's standard-
library WebSocket (a sending and a receiving thread per stream) at --stdlib-counts.

Memory per session: with the server warmed up by one stream, RSS with --memory-sessions streams
open (each has sent its config and 1 s of audio, which the server has decoded), minus RSS
with none, divided by their number.

Batch sizes: the engine counts its passes and the streams in them (StreamEngine.passes,
batched_streams) but does not publish them, so the server is started through this script,
which adds GET /bench/engine to the app and times each pass (asr.serve itself is unchanged).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile as sf
from markdown_block import write_block

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("ASR_SHARED_DATA", REPO.parent / "shared" / "data"))
SPEECH = DATA / "real" / "librispeech_pseudo"
SECTION = "## asr serve: concurrent streams (issue 16)"
RATE = 16000
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------- audio
def speech_streams(count: int, seconds: float, seed: int = 0) -> list[np.ndarray]:
    """`count` different stretches of real speech (int16, 16 kHz): two LibriSpeech utterances
    joined by 1 s of silence, cut to `seconds`."""
    files = sorted(SPEECH.glob("*/*.opus"))
    if len(files) < 2 * count:
        raise SystemExit(f"need {2 * count} recordings in {SPEECH}, found {len(files)}")
    random.Random(seed).shuffle(files)
    streams = []
    for k in range(count):
        first, second = (sf.read(f, dtype="int16")[0] for f in files[2 * k: 2 * k + 2])
        joined = np.concatenate([first, np.zeros(RATE, np.int16), second])
        streams.append(joined[: int(seconds * RATE)])
    return streams


# ---------------------------------------------------------------------- the server
def serve_with_stats(port: int, max_sessions: int, threads: int) -> int:
    """In the server process: `asr serve` with GET /bench/engine (pass counts, sizes and times)."""
    from asr.threads import prefer_passive_waiting

    prefer_passive_waiting()  # as the asr command does, before torch is imported
    from aiohttp import web

    import asr.serve.app as serve_app
    from asr.cli import main as asr_main
    from asr.serve.engine import StreamEngine

    sizes: Counter = Counter()
    busy = {"wall": 0.0, "cpu": 0.0}
    decode_pass = StreamEngine._decode_pass

    def timed_pass(self, sessions):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return decode_pass(self, sessions)
        finally:
            busy["wall"] += time.perf_counter() - wall
            busy["cpu"] += time.thread_time() - cpu
            sizes[len(sessions)] += 1

    async def engine_stats(request):
        engine = request.app[serve_app.ENGINE]
        return web.json_response({"passes": engine.passes, "batched_streams": engine.batched_streams,
                                  "pass_wall": busy["wall"], "pass_cpu": busy["cpu"], "sizes": dict(sizes)})

    build_app = serve_app.build_app

    def build_app_with_stats(*args, **kwargs):
        app = build_app(*args, **kwargs)
        app.router.add_get("/bench/engine", engine_stats)
        return app

    StreamEngine._decode_pass = timed_pass
    serve_app.build_app = build_app_with_stats
    return asr_main(["serve", "--port", str(port), "--max-sessions", str(max_sessions), "--threads", str(threads)])


class Server:
    """`asr serve` in a subprocess on a free port: with the engine stats for one worker process;
    with --workers N > 1 the plain command (its workers are forked before torch is imported,
    which the stats wrapper cannot do), CPU and RSS summed over the processes."""

    def __init__(self, max_sessions: int, log: Path, threads: int = 1, workers: int = 1):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log, self.stats = log, workers == 1
        if self.stats:
            command = [sys.executable, __file__, "--serve-child", str(self.port), str(max_sessions), str(threads)]
        else:
            command = [sys.executable, "-m", "asr", "serve", "--port", str(self.port), "--max-sessions",
                       str(max_sessions), "--threads", str(threads), "--workers", str(workers)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=open(log, "w"))  # noqa: SIM115 - the server's
        self.pid = self.process.pid
        self.url = f"ws://127.0.0.1:{self.port}/stream"
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"asr serve exited: {log.read_text()}")
            try:
                self.get("health")
                if self.stats or len(self.pids()) == workers + 1:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("asr serve did not answer /health in 120 s")
            time.sleep(0.2)

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/{path}", timeout=5) as response:
            return json.load(response)

    def engine(self) -> dict:
        """The pass counters of the one worker (zeros when there are several)."""
        if self.stats:
            return self.get("bench/engine")
        return {"passes": 0, "batched_streams": 0, "pass_wall": 0.0, "pass_cpu": 0.0, "sizes": {}}

    def pids(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [self.pid, *map(int, children)]

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLOCK_TICK

    def rss_mb(self) -> float:
        total = 0.0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        return total

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def machine_cpu() -> dict[str, float]:
    """Seconds of all cores since boot from /proc/stat: busy (all but idle and iowait) and nice."""
    values = [int(v) / CLOCK_TICK for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, *rest = values
    return {"busy": user + nice + system + sum(rest[:3]), "nice": nice}


# ---------------------------------------------------------------------- clients
@dataclass
class StreamResult:
    latency: float = float("nan")  # last final's arrival - last frame sent
    final_lags: list[float] = field(default_factory=list)  # mid-stream finals
    late_send: float = 0.0  # worst lateness of a frame against its schedule
    error: str = ""


def frames_of(pcm: np.ndarray, frame_ms: float) -> list[bytes]:
    step = int(RATE * frame_ms / 1000)
    return [pcm[i: i + step].astype("<i2").tobytes() for i in range(0, len(pcm), step)]


def record(result: StreamResult, message: dict, arrived: float, first_audio: float | None) -> bool:
    """Note one server message; True for the last."""
    if "error" in message:
        result.error = message["error"]
    if "final" in message and not message["last"] and message["final"] and first_audio is not None:
        result.final_lags.append(arrived - (first_audio + message["end"]))
    return bool(message.get("last"))


async def aiohttp_stream(session, url: str, pcm: np.ndarray, delay: float, frame_ms: float) -> StreamResult:
    result, frames = StreamResult(), frames_of(pcm, frame_ms)
    await asyncio.sleep(delay)
    async with session.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"config": {"sample_rate": RATE, "format": "pcm16"}}))
        start = time.monotonic()  # the moment audio "recording" starts: frame i is due at start + (i+1) * frame
        sent_last = None

        async def receive() -> float | None:
            async for msg in ws:
                message = json.loads(msg.data)
                if record(result, message, time.monotonic(), start):
                    return time.monotonic()
            return None

        receiver = asyncio.create_task(receive())
        for i, frame in enumerate(frames):
            due = start + (i + 1) * frame_ms / 1000
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            result.late_send = max(result.late_send, time.monotonic() - due)
            await ws.send_bytes(frame)
            sent_last = time.monotonic()
        await ws.send_str(json.dumps({"eof": True}))
        last = await receiver
    if last is not None:
        result.latency = last - sent_last
    elif not result.error:
        result.error = "closed before the last final"
    return result


async def run_aiohttp(url: str, streams: list[np.ndarray], delays: list[float], frame_ms: float) -> list[StreamResult]:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(aiohttp_stream(session, url, pcm, d, frame_ms)
                                         for pcm, d in zip(streams, delays)), return_exceptions=True)
    return [r if isinstance(r, StreamResult) else StreamResult(error=repr(r)) for r in results]


def stdlib_client():
    spec = importlib.util.spec_from_file_location("serve_client", REPO / "tools" / "serve_client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stdlib_stream(client, url: str, pcm: np.ndarray, delay: float, frame_ms: float) -> StreamResult:
    """One stream with tools/serve_client.py's WebSocket: this thread sends, a second receives."""
    result, frames = StreamResult(), frames_of(pcm, frame_ms)
    time.sleep(delay)
    ws = client.WebSocket(url)
    start, last = None, []

    def receive():
        while (text := ws.receive()) is not None:
            if record(result, json.loads(text), time.monotonic(), start):
                last.append(time.monotonic())

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    ws.send_text(json.dumps({"config": {"sample_rate": RATE, "format": "pcm16"}}))
    start = time.monotonic()
    sent_last = start
    for i, frame in enumerate(frames):
        due = start + (i + 1) * frame_ms / 1000
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        result.late_send = max(result.late_send, time.monotonic() - due)
        ws.send_binary(frame)
        sent_last = time.monotonic()
    ws.send_text(json.dumps({"eof": True}))
    reader.join()
    ws.sock.close()
    if last:
        result.latency = last[0] - sent_last
    elif not result.error:
        result.error = "closed before the last final"
    return result


def run_stdlib(url: str, streams: list[np.ndarray], delays: list[float], frame_ms: float) -> list[StreamResult]:
    client, results = stdlib_client(), [StreamResult() for _ in streams]

    def one(k: int) -> None:
        try:
            results[k] = stdlib_stream(client, url, streams[k], delays[k], frame_ms)
        except Exception as err:  # noqa: BLE001 - reported in the table
            results[k].error = repr(err)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(streams))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# ---------------------------------------------------------------------- one load level
@dataclass
class Level:
    client: str
    streams: int
    seconds: float
    results: list[StreamResult]
    wall: float
    server_cores: float
    client_cores: float
    rss_peak: float
    nice_cores: float
    other_cores: float  # busy CPU of everything but the server, the clients and niced processes
    passes: int
    mean_batch: float
    sizes: Counter
    worker_busy: float  # share of the wall time the worker spent in passes

    def percentile(self, values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    @property
    def latencies(self) -> list[float]:
        return [r.latency for r in self.results if not r.error]

    @property
    def lags(self) -> list[float]:
        return [lag for r in self.results for lag in r.final_lags]

    def kept_up(self, behind: float) -> int:
        return sum(1 for r in self.results if not r.error and r.latency < behind)


def run_level(server: Server, client: str, streams: list[np.ndarray], frame_ms: float, seed: int) -> Level:
    delays = [random.Random(seed + k).uniform(0, 1) for k in range(len(streams))]
    rss, done = [server.rss_mb()], threading.Event()

    def sample_rss():
        while not done.wait(0.2):
            rss.append(server.rss_mb())

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    before = (time.monotonic(), server.cpu_seconds(), resource.getrusage(resource.RUSAGE_SELF), machine_cpu(),
              server.engine())
    if client == "aiohttp":
        results = asyncio.run(run_aiohttp(server.url, streams, delays, frame_ms))
    else:
        results = run_stdlib(server.url, streams, delays, frame_ms)
    after = (time.monotonic(), server.cpu_seconds(), resource.getrusage(resource.RUSAGE_SELF), machine_cpu(),
             server.engine())
    done.set()
    sampler.join()
    wall = after[0] - before[0]
    server_cpu = after[1] - before[1]
    client_cpu = (after[2].ru_utime + after[2].ru_stime) - (before[2].ru_utime + before[2].ru_stime)
    nice = after[3]["nice"] - before[3]["nice"]
    other = after[3]["busy"] - before[3]["busy"] - nice - server_cpu - client_cpu
    passes = after[4]["passes"] - before[4]["passes"]
    batched = after[4]["batched_streams"] - before[4]["batched_streams"]
    sizes = Counter({int(k): v for k, v in after[4]["sizes"].items()})
    sizes.subtract({int(k): v for k, v in before[4]["sizes"].items()})
    return Level(client, len(streams), statistics.mean(len(s) / RATE for s in streams), results, wall,
                 server_cpu / wall, client_cpu / wall, max(rss), nice / wall, max(0.0, other) / wall,
                 passes, batched / max(passes, 1), +sizes,
                 (after[4]["pass_wall"] - before[4]["pass_wall"]) / wall)


async def open_idle_sessions(url: str, count: int, pcm: np.ndarray, measure) -> float:
    """RSS with `count` streams open, each having sent 1 s of audio that the server decoded."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(url) for _ in range(count)]
        for ws in sockets:
            await ws.send_str(json.dumps({"config": {"sample_rate": RATE, "format": "pcm16"}}))
            for frame in frames_of(pcm[:RATE], 100):
                await ws.send_bytes(frame)
        await asyncio.sleep(3.0)  # decoded by now (1 s of audio each)
        rss = measure()
        for ws in sockets:
            await ws.send_str(json.dumps({"eof": True}))
        for ws in sockets:
            async for _ in ws:
                pass
    return rss


# ---------------------------------------------------------------------- report
def table(levels: list[Level], behind: float) -> str:
    head = ("| client | streams | audio per stream | latency after speech p50 / p95 | mid-stream final lag p50 "
            "| kept real time | server CPU (cores) | worker busy | passes: mean batch | peak RSS "
            "| client CPU (cores) | latest frame sent | niced / other CPU (cores) |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for lv in levels:
        lat = lv.latencies
        errors = sum(1 for r in lv.results if r.error)
        kept = f"{lv.kept_up(behind)}/{lv.streams}" + (f" ({errors} failed)" if errors else "")
        rows.append(f"| {lv.client} | {lv.streams} | {lv.seconds:.1f} s | {lv.percentile(lat, 50) * 1000:.0f} / "
                    f"{lv.percentile(lat, 95) * 1000:.0f} ms | {lv.percentile(lv.lags, 50):.2f} s | {kept} | "
                    f"{lv.server_cores:.2f} | {f'{lv.worker_busy:.0%}' if lv.passes else '-'} | "
                    f"{f'{lv.passes}: {lv.mean_batch:.2f}' if lv.passes else '-'} | "
                    f"{lv.rss_peak:.0f} MB | {lv.client_cores:.2f} | "
                    f"{max(r.late_send for r in lv.results) * 1000:.0f} ms | {lv.nice_cores:.2f} / {lv.other_cores:.2f} |")
    return head + "\n" + "\n".join(rows)


def batch_sizes(levels: list[Level]) -> str:
    lines = []
    for lv in levels:
        total = sum(lv.sizes.values())
        if not total:
            continue
        common = ", ".join(f"{size}: {count / total:.0%}" for size, count in sorted(lv.sizes.items()) if count / total >= 0.05)
        lines.append(f"- {lv.client}, {lv.streams} streams: {total} passes, streams per pass {common}")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve-child":
        sys.exit(serve_with_stats(*map(int, sys.argv[2:])))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8, 16, 24, 32, 40, 48],
                   help="streams at once, in increasing order (aiohttp client; default: 1 2 4 8 16 24 32 40 48)")
    p.add_argument("--stdlib-counts", type=int, nargs="*", default=[4, 16],
                   help="the same with tools/serve_client.py's client (default: 4 16)")
    p.add_argument("--seconds", type=float, default=20.0, help="audio per stream (default: 20)")
    p.add_argument("--frame-ms", type=float, default=100.0, help="audio per message (default: 100)")
    p.add_argument("--behind-s", type=float, default=1.0,
                   help="a stream whose last final comes later than this after its audio fell behind (default: 1)")
    p.add_argument("--memory-sessions", type=int, default=16, help="open sessions for the memory figure (0: skip)")
    p.add_argument("--threads", type=int, default=1, help="the server's torch threads (asr serve --threads; default: 1)")
    p.add_argument("--workers", type=int, default=1,
                   help="server processes (asr serve --workers; default: 1; with more, no pass statistics)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--write", type=Path, help="put the results into this markdown file (BENCHMARKS.md)")
    args = p.parse_args()

    most = max(args.counts + args.stdlib_counts + [args.memory_sessions])
    audio = speech_streams(most, args.seconds, args.seed)
    started = datetime.now()
    uptime_before = Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as folder:
        server = Server(most + 1, Path(folder) / "server.log", args.threads, args.workers)
        try:
            run_level(server, "aiohttp", [audio[0][: 3 * RATE]], args.frame_ms, args.seed)  # warm-up
            memory = None
            if args.memory_sessions:
                idle = server.rss_mb()
                busy = asyncio.run(open_idle_sessions(server.url, args.memory_sessions, audio[0], server.rss_mb))
                memory = (idle, busy)
            levels = []
            for n in args.counts:
                level = run_level(server, "aiohttp", audio[:n], args.frame_ms, args.seed + n)
                levels.append(level)
                print(table([level], args.behind_s).splitlines()[-1], flush=True)
                if level.kept_up(args.behind_s) < n:
                    break
            for n in args.stdlib_counts:
                level = run_level(server, "stdlib", audio[:n], args.frame_ms, args.seed + 1000 + n)
                levels.append(level)
                print(table([level], args.behind_s).splitlines()[-1], flush=True)
        finally:
            server.stop()
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    command = "python tools/bench/serve_streams.py " + " ".join(sys.argv[1:])
    body = [f"Run {started:%Y-%m-%d %H:%M}-{datetime.now():%H:%M}: `{command}`", "",
            f"Load average before {' '.join(uptime_before)}, after {' '.join(load_after)}.", "",
            table(levels, args.behind_s)]
    if any(lv.passes for lv in levels):
        body += ["", "Streams per decoding pass (share of passes, 5 % or more):", "", batch_sizes(levels)]
    if memory:
        idle, busy = memory
        body += ["", (f"Memory: RSS {idle:.0f} MB with no stream open (after a warm-up stream), {busy:.0f} MB with "
                      f"{args.memory_sessions} open after 1 s of audio each: "
                      f"{(busy - idle) / args.memory_sessions:.2f} MB per session.")]
    text = "\n".join(body)
    print("\n" + text)
    if args.write:
        # one generated block per server setting, so that the runs stay in the file side by side
        name = "tools/bench/serve_streams.py" + "".join(f" --{option} {value}" for option, value in
                                                        (("threads", args.threads), ("workers", args.workers)) if value != 1)
        write_block(args.write, SECTION, name, text)


if __name__ == "__main__":
    main()
