"""The load script's table: for each body size and target, the median and
the spread (lowest-highest) over the runs of each figure wrk and /proc gave,
and the ratio of requests/s and p99 to nginx's medians.

Usage: summarize.py RESULTS-DIR RUNS (RESULTS-DIR/<size>/<target> holds one
RESULT line per run; <target>.rss the peak RSS in MiB)."""

import os
import statistics
import sys

LABELS = {
    "direct": "direct (upstream)",
    "nginx": "nginx proxy_pass",
    "floor": "floor (tokio, HMAC, no checks)",
    "unsigned": "hookfence unsigned",
    "github": "hookfence github",
    "memory": "hookfence memory (store filled)",
    "redis": "hookfence redis",
    "queued": "hookfence queued",
}


def parse(line):
    values = {}
    for field in line.split()[1:]:
        if "=" in field:
            key, value = field.split("=", 1)
            try:
                values[key] = float(value)
            except ValueError:
                pass
    return values


def spread(numbers, digits):
    median = statistics.median(numbers)
    if len(numbers) == 1:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({min(numbers):.{digits}f}–{max(numbers):.{digits}f})"


def main():
    root, runs = sys.argv[1], sys.argv[2]
    print(f"Medians of {runs} interleaved runs, (lowest–highest) after each.")
    print()
    print("| body | target | requests/s | ×nginx | p50 ms | p99 ms | p99 ×nginx | non-200 | proxy CPU µs/request (user + system) | upstream CPU µs/request | idle µs/request | peak RSS MiB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sorted(os.listdir(root), key=int):
        folder = os.path.join(root, size)
        results = {}
        for target in LABELS:
            path = os.path.join(folder, target)
            if os.path.exists(path):
                with open(path) as f:
                    results[target] = [parse(line) for line in f if line.startswith("RESULT")]
        nginx = results.get("nginx")
        nginx_rps = statistics.median(r["rps"] for r in nginx) if nginx else None
        nginx_p99 = statistics.median(r["p99_ms"] for r in nginx) if nginx else None
        for target, rows in results.items():
            rps = [r["rps"] for r in rows]
            p99 = [r["p99_ms"] for r in rows]
            cpu = [r.get("user_us", 0) + r.get("system_us", 0) for r in rows]
            user = statistics.median(r.get("user_us", 0) for r in rows)
            system = statistics.median(r.get("system_us", 0) for r in rows)
            rss_path = os.path.join(folder, f"{target}.rss")
            rss = open(rss_path).read().strip() if os.path.exists(rss_path) else "—"
            ratio = f"{statistics.median(rps) / nginx_rps:.2f}" if nginx_rps else "—"
            p99_ratio = f"{statistics.median(p99) / nginx_p99:.2f}" if nginx_p99 else "—"
            print(
                f"| {int(size) // 1024} KiB | {LABELS[target]} | {spread(rps, 0)} | {ratio} "
                f"| {spread([r['p50_ms'] for r in rows], 3)} | {spread(p99, 3)} | {p99_ratio} "
                f"| {int(sum(r.get('non200', 0) for r in rows))} "
                f"| {spread(cpu, 1)} ({user:.1f} + {system:.1f}) "
                f"| {spread([r.get('upstream_us', 0) for r in rows], 1)} "
                f"| {spread([r.get('idle_us', 0) for r in rows], 1)} | {rss} |"
            )


main()
