#!/usr/bin/env python3
"""Abuse at the scale of issue 21, against the real api-app: memory stays bounded and probes answer.

Three attacks, one after the other, on one process (loopback, the in-memory store holding 1000 tasks
of 200 characters, so `GET /api/tasks?limit=1000` answers about 330 KB):

  pipeline   100 connections, each with a 4 KiB receive buffer, write 200 x `GET /api/tasks?limit=1000`
             in one go and never read; then keep writing more for a few seconds; then close.
  heads      2048 connections each send a 125 KB request head; then 2048 connections each send one
             request with a 15 KB head (under the cap), read the answer and stay open (the server
             closes a connection after a head of 8 KiB or more, freeing its buffer).
  idle       MAX_CONNECTIONS (2048) connections each send one request, read it and stay idle; then new
             clients ask the public port.

Passes only when, throughout every attack,
  * the process's RSS (VmRSS, sampled every 50 ms) stays under --rss-limit-mib (64);
  * every probe of /healthz and /readyz on the admin port (one every 100 ms) answers 200 within 1 s;
and after each attack's connections close, RSS is back under the limit too. The heads attack must
get 431 for every over-sized head; the idle attack must serve a new public client within 1 s while
the cap is held (idle keep-alive connections are evicted first).

Prints one line of figures per attack (bench/ABUSE.md records them). Every wait is bounded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

# The drill beside this one reads the ports an app logs the same way.
from shutdown_under_load import drill_env, listening_ports

HOST = "127.0.0.1"
TASKS = 1000
TITLE = "t" * 200


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise SystemExit("abuse: no VmRSS")


def request(port: int, method: str, path: str, body: bytes | None = None,
            timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"content-type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


@dataclass
class Watch:
    """Samples RSS and probes the admin port on threads of their own while an attack runs."""
    pid: int
    admin: int
    peak_mib: float = 0.0
    probes: int = 0
    slowest_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> "Watch":
        self.threads = [threading.Thread(target=self._sample), threading.Thread(target=self._probe)]
        for t in self.threads:
            t.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(10)

    def _sample(self) -> None:
        while not self.stop.is_set():
            self.peak_mib = max(self.peak_mib, rss_mib(self.pid))
            time.sleep(0.05)

    def _probe(self) -> None:
        paths = ["/healthz", "/readyz"]
        while not self.stop.is_set():
            path = paths[self.probes % 2]
            started = time.monotonic()
            try:
                status, _ = request(self.admin, "GET", path, timeout=1.0)
                if status != 200:
                    self.failures.append(f"{path} answered {status}")
            except OSError as e:
                self.failures.append(f"{path} failed after {time.monotonic() - started:.2f}s: {e}")
            took = time.monotonic() - started
            self.slowest_s = max(self.slowest_s, took)
            if took > 1.0:
                self.failures.append(f"{path} took {took:.2f}s")
            self.probes += 1
            time.sleep(0.1)


def connect(port: int, rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect((HOST, port))
    return s


def send_some(s: socket.socket, data: bytes) -> int:
    """Writes what the socket takes now, without blocking; 0 when it is full or closed."""
    try:
        return s.send(data, socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return 0
    except OSError:
        return 0


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        s.close()


def settle(pid: int, limit: float, within_s: float = 5.0) -> float:
    """RSS once the connections are gone: the lowest seen within `within_s` (the process may take a
    moment to notice closed sockets)."""
    low = rss_mib(pid)
    deadline = time.monotonic() + within_s
    while low >= limit and time.monotonic() < deadline:
        time.sleep(0.1)
        low = min(low, rss_mib(pid))
    return low


def pipeline(port: int, conns: int, per_conn: int, keep_writing_s: float) -> str:
    one = b"GET /api/tasks?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n"
    socks = [connect(port, rcvbuf=4096) for _ in range(conns)]
    written = 0
    for s in socks:
        written += send_some(s, one * per_conn)
    # Keep writing more of the same, as fast as each socket takes it, never reading.
    deadline = time.monotonic() + keep_writing_s
    while time.monotonic() < deadline:
        progressed = 0
        for s in socks:
            progressed += send_some(s, one * 20)
        written += progressed
        time.sleep(0.05)
    close_all(socks)
    return f"{conns} connections wrote {written // len(one)} requests ({written // 1024} KiB), read nothing"


def heads(port: int, conns: int, head_kb: int,
          idle_head_kb: int) -> tuple[str, list[str], list[socket.socket]]:
    problems = []
    big = b"GET /api/health HTTP/1.1\r\nHost: x\r\nx-pad: " + b"a" * (head_kb * 1000) + b"\r\n\r\n"
    socks = []
    answered_431 = 0
    for _ in range(conns):
        s = connect(port)
        s.setblocking(False)
        # The first part at once, so the head passes the cap before any deadline could matter.
        socks.append((s, send_some(s, big[:32 * 1024])))
    # Write each head as far as the server reads it; the server answers 431 once it is past the cap.
    deadline = time.monotonic() + 20
    pending = list(socks)
    answers: dict[int, bytes] = {}
    while pending and time.monotonic() < deadline:
        still = []
        for s, sent in pending:
            if sent < len(big):
                n = send_some(s, big[sent:])
                sent += n
            try:
                chunk = s.recv(4096)
                if chunk:
                    answers[s.fileno()] = answers.get(s.fileno(), b"") + chunk
                    if b"\r\n\r\n" in answers[s.fileno()]:
                        continue
                else:
                    continue  # closed
            except BlockingIOError:
                pass
            except OSError:
                continue
            still.append((s, sent))
        pending = still
        time.sleep(0.01)
    answered_other = 0
    answered_408 = 0
    for answer in answers.values():
        if answer.startswith(b"HTTP/1.1 431"):
            answered_431 += 1
        elif answer.startswith(b"HTTP/1.1 408"):
            answered_408 += 1  # this client sent its first 16 KiB slower than the 5 s head deadline
        elif answer:
            answered_other += 1
    # A client still sending when the server closes gets a reset, which may destroy the 431 before
    # it is read; either way the head was refused. Nothing else may answer, nor stay open.
    left_open = len(pending)
    if answered_other or left_open or not answered_431:
        problems.append(f"over-sized heads: {answered_431} got 431, {answered_other} another "
                        f"answer, {left_open} were still open after 20 s")
    close_all([s for s, _ in socks])
    # Heads under the cap: served, then idle on keep-alive.
    fine = b"GET /api/health HTTP/1.1\r\nHost: x\r\nx-pad: " + b"a" * (idle_head_kb * 1000) + b"\r\n\r\n"
    idle = []
    closed = 0
    for _ in range(conns):
        s = connect(port)
        s.sendall(fine)
        answer = s.recv(4096)
        if not answer.startswith(b"HTTP/1.1 200"):
            problems.append(f"a {idle_head_kb} KB head got {answer[:20]!r}")
            break
        closed += b"connection: close" in answer.lower()
        idle.append(s)
    return (f"{conns} heads of {head_kb} KB refused: {answered_431} read the 431, {answered_408} "
            f"got the head deadline's 408, {conns - answered_431 - answered_408} were reset first; "
            f"{len(idle)} served a {idle_head_kb} KB head, {closed} of them closed after it",
            problems, idle)


def idle_cap(port: int, cap: int) -> tuple[str, list[str], list[socket.socket]]:
    problems = []
    held = []
    for _ in range(cap):
        s = connect(port)
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        if not s.recv(4096).startswith(b"HTTP/1.1 200"):
            problems.append("a keep-alive client was not served")
            break
        held.append(s)
    slowest = 0.0
    for _ in range(20):
        started = time.monotonic()
        try:
            status, _ = request(port, "GET", "/api/health", timeout=2.0)
        except OSError as e:
            problems.append(f"a new public client failed while the cap was held: {e}")
            break
        took = time.monotonic() - started
        slowest = max(slowest, took)
        if status != 200 or took > 1.0:
            problems.append(f"a new public client got {status} after {took:.2f}s")
        time.sleep(0.05)
    return (f"{len(held)} idle keep-alive connections held the cap; 20 new public clients, "
            f"slowest {slowest * 1000:.0f} ms", problems, held)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the api-app binary")
    ap.add_argument("--rss-limit-mib", type=float, default=64.0)
    ap.add_argument("--pipeline-connections", type=int, default=100)
    ap.add_argument("--pipelined", type=int, default=200)
    ap.add_argument("--keep-writing", type=float, default=12.0, help="seconds")
    ap.add_argument("--head-connections", type=int, default=2048)
    ap.add_argument("--head-kb", type=int, default=125)
    ap.add_argument("--idle-head-kb", type=int, default=15)
    ap.add_argument("--max-connections", type=int, default=2048)
    ap.add_argument("--attacks", default="pipeline,heads,idle",
                    help="which attacks to run, in order (comma-separated)")
    ap.add_argument("--log", default=None)
    args = ap.parse_args()

    need = args.head_connections + args.max_connections + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < need:
        raise SystemExit(f"abuse: needs {need} file descriptors (ulimit -n), has {soft}")

    env = drill_env("api-app", WORKERS="2", SHUTDOWN_DRAIN_SECS="0",
                    MAX_CONNECTIONS=str(args.max_connections), API_KEY="abuse-drill-key-0123456789")
    log_path = args.log or os.path.join(tempfile.mkdtemp(), "api-app.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen([args.bin], env=env, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (need, need)))
    problems: list[str] = []
    try:
        port, admin = listening_ports(log_path, proc, 15)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if request(admin, "GET", "/readyz", timeout=0.5)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        body = json.dumps({"title": TITLE}).encode()
        conn = http.client.HTTPConnection(HOST, port, timeout=5)
        for _ in range(TASKS):
            conn.request("POST", "/api/tasks", body=body, headers={"content-type": "application/json"})
            res = conn.getresponse()
            res.read()
            if res.status != 201:
                raise SystemExit(f"abuse: seeding answered {res.status}")
        conn.close()
        size = len(request(port, "GET", "/api/tasks?limit=1000")[1])
        base = rss_mib(proc.pid)
        print(f"abuse: api-app seeded with {TASKS} tasks (a 1000-task page is {size // 1024} KiB); "
              f"RSS {base:.1f} MiB")

        attacks = [
            ("pipeline", lambda: (pipeline(port, args.pipeline_connections, args.pipelined,
                                           args.keep_writing), [], [])),
            ("heads", lambda: heads(port, args.head_connections, args.head_kb, args.idle_head_kb)),
            ("idle", lambda: idle_cap(port, args.max_connections)),
        ]
        chosen = args.attacks.split(",")
        for name, attack in [a for a in attacks if a[0] in chosen]:
            watch = Watch(proc.pid, admin).start()
            started = time.monotonic()
            summary, found, held = attack()
            if held:
                time.sleep(1.0)  # held a moment, with the probes and the sampler running
            took = time.monotonic() - started
            during = watch.peak_mib
            close_all(held)
            after = settle(proc.pid, args.rss_limit_mib)
            watch.finish()
            problems += [f"{name}: {p}" for p in found + watch.failures[:5]]
            if during >= args.rss_limit_mib:
                problems.append(f"{name}: RSS peaked at {during:.1f} MiB")
            if after >= args.rss_limit_mib:
                problems.append(f"{name}: RSS still {after:.1f} MiB after the connections closed")
            print(f"abuse: {name}: {summary}; {took:.1f}s; RSS peak {during:.1f} MiB, "
                  f"{after:.1f} MiB after; {watch.probes} admin probes, slowest "
                  f"{watch.slowest_s * 1000:.0f} ms, {len(watch.failures)} failed")
        if proc.poll() is not None:
            problems.append(f"api-app exited with {proc.returncode}")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
    if problems:
        for p in problems:
            print(f"abuse: FAILED: {p}", file=sys.stderr)
        sys.exit(1)
    print(f"abuse: passed (RSS under {args.rss_limit_mib:.0f} MiB, every admin probe within 1 s)")


if __name__ == "__main__":
    main()
