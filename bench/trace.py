"""Tracer benchmark: one command, one table.

    .venv/bin/python bench/trace.py [--workers 2] [--limit 800]

On the 800 CRUXEval samples, in one run:
  (a) the sandboxed tracer with warm workers (a zygote per worker, a pre-forked child per
      run, namespaces where Linux allows them), every traced return checked against the
      output: per-call p50 and p95 one call at a time (targets: p50 <= 3 ms, p95 <= 25 ms),
      both back to back and with a pause before each call as an editor sends them; and
      total wall time, p50 and p95 with one caller per worker, every core busy (the same
      targets are shown against these too);
  (b) the naive safe way: a fresh `python -I -c` per sample, no tracing at all (just
      `assert f(input) == output`), with as many parallel processes as (a) has workers:
      (a) should be >= 5x faster in total;
  (c) pysnooper (what SemCoder's authors used) in this process, unisolated, writing its
      trace of each call to a string: the throughput ratio (a)/(c) (ambition >= 1.0 with
      both cores).
It also prints what preloading numpy in the zygotes saves a run that uses it, and costs one
that does not (Tracer(preload=...)), and, measured in the same run, two floors that move
with the machine: the CPU
one fork + exit of an idle interpreter costs here (under any process-per-run isolation),
and the tracer's own per-call latency when `f` only returns (its whole pipeline, before a
sample does any work).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil  # noqa: E402
from common import REPO_ROOT, cpu_used_elsewhere, log, print_table, warn_if_busy  # noqa: E402

from semcoder_inference.tracer import Tracer  # noqa: E402

# An editor's requests come with pauses (the user reads the hover); while idle, a spare
# child rehearses a run (see inference/tracer/runtime.py), and the machine itself cools.
EDITOR_PAUSE_S = 0.03
CRUXEVAL = REPO_ROOT.parent / "shared" / "benchmarks" / "cruxeval" / "cruxeval.jsonl"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _cpu_s(process: psutil.Process, with_children: bool = True) -> float:
    times = process.cpu_times()
    total = times.user + times.system
    return total + (times.children_user + times.children_system if with_children else 0.0)


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_parts(zygotes: list[psutil.Process]) -> tuple[float, float, float]:
    """CPU seconds so far of this process (the server), the zygotes themselves, and the
    children they forked and reaped (the runs)."""
    times = [z.cpu_times() for z in zygotes]
    return (_own_cpu_s(), sum(t.user + t.system for t in times),
            sum(t.children_user + t.children_system for t in times))


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_tracer(rows: list[dict], workers: int, callers: int | None = None, pause_s: float = 0.0) -> dict:
    """`callers` threads send requests (default: one per worker, which keeps every core busy;
    1 is an editor's use, one request at a time). `pause_s`: idle time before each request
    (an editor's user reading the last hover), not counted in the wall time."""
    with Tracer(workers=workers) as tracer:
        isolation = tracer.isolation_info
        # Warm every zygote (start-up is not per call). The pool starts the ones a first
        # call did not need in the background: wait for them, so that all are measured.
        deadline = time.monotonic() + 60
        while True:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda _: tracer.trace_call("def f():\n    return 1\n", "f()"), range(workers * 4)))
            if len(tracer.worker_pids) >= workers or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        zygotes = [psutil.Process(pid) for pid in tracer.worker_pids]
        cpu_before = _own_cpu_s() + sum(_cpu_s(z) for z in zygotes)
        parts_before = _cpu_parts(zygotes)

        def run(row):
            if pause_s:
                time.sleep(pause_s)
            start = time.perf_counter()
            trace = tracer.trace_call(row["code"], f"f({row['input']})", filename=f"/cruxeval/{row['id']}.py",
                                      expect=row["output"])
            elapsed = time.perf_counter() - start
            return elapsed, trace

        start = time.perf_counter()
        with ThreadPoolExecutor(callers or workers) as pool:
            results = list(pool.map(run, rows))
        wall = time.perf_counter() - start - pause_s * len(rows) / (callers or workers)
        # The zygotes reap their children, so their CPU includes every run's.
        cpu = _own_cpu_s() + sum(_cpu_s(z) for z in zygotes) - cpu_before
        parts = [after - before for after, before in zip(_cpu_parts(zygotes), parts_before)]
    latencies = [r[0] for r in results]
    passed = sum(1 for _, t in results if t["status"] == "ok" and (t.get("assertion") or {}).get("passed"))
    events = sum(len(t["events"]) for _, t in results)
    return {"wall": wall, "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
            "passed": passed, "events": events, "isolation": isolation, "cpu": cpu,
            "cpu_parts": parts}


def bench_naive(rows: list[dict], workers: int) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def run(row):
        program = f"{row['code']}\nassert f({row['input']}) == {row['output']}\n"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-I", "-c", program], capture_output=True, env=env, timeout=30)
        return time.perf_counter() - start, proc.returncode == 0

    cpu_before = _own_cpu_s() + _children_cpu_s()
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(run, rows))
    wall = time.perf_counter() - start
    cpu = _own_cpu_s() + _children_cpu_s() - cpu_before
    latencies = [r[0] for r in results]
    return {"wall": wall, "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
            "passed": sum(1 for _, ok in results if ok), "cpu": cpu}


_FORK_FLOOR = """
import os, resource
def cpu():
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime
n = 300
before = cpu()
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
print((cpu() - before) / n)
"""


def bench_fork_floor() -> float:
    """CPU seconds of one fork + exit of an interpreter that runs nothing: what any
    process-per-run isolation pays on this machine before doing any work (context for
    the absolute latency targets; it moves with the machine's speed)."""
    out = subprocess.run([sys.executable, "-I", "-c", _FORK_FLOOR], capture_output=True, text=True, timeout=120)
    return float(out.stdout.strip())


def bench_pysnooper(rows: list[dict]) -> dict:
    import pysnooper

    latencies = []
    passed = 0
    trace_chars = 0
    cpu_before = _own_cpu_s()
    start = time.perf_counter()
    for row in rows:
        began = time.perf_counter()
        namespace: dict = {}
        out = io.StringIO()
        try:
            exec(compile(row["code"], f"/cruxeval/{row['id']}.py", "exec"), namespace)
            namespace["f"] = pysnooper.snoop(output=out, color=False)(namespace["f"])
            value = eval(f"f({row['input']})", namespace)
            passed += value == eval(row["output"], namespace)
        except Exception:
            pass
        trace_chars += len(out.getvalue())
        latencies.append(time.perf_counter() - began)
    wall = time.perf_counter() - start
    cpu = _own_cpu_s() - cpu_before
    return {"wall": wall, "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
            "passed": passed, "chars": trace_chars, "cpu": cpu}


def _empty_rows(n: int) -> list[dict]:
    """n distinct modules whose `f` only returns: what the tracer's pipeline costs per
    call (request, spare child, sandbox, result) before a sample does any work of its own."""
    return [{"id": f"empty_{i}", "code": f"def f():\n    return {i}\n", "input": "", "output": str(i)}
            for i in range(n)]


_USES_NUMPY = "import numpy as np\n\ndef f(values):\n    return float(np.mean(values))\n"
_PLAIN = "def f(values):\n    return sum(values) / len(values)\n"


def bench_preload(runs: int = 25) -> dict:
    """p50 of a run that uses numpy and of one that does not, with and without numpy
    preloaded by the zygotes (Tracer(preload=...)): what preloading saves, and what the
    larger zygote costs every other run."""
    out = {}
    for preload in ((), ("numpy",)):
        with Tracer(workers=1, preload=preload) as tracer:
            tracer.trace_call(_PLAIN, "f([1])")
            for name, source in (("numpy", _USES_NUMPY), ("plain", _PLAIN)):
                latencies = []
                for i in range(runs):
                    start = time.perf_counter()
                    trace = tracer.trace_call(source, f"f([1, 2, {i}])")
                    latencies.append(time.perf_counter() - start)
                    assert trace["status"] == "ok", trace["message"]
                out[(name, bool(preload))] = percentile(latencies, 0.5)
    return out


def latency_row(measure: str, seconds: float, limit_s: float) -> list[str]:
    return [measure, f"{seconds * 1000:.2f} ms", f"<= {limit_s * 1000:g} ms", "yes" if seconds <= limit_s else "no"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="tracer workers and naive parallelism (default 2)")
    parser.add_argument("--limit", type=int, default=800, help="samples to use (default all 800)")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in CRUXEVAL.read_text().splitlines() if line.strip()][: args.limit]
    n = len(rows)
    load_before = os.getloadavg()[0]
    elsewhere = cpu_used_elsewhere()
    log(f"{n} CRUXEval samples; {os.cpu_count()} CPUs; load average {load_before:.2f}; "
        f"other processes using {elsewhere:.2f} CPUs")
    log("tracer ...")
    ours = bench_tracer(rows, args.workers)
    log("tracer, one call at a time ...")
    single = bench_tracer(rows, args.workers, callers=1)
    log(f"tracer, one call every {EDITOR_PAUSE_S * 1000:g} ms ...")
    paced = bench_tracer(rows, args.workers, callers=1, pause_s=EDITOR_PAUSE_S)
    log("tracer, one call at a time, a function that only returns ...")
    empty = bench_tracer(_empty_rows(n), args.workers, callers=1)
    floor = bench_fork_floor()
    log("naive fresh interpreters ...")
    naive = bench_naive(rows, args.workers)
    log("pysnooper ...")
    snoop = bench_pysnooper(rows)
    log("preloading numpy ...")
    preload = bench_preload()

    def row(name, r, extra):
        return [name, f"{r['wall']:.2f}", f"{r['p50'] * 1000:.2f}", f"{r['p95'] * 1000:.2f}",
                f"{n / r['wall']:.0f}", f"{r['cpu'] / n * 1000:.2f}", f"{r['passed']}/{n}", extra]

    iso = ours["isolation"]
    spaces = "user+net+mount+pid" if iso.get("pid_namespace") else "user+net+mount"
    if iso.get("own_proc"):
        spaces += ", own /proc"
    mode = f"namespaces ({spaces}) + audit hook + rlimits" if iso.get("namespaces") else "audit hook + rlimits"
    if iso.get("syscall_filter"):
        mode += " + seccomp filter"
    if iso.get("landlock"):
        mode += " + Landlock"
    planned = iso.get("prefault") or {}
    calls = "one system call" if planned.get("one_call") else "a system call per range"
    prefaulting = f"spares copy {planned['pages']} pages as they are forked, {calls}" if planned.get("pages") else \
        f"no pages copied at once: {planned.get('error')}"
    print_table(
        f"Tracer on {n} CRUXEval samples ({args.workers} workers; isolation: {mode}; {prefaulting}; "
        f"Python {iso.get('python')}; "
        f"{os.cpu_count()} CPUs, load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after; "
        f"other processes using {elsewhere:.2f} CPUs before)",
        ["method", "total s", "p50 ms", "p95 ms", "calls/s", "CPU ms/call", "correct", "notes"],
        [
            row("semcoder tracer (sandboxed, traced)", ours, f"{ours['events']} events, {args.workers} callers"),
            row("same, one call at a time, back to back", single, "latency, not throughput"),
            row(f"same, {EDITOR_PAUSE_S * 1000:g} ms pause before each call", paced,
                "an editor's pace; pauses not counted"),
            row("same pipeline, f only returns, one at a time", empty, "the floor under every sample"),
            row("naive: fresh python -I per sample", naive, f"{args.workers} in parallel, no tracing"),
            row("pysnooper in process (unisolated)", snoop, f"1 process, {snoop['chars']} trace chars"),
        ],
    )
    print_table(
        "Targets",
        ["measure", "value", "target", "met"],
        [
            *(latency_row(f"tracer {q} per call, {how}", result[q], limit)
              for how, result in (("one at a time", single), (f"{EDITOR_PAUSE_S * 1000:g} ms apart", paced),
                                  ("all cores busy", ours))
              for q, limit in (("p50", 0.003), ("p95", 0.025))),
            ["naive total / tracer total", f"{naive['wall'] / ours['wall']:.1f}x", ">= 5x",
             "yes" if naive["wall"] / ours["wall"] >= 5 else "no"],
            ["tracer throughput / pysnooper", f"{snoop['wall'] / ours['wall']:.2f}x", ">= 1.0x (ambition)",
             "yes" if snoop["wall"] / ours["wall"] >= 1.0 else "no"],
            ["naive CPU / tracer CPU (load-independent)", f"{naive['cpu'] / ours['cpu']:.1f}x", "", ""],
            ["pysnooper CPU / tracer CPU", f"{snoop['cpu'] / ours['cpu']:.2f}x", "", ""],
            ["floor: p50 of the pipeline, f only returns", f"{empty['p50'] * 1000:.2f} ms", "(one at a time)", ""],
            ["floor: fork + exit of an idle interpreter", f"{floor * 1000:.2f} ms CPU", "(this machine now)", ""],
            ["tracer CPU ms/call: server / zygotes / runs",
             " / ".join(f"{part / n * 1000:.2f}" for part in ours["cpu_parts"]), "(breakdown)", ""],
            ["a run using numpy, p50: cold / numpy preloaded",
             f"{preload[('numpy', False)] * 1000:.1f} / {preload[('numpy', True)] * 1000:.1f} ms "
             f"({preload[('numpy', False)] / preload[('numpy', True)]:.0f}x)", "(Tracer(preload=...))", ""],
            ["a run not using numpy, p50: plain / numpy preloaded",
             f"{preload[('plain', False)] * 1000:.2f} / {preload[('plain', True)] * 1000:.2f} ms", "(its cost)", ""],
        ],
    )
    warn_if_busy(elsewhere)
    return 0


if __name__ == "__main__":
    sys.exit(main())
