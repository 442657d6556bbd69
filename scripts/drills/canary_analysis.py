#!/usr/bin/env python3
"""Canary analysis on a real Prometheus: a healthy canary passes, a faulty one is stopped in time.

Starts four real api-app processes, a stable one and three canaries (one healthy, one with
INJECT_ERROR_PERCENT, one whose process is killed and started again), and a real Prometheus server
(Debian's package) that scrapes them, labelled the way prometheus-operator labels the pods of a Rollout
(the pod's rollouts-pod-template-hash through relabelling, as the ServiceMonitor's podTargetLabels
does), with the clusters' own recording rules loaded. As after a Rollout's setWeight, the canaries get
their first requests when the analysis starts (about 20 a second each, a 20 % share of a small
service): their counters start at zero, and a route's first 5xx is as new a series as in a cluster.
It runs the AnalysisTemplate exactly as rendered for dev (k8s/base/canary-analysis): each metric's
query with the Rollout's arguments substituted, through Prometheus's HTTP API, at the template's
interval, count and failureLimit, each result judged by the template's successCondition. Passes only
when

  * the healthy canary passes every measurement of every metric;
  * the faulty canary's analysis fails on the availability metric within (failureLimit + 1) x
    interval (at this rate its 100-request sample is in before the second measurement), while the
    same queries for stable's hash pass (its errors are its own);
  * the restarted canary fails on its restart within two measurements.
  * the guard that the canary is measured reads 0 without the recording rules' group (Prometheus
    scrapes itself, as kube-prometheus-stack's does, for the group's evaluation time).

Prometheus scrapes and evaluates every second here (the clusters: 5 s): only the drill's copy of the
configuration is faster; the template's own timing is used as it is. Traffic goes to the public port
each app logs as `port`. Prometheus scrapes what the rendered ServiceMonitor says, as prometheus-operator
would: its endpoint's path on the container port its endpoint names (the admin port, `admin_port` in
the log; the public one answers 404 there), with the job its jobLabel gives. Loopback only; every wait
is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

import yaml
from shutdown_under_load import drill_env, listening_ports, wait_ready  # start an app, read its ports

HOST = "127.0.0.1"
NAMESPACE = "api-app-drill"
STABLE, GOOD, BAD, RESTARTED = "stable0001", "good00002", "faulty003", "restart04"
# Argo Rollouts' default: this many consecutive measurement errors make a metric an Error.
CONSECUTIVE_ERROR_LIMIT = 4

# kubectl prints matchType "=" bare, which PyYAML would read as its obsolete "value" tag.
yaml.SafeLoader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_scalar)


def judge(condition: str, result: list[float]) -> bool:
    """Evaluates a successCondition of the one form the templates use: `result[0] <op> <number>`.

    Any other form is refused, so a template the drill cannot judge faithfully fails loudly.

    >>> judge("result[0] <= 0.0144", [0.01])
    True
    >>> judge("result[0] <= 0.0144", [0.1])
    False
    >>> judge("result[0] >= 1", [2.0])
    True
    >>> judge("result[0] == 0", [1.0])
    False
    >>> judge("result[0] >= 1", [])
    Traceback (most recent call last):
    ...
    ValueError: no result: the query must always yield one number
    >>> judge("all(result, # < 1)", [0.0])
    Traceback (most recent call last):
    ...
    ValueError: unsupported successCondition: all(result, # < 1)
    """
    match = re.fullmatch(r"result\[0\] (<=|>=|==|<|>) ([0-9.]+)", condition.strip())
    if not match:
        raise ValueError(f"unsupported successCondition: {condition}")
    if not result:
        raise ValueError("no result: the query must always yield one number")
    value, op, threshold = result[0], match.group(1), float(match.group(2))
    return {
        "<=": value <= threshold,
        ">=": value >= threshold,
        "==": value == threshold,
        "<": value < threshold,
        ">": value > threshold,
    }[op]


def substitute(query: str, args: dict[str, str]) -> str:
    """Replaces `{{args.NAME}}` as Argo Rollouts does; an argument left over is an error.

    >>> substitute('up{job="{{args.job}}"}', {"job": "api-app"})
    'up{job="api-app"}'
    >>> substitute('{{args.nope}}', {})
    Traceback (most recent call last):
    ...
    KeyError: 'nope'
    """
    return re.sub(r"\{\{\s*args\.([a-z0-9-]+)\s*\}\}", lambda m: args[m.group(1)], query)


def duration_s(text: str) -> float:
    """'10s' -> 10.0, '1m' -> 60.0.

    >>> duration_s("10s"), duration_s("1m")
    (10.0, 60.0)
    """
    number, unit = re.fullmatch(r"([0-9.]+)(s|m)", text).groups()
    return float(number) * (60 if unit == "m" else 1)


@dataclass
class MetricRun:
    """One metric of an AnalysisRun: its measurements and the phase Argo Rollouts would give it."""

    name: str
    spec: dict
    phases: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return self.phases.count("Failed")

    def phase(self) -> str:
        if self.failures > int(self.spec.get("failureLimit", 0)):
            return "Failed"
        errors = 0
        for p in reversed(self.phases):
            if p != "Error":
                break
            errors += 1
        if errors > int(self.spec.get("consecutiveErrorLimit", CONSECUTIVE_ERROR_LIMIT)):
            return "Error"
        return "Successful" if len(self.phases) >= int(self.spec["count"]) else "Running"


def query(prometheus: str, promql: str) -> list[float]:
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus refused {promql}: {body}")
    data = body["data"]
    if data["resultType"] == "scalar":
        return [float(data["result"][1])]
    return [float(sample["value"][1]) for sample in data["result"]]


def analyse(prometheus: str, template: dict, args: dict[str, str], log) -> tuple[str, float, list[MetricRun]]:
    """Runs every metric of `template` on its own schedule until the analysis ends, as Argo Rollouts
    does: Failed (or Error) as soon as one metric is, Successful once all took their count."""
    runs = [MetricRun(m["name"], m) for m in template["spec"]["metrics"]]
    due = [0.0] * len(runs)
    start = time.monotonic()
    while True:
        now = time.monotonic() - start
        for i, run in enumerate(runs):
            if run.phase() != "Running" or now < due[i]:
                continue
            promql = substitute(run.spec["provider"]["prometheus"]["query"], args)
            try:
                result = query(prometheus, promql)
                ok = judge(run.spec["successCondition"], result)
                run.phases.append("Successful" if ok else "Failed")
                run.values.append(",".join(f"{v:.4f}" for v in result))
            except (ValueError, RuntimeError, OSError) as err:
                run.phases.append("Error")
                run.values.append(str(err))
            log(f"  {args['canary-hash']} t={now:5.1f}s {run.name}: {run.values[-1]} -> {run.phases[-1]}")
            due[i] = now + duration_s(run.spec["interval"])
        phases = [r.phase() for r in runs]
        for verdict in ("Failed", "Error"):
            if verdict in phases:
                return verdict, time.monotonic() - start, runs
        if all(p == "Successful" for p in phases):
            return "Successful", time.monotonic() - start, runs
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_app(binary: str, log_path: str, extra: dict[str, str], scrape_port: str) -> tuple[subprocess.Popen, dict[str, int]]:
    """Starts api-app (on free ports, unless `extra` names them) and waits until it is ready (its store
    open): the process and its ports by name, `http` (clients) and `admin`; `scrape_port`, the
    container port the ServiceMonitor scrapes, must be one of them."""
    env = drill_env("api-app", SHUTDOWN_DRAIN_SECS="0", WORKERS="1", **extra)
    log = open(log_path, "w")  # noqa: SIM115 - the process writes to it until the end
    proc = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT)
    ports = dict(zip(("http", "admin"), listening_ports(log_path, proc, 15)))
    wait_ready(ports["admin"], proc, 15)  # as kubelet's readiness probe does: no traffic before
    if scrape_port not in ports:
        sys.exit(f"canary-analysis: the ServiceMonitor scrapes port {scrape_port!r}, which api-app does not name")
    return proc, ports


def wait_until(what: str, check, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, RuntimeError, ValueError):
            pass
        time.sleep(0.2)
    sys.exit(f"canary-analysis: {what} within {deadline_s:.0f} s")


def traffic(port: int, stop: threading.Event) -> None:
    """About 20 API requests a second to one process, over three routes, until told to stop."""
    paths = ["/api/echo?message=canary", "/api/tasks?limit=5", "/api/health"]
    n = 0
    while not stop.is_set():
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}{paths[n % len(paths)]}", timeout=2):
                pass
        except OSError:
            pass  # the injected 500s land here, as HTTPError
        n += 1
        time.sleep(0.05)


def rendered(kustomization: str) -> list[dict]:
    out = subprocess.run(["kubectl", "kustomize", kustomization], check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def scrape_of(docs: list[dict]) -> tuple[str, str, str]:
    """What prometheus-operator makes of the app's ServiceMonitor: the job (the selected Service's
    jobLabel label, or its name), the container port it scrapes (by name, through the Service's
    targetPort) and the path.

    >>> docs = [
    ...     {"kind": "Service", "metadata": {"name": "a", "labels": {"n": "a"}},
    ...      "spec": {"ports": [{"name": "http", "targetPort": "http"}]}},
    ...     {"kind": "Service", "metadata": {"name": "a-admin", "labels": {"n": "a", "e": "admin"}},
    ...      "spec": {"ports": [{"name": "admin", "targetPort": "admin"}]}},
    ...     {"kind": "ServiceMonitor", "spec": {"jobLabel": "n", "selector": {"matchLabels": {"e": "admin"}},
    ...      "endpoints": [{"port": "admin", "path": "/metrics"}]}},
    ... ]
    >>> scrape_of(docs)
    ('a', 'admin', '/metrics')
    """
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    wanted = monitor["spec"]["selector"]["matchLabels"]
    services = [
        d for d in docs
        if d["kind"] == "Service" and all(d["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
    ]
    if len(services) != 1:
        sys.exit(f"canary-analysis: the ServiceMonitor selects {len(services)} Services, not one")
    svc, endpoint = services[0], monitor["spec"]["endpoints"][0]
    job_label = monitor["spec"].get("jobLabel")
    job = svc["metadata"]["labels"][job_label] if job_label else svc["metadata"]["name"]
    port = next(p["targetPort"] for p in svc["spec"]["ports"] if p["name"] == endpoint["port"])
    return job, port, endpoint.get("path", "/metrics")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, help="the api-app binary")
    parser.add_argument("--prometheus", default="/usr/bin/prometheus")
    parser.add_argument("--error-percent", type=int, default=10, help="the faulty canary's INJECT_ERROR_PERCENT")
    parser.add_argument("--work", default=None, help="a directory for logs and Prometheus's data")
    opts = parser.parse_args()
    work = opts.work or tempfile.mkdtemp(prefix="canary-analysis-")
    log_lines: list[str] = []

    def log(line: str) -> None:
        log_lines.append(line)

    # What the clusters run: the AnalysisTemplate, the Rollout's arguments and the recording rules.
    app_docs = rendered("k8s/overlays/dev/api-app")
    template = next(d for d in app_docs if d["kind"] == "AnalysisTemplate")
    rollout = next(d for d in app_docs if d["kind"] == "Rollout")
    step_args = next(s["analysis"]["args"] for s in rollout["spec"]["strategy"]["canary"]["steps"] if "analysis" in s)
    job_arg = next(a["value"] for a in step_args if a["name"] == "job")
    job, scrape_port, metrics_path = scrape_of(app_docs)
    groups = [g for d in rendered("k8s/overlays/dev/monitoring") if d["kind"] == "PrometheusRule" for g in d["spec"]["groups"]]
    for g in groups:
        g["interval"] = "1s"  # the drill's speed-up; the expressions are untouched
    with open(f"{work}/rules.yml", "w") as f:
        yaml.safe_dump({"groups": groups}, f)

    procs: list[subprocess.Popen] = []
    stop = threading.Event()
    try:
        targets, clients, ports_of = {}, [], {}
        for hash_, extra in [
            (STABLE, {}),
            (GOOD, {}),
            (BAD, {"INJECT_ERROR_PERCENT": str(opts.error_percent)}),
            (RESTARTED, {}),
        ]:
            proc, ports = start_app(opts.bin, f"{work}/api-app-{hash_}.log", extra, scrape_port)
            procs.append(proc)
            ports_of[hash_] = (proc, ports)
            targets[hash_] = ports[scrape_port]
            clients.append(ports["http"])
        # As prometheus-operator generates it for the ServiceMonitor: the job from its jobLabel, the
        # endpoint's path; namespace and the pod's rollouts-pod-template-hash come from Kubernetes
        # discovery labels. Prometheus scrapes itself too, as kube-prometheus-stack's does
        # (selfMonitor): the template proves its recording rules alive by their group's metrics.
        prom_port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [f"{work}/rules.yml"],
            "scrape_configs": [
                {
                    "job_name": job,
                    "metrics_path": metrics_path,
                    "static_configs": [
                        {
                            "targets": [f"{HOST}:{port}"],
                            "labels": {
                                "__meta_kubernetes_namespace": NAMESPACE,
                                "__meta_kubernetes_pod_label_rollouts_pod_template_hash": hash_,
                            },
                        }
                        for hash_, port in targets.items()
                    ],
                    "relabel_configs": [
                        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                        {
                            "source_labels": ["__meta_kubernetes_pod_label_rollouts_pod_template_hash"],
                            "target_label": "rollouts_pod_template_hash",
                        },
                    ],
                },
                {"job_name": "prometheus", "static_configs": [{"targets": [f"{HOST}:{prom_port}"]}]},
            ],
        }
        with open(f"{work}/prometheus.yml", "w") as f:
            yaml.safe_dump(config, f)
        prom_log = open(f"{work}/prometheus.log", "w")  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                [
                    opts.prometheus,
                    f"--config.file={work}/prometheus.yml",
                    f"--storage.tsdb.path={work}/data",
                    f"--web.listen-address={HOST}:{prom_port}",
                ],
                stdout=prom_log,
                stderr=subprocess.STDOUT,
            )
        )
        prometheus = f"http://{HOST}:{prom_port}"
        wait_until("Prometheus was not ready", lambda: urllib.request.urlopen(f"{prometheus}/-/ready", timeout=1).status == 200, 20)

        # One canary's process dies and starts again once Prometheus has seen it, on the same ports
        # (a container restarted in its pod): nothing but the restart tells its counters started over.
        started = f'process_start_time_seconds{{rollouts_pod_template_hash="{RESTARTED}"}}'
        wait_until("the canary to be restarted was not scraped", lambda: query(prometheus, started), 20)
        old, ports = ports_of[RESTARTED]
        old.kill()
        old.wait(timeout=10)
        again = {"PORT": str(ports["http"]), "ADMIN_PORT": str(ports["admin"])}
        procs.append(start_app(opts.bin, f"{work}/api-app-{RESTARTED}-again.log", again, scrape_port)[0])

        # Every process scraped since (the restore budget counts discovery before the analysis).
        wait_until(
            "Prometheus did not scrape every process",
            lambda: query(prometheus, f'count(up{{job="{job}"}} == 1)') == [float(len(targets))],
            20,
        )
        # And Prometheus's own metrics, as a cluster's long-running one has them before any release.
        wait_until(
            "Prometheus did not scrape itself",
            lambda: query(prometheus, "prometheus_rule_group_last_evaluation_timestamp_seconds"),
            20,
        )
        # As after setWeight: the requests begin as the analysis does.
        for port in clients:
            threading.Thread(target=traffic, args=(port, stop), daemon=True).start()
        args = {"job": job_arg, "namespace": NAMESPACE}
        verdicts = {}
        threads = []

        def run(hash_: str) -> None:
            verdicts[hash_] = analyse(prometheus, template, {**args, "canary-hash": hash_}, log)

        for hash_ in (GOOD, BAD, STABLE, RESTARTED):
            t = threading.Thread(target=run, args=(hash_,))
            t.start()
            threads.append(t)
        for t in threads:
            t.join(timeout=180)
        # The same guard for the healthy canary, had the recording rules' group not been loaded
        # (another group name): it must read 0, failing the canary, rather than let the SLO ratios'
        # empty results pass it.
        guard = next(m for m in template["spec"]["metrics"] if m["name"] == "canary-is-measured")
        without_rules = substitute(guard["provider"]["prometheus"]["query"], {**args, "canary-hash": GOOD})
        unloaded = query(prometheus, without_rules.replace("canary[.]recording", "canary[.]not-loaded"))
    finally:
        stop.set()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    problems = []
    good_phase, good_s, good_runs = verdicts[GOOD]
    if good_phase != "Successful" or any(p != "Successful" for r in good_runs for p in r.phases):
        problems.append(f"the healthy canary did not pass every measurement ({good_phase})")
    stable_phase, _, _ = verdicts[STABLE]
    if stable_phase != "Successful":
        problems.append(f"stable's own pods were judged {stable_phase}: the faulty canary's errors leaked to them")
    bad_phase, bad_s, bad_runs = verdicts[BAD]
    failed = [r for r in bad_runs if r.phase() == "Failed"]
    availability = next(r for r in bad_runs if r.name.startswith("availability"))
    allowed = duration_s(availability.spec["interval"]) * (int(availability.spec["failureLimit"]) + 1)
    if bad_phase != "Failed" or availability not in failed:
        problems.append(f"the faulty canary was judged {bad_phase}, not Failed on its 5xx ratio")
    elif bad_s > allowed + 2:  # 2 s for the queries themselves
        problems.append(f"the faulty canary failed after {bad_s:.1f} s, over (failureLimit + 1) x interval = {allowed:.0f} s")
    if unloaded != [0.0]:
        problems.append(f"canary-is-measured read {unloaded} without the recording rules' group, not [0]")
    restarted_phase, restarted_s, restarted_runs = verdicts[RESTARTED]
    restart = next((r for r in restarted_runs if "restart" in r.name), None)
    within = duration_s(restart.spec["interval"]) if restart else 0
    if restart is None:
        problems.append("no metric of the template judges a canary's restarts")
    elif restarted_phase != "Failed" or restart.phase() != "Failed":
        problems.append(f"the restarted canary was judged {restarted_phase}, not Failed on its restart")
    elif restarted_s > within + 2:
        problems.append(f"the restarted canary failed after {restarted_s:.1f} s, over two measurements ({within:.0f} s)")
    if problems:
        print("\n".join(log_lines))
        for name in sorted(os.listdir(work)):
            if name.endswith(".log"):
                print(f"--- {name} (last 10 lines)")
                print("".join(open(f"{work}/{name}").readlines()[-10:]))
        sys.exit("canary-analysis: " + "; ".join(problems))
    print(
        f"canary analysis (real Prometheus, AnalysisTemplate {template['metadata']['name']}): healthy canary passed "
        f"{sum(len(r.phases) for r in good_runs)} measurements in {good_s:.0f} s; a canary with "
        f"{opts.error_percent} % injected 5xx failed {availability.name} after {bad_s:.1f} s "
        f"((failureLimit + 1) x interval = {allowed:.0f} s); a restarted canary failed {restart.name} after "
        f"{restarted_s:.1f} s; stable's pods passed; without the recording rules the canary is not measured"
    )


if __name__ == "__main__":
    main()
