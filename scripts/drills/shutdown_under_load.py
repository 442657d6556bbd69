#!/usr/bin/env python3
"""Shutdown under load: SIGTERM an app while wrk and a recording client keep requests flowing.

Passes only when
  * every request sent before the signal got a 2xx, and so did every request sent while the listener
    was still open (the drain delay); a request may fail at the connection level only if it started
    after the listener could have closed, and no response is ever a non-2xx;
  * readiness answers 503 {"status":"shutting_down"} from the signal on, while liveness stays 200;
  * the process exits 0 within SHUTDOWN_DRAIN_SECS + SHUTDOWN_TIMEOUT_SECS;
  * wrk, run alongside, saw no non-2xx response and no timeout.

wrk supplies the pressure; the client threads here record every request's send time and outcome,
which wrk cannot, so "accepted before the signal" is measured rather than guessed. Loopback only;
every loop is bounded by a deadline.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"


@dataclass
class Outcome:
    path: str
    started: float
    finished: float
    status: int | None = None  # None: failed at the connection level
    error: str = ""


@dataclass
class Recorder:
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)


def drill_env(app: str, **settings: str) -> dict[str, str]:
    """What every drill starts an app with: loopback, port 0 for both ports (the start-up line, above
    the warn level of the rest, says which it bound), JSON logs, APP_ENV=local; then `settings`."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOST": HOST,
        "PORT": "0",
        "ADMIN_PORT": "0",
        "APP_ENV": "local",
        "LOG_FORMAT": "json",
        "RUST_LOG": f"warn,{app.replace('-', '_')}::startup=info",
        **settings,
    }


def listening_ports(log_path: str, proc: subprocess.Popen, deadline_s: float) -> tuple[int, int]:
    """The public and admin ports an app started with PORT=0 and ADMIN_PORT=0 bound, from the JSON
    line it logs once listening."""
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited early with {proc.returncode}")
        with open(log_path, "rb") as f:
            log = f.read()
        public = re.search(rb'"port":([1-9][0-9]*)', log)
        admin = re.search(rb'"admin_port":([1-9][0-9]*)', log)
        if public and admin:
            return int(public.group(1)), int(admin.group(1))
        time.sleep(0.02)
    raise SystemExit(f"no listening ports logged within {deadline_s}s")


def get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


def wait_ready(port: int, proc: subprocess.Popen, deadline_s: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited early with {proc.returncode}")
        try:
            if get(port, "/readyz", 0.5)[0] == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"not ready within {deadline_s}s")


def client(port: int, requests: list[tuple[str, str, bytes | None]], rec: Recorder,
           stop: threading.Event) -> None:
    """One keep-alive connection, reopened after any failure, cycling through `requests`."""
    conn: http.client.HTTPConnection | None = None
    i = 0
    while not stop.is_set():
        method, path, body = requests[i % len(requests)]
        i += 1
        started = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
            headers = {"content-type": "application/json"} if body else {}
            conn.request(method, path, body=body, headers=headers)
            res = conn.getresponse()
            res.read()
            rec.add(Outcome(path, started, time.monotonic(), status=res.status))
            if res.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            rec.add(Outcome(path, started, time.monotonic(), error=type(e).__name__))
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(0.01)  # a refused connect returns at once; don't spin
    if conn is not None:
        conn.close()


def probe(port: int, path: str, rec: Recorder, stop: threading.Event) -> None:
    """A probe like the kubelet's: a new connection every 50 ms."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            status, body = get(port, path, 1.0)
            outcome = Outcome(path, started, time.monotonic(), status=status)
            if path == "/readyz":
                outcome.error = json.loads(body).get("status", "")
            rec.add(outcome)
        except (OSError, http.client.HTTPException, ValueError) as e:
            rec.add(Outcome(path, started, time.monotonic(), error=type(e).__name__))
        time.sleep(0.05)


def straddler(port: int, app: str, send_at: float, finish_at: float, rec: Recorder) -> None:
    """A request that is in flight when the listener closes: its head is sent during the drain and
    the rest after the close. It was accepted before the close, so it must still succeed."""
    if app == "api-app":
        body = b'{"title":"sent across the close"}'
        head = (b"POST /api/tasks HTTP/1.1\r\nHost: drill\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n" % len(body))
        path = "POST /api/tasks (body after the close)"
    else:
        # demo-app's slow path is its /api proxy: the upstream below answers after SLOW_UPSTREAM_S.
        head, body = b"GET /api/slow HTTP/1.1\r\nHost: drill\r\n\r\n", b""
        path = "GET /api/slow (proxied; answered after the close)"
    time.sleep(max(0.0, send_at - time.monotonic()))
    started = time.monotonic()
    try:
        with socket.create_connection((HOST, port), timeout=10) as s:
            s.sendall(head)
            time.sleep(max(0.0, finish_at - time.monotonic()))
            if body:
                s.sendall(body)
            status_line = s.makefile("rb").readline().decode("latin-1")
        status = int(status_line.split()[1])
        rec.add(Outcome(path, started, time.monotonic(), status=status))
    except (OSError, ValueError, IndexError) as e:
        rec.add(Outcome(path, started, time.monotonic(), error=type(e).__name__))


SLOW_UPSTREAM_S = 1.0


def slow_upstream() -> tuple[ThreadingHTTPServer, int]:
    """A stand-in for api-app behind demo-app's proxy that takes SLOW_UPSTREAM_S to answer."""

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's naming)
            time.sleep(SLOW_UPSTREAM_S)
            body = b'{"slow":true}'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def parse_wrk(text: str) -> dict[str, int]:
    counts = {"requests": 0, "non_2xx": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0}
    if m := re.search(r"(\d+) requests in", text):
        counts["requests"] = int(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", text):
        counts["non_2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text):
        counts.update(connect=int(m.group(1)), read=int(m.group(2)),
                      write=int(m.group(3)), timeout=int(m.group(4)))
    return counts


def wrk_report(counts: dict[str, int]) -> str:
    """What wrk saw, in words. wrk runs on past the app's exit on purpose, so its "socket errors"
    (connections refused, reads and writes cut) are the drill working, not a failure; a passing
    drill says so rather than print them bare.

    >>> wrk_report({"requests": 5000, "non_2xx": 0, "connect": 812, "read": 3, "write": 0,
    ...             "timeout": 0})
    'wrk: 5000 requests, all 2xx; after the listener closed, as planned, 812 connections were refused and 3 reads and 0 writes were cut'
    >>> "socket errors" in wrk_report({"requests": 1, "non_2xx": 0, "connect": 0, "read": 0,
    ...                                "write": 0, "timeout": 0})
    False
    """
    return (f"wrk: {counts['requests']} requests, all 2xx; after the listener closed, as planned, "
            f"{counts['connect']} connections were refused and {counts['read']} reads and "
            f"{counts['write']} writes were cut")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app", choices=["api-app", "demo-app"], required=True)
    ap.add_argument("--bin", required=True, help="path to the app binary")
    ap.add_argument("--drain", type=int, default=2, help="SHUTDOWN_DRAIN_SECS")
    ap.add_argument("--timeout", type=int, default=5, help="SHUTDOWN_TIMEOUT_SECS")
    ap.add_argument("--load-before", type=float, default=1.5, help="seconds of load before SIGTERM")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--log", default=None, help="where the app's stdout goes")
    ap.add_argument("--database-url", default=None, help="api-app: run on PostgreSQL (DATABASE_URL)")
    args = ap.parse_args()

    env = drill_env(args.app, WORKERS="2", SHUTDOWN_DRAIN_SECS=str(args.drain),
                    SHUTDOWN_TIMEOUT_SECS=str(args.timeout))
    if args.app == "api-app":
        env.update(API_KEY="drill-key-0123456789abcdef", MAX_TASKS="1000000")
        if args.database_url:
            env["DATABASE_URL"] = args.database_url
        requests = [
            ("GET", "/api/tasks?limit=10", None),
            ("POST", "/api/tasks", b'{"title":"drill"}'),
            ("GET", "/api/echo?message=drill", None),
            ("GET", "/api", None),
        ]
        wrk_path = "/api/tasks?limit=10"
    else:
        upstream, upstream_port = slow_upstream()
        env["API_URL"] = f"http://{HOST}:{upstream_port}"
        requests = [("GET", "/", None), ("GET", "/ui/info", None), ("GET", "/static/app.js", None)]
        wrk_path = "/"

    log_path = args.log or os.path.join(tempfile.mkdtemp(), f"{args.app}.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen([args.bin], env=env, stdout=log, stderr=subprocess.STDOUT)
    problems: list[str] = []
    stop = threading.Event()
    threads: list[threading.Thread] = []
    wrk = None
    try:
        port, admin = listening_ports(log_path, proc, 15)
        ready_after = wait_ready(admin, proc, 15)
        traffic, probes = Recorder(), Recorder()
        # wrk runs past the exit on purpose: its connect errors after the close are expected.
        wrk_secs = int(args.load_before + args.drain + args.timeout + 2)
        wrk = subprocess.Popen(
            ["wrk", "-t2", "-c32", f"-d{wrk_secs}s", "--timeout", "10s",
             f"http://{HOST}:{port}{wrk_path}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(args.clients):
            threads.append(threading.Thread(target=client, args=(port, requests, traffic, stop)))
        # The probes ask the admin port, as kubelet does.
        threads.append(threading.Thread(target=probe, args=(admin, "/readyz", probes, stop)))
        threads.append(threading.Thread(target=probe, args=(admin, "/healthz", probes, stop)))
        for t in threads:
            t.start()

        time.sleep(args.load_before)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        straddle = threading.Thread(target=straddler, args=(
            port, args.app, signalled + args.drain - 0.5, signalled + args.drain + 0.5, traffic))
        straddle.start()
        threads.append(straddle)
        budget = args.drain + args.timeout
        try:
            code = proc.wait(timeout=budget + 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
            problems.append(f"still running {budget + 5}s after SIGTERM (killed)")
        exited = time.monotonic() - signalled
        time.sleep(0.3)  # let the clients see the closed port
        stop.set()
        for t in threads:
            t.join(timeout=15)
        wrk.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
        wrk_out, _ = wrk.communicate(timeout=15)
        wrk_counts = parse_wrk(wrk_out)

        if code != 0:
            problems.append(f"exit code {code}, expected 0")
        if exited > budget + 0.5:
            problems.append(f"exited {exited:.2f}s after SIGTERM; budget is drain {args.drain}s + "
                            f"timeout {args.timeout}s")

        # The listener closes `drain` seconds after the signal; before that every request must succeed.
        may_fail_from = signalled + args.drain - 0.05
        before = [o for o in traffic.outcomes if o.started < signalled]
        during = [o for o in traffic.outcomes if signalled <= o.started < may_fail_from]
        bad_before = [o for o in before + during if o.status is None or not 200 <= o.status < 300]
        non_2xx = [o for o in traffic.outcomes if o.status is not None and not 200 <= o.status < 300]
        if not before:
            problems.append("no request was sent before the signal")
        for o in (bad_before + non_2xx)[:5]:
            problems.append(f"{o.path} sent {o.started - signalled:+.3f}s from the signal: "
                            f"{o.status or o.error}")

        ready_after_sig = [o for o in probes.outcomes
                           if o.path == "/readyz" and o.started > signalled + 0.01]
        answered = [o for o in ready_after_sig if o.status is not None]
        if not answered:
            problems.append("/readyz never answered during the drain")
        for o in answered:
            if o.status != 503 or o.error != "shutting_down":
                problems.append(f"/readyz {o.started - signalled:+.3f}s after the signal: "
                                f"{o.status} {o.error}")
                break
        for o in probes.outcomes:
            if o.path == "/healthz" and o.status is not None and o.status != 200:
                problems.append(f"/healthz answered {o.status} while draining; liveness must stay 200")
                break

        if wrk_counts["requests"] == 0:
            problems.append(f"wrk sent nothing:\n{wrk_out}")
        if wrk_counts["non_2xx"] or wrk_counts["timeout"]:
            problems.append(f"wrk saw {wrk_counts['non_2xx']} non-2xx and "
                            f"{wrk_counts['timeout']} timeouts:\n{wrk_out}")

        across = [o for o in traffic.outcomes if "close)" in o.path]
        if not across:
            problems.append("the request in flight across the close was never recorded")

        failed_after = sum(1 for o in traffic.outcomes if o.status is None)
        print(f"{args.app}: ready in {ready_after:.2f}s; {len(before)} requests before SIGTERM and "
              f"{len(during)} during the {args.drain}s drain all 2xx; "
              f"{len(answered)} /readyz polls during the drain all 503; "
              f"{across[0].path if across else 'the in-flight request'}: "
              f"{across[0].status if across else 'missing'}; exit {code} after "
              f"{exited:.2f}s (budget {budget}s); {failed_after} refused after the close; "
              f"{wrk_report(wrk_counts)}")
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if wrk is not None and wrk.poll() is None:
            wrk.kill()
            wrk.wait()
        log.close()

    if problems:
        print(f"{args.app}: shutdown drill FAILED", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
