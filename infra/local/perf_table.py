#!/usr/bin/env python3
"""Formats the perf harness's raw figures (infra/local/perf.sh) as Markdown tables with the
issue's targets: runtime.jsonl (Runtime API runs), zips.tsv (arm64 zip sizes), benches.tsv
(criterion estimates). Usage: perf_table.py DIR. MB here is 10^6 bytes."""
import json
import pathlib
import sys

# Performance round 2: init ≤ 10 ms and peak RSS ≤ 10 MB for every function; arm64 zips
# ≤ 3 MB without Stripe, ≤ 5 MB with it.
TARGETS = {"init_ms": 10.0, "rss_mb": 10.0}
STRIPE_FUNCTIONS = {"signup", "checkout"}
ZIP_TARGET_MB, ZIP_TARGET_STRIPE_MB = 3.0, 5.0
STAGES = [
    ("runtimeStart", "process start → init (exec, tokio, tracing)"),
    ("config", "config"),
    ("sdkConfig", "AWS SDK config"),
    ("secretsClient", "secrets client"),
    ("secretRead", "secret read"),
    ("table", "DynamoDB client"),
    ("functionSetupAndRuntime", "function setup + runtime → first /next"),
]


def mark(value, target):
    return "" if target is None else (" ✓" if value <= target else " ✗")


def bench_target_us(package, bench_id):
    if package == "cello-token" and "mint" in bench_id:
        return 5.0
    if package == "stripe-webhook" and "verify" in bench_id and "1 secret" in bench_id:
        return 8.0
    return None


def main(out: pathlib.Path) -> int:
    runtime = [json.loads(l) for l in (out / "runtime.jsonl").read_text().splitlines() if l.strip()]
    zips = {}
    if (out / "zips.tsv").exists():
        for line in (out / "zips.tsv").read_text().splitlines():
            fn, size = line.split("\t")
            zips[fn] = int(size) / 1e6

    print("| function (event) | init, ms (≤ 10) | first invocation, ms | warm invocation, ms (p90) | peak RSS, MB (≤ 10) | arm64 zip, MB |")
    print("|---|---|---|---|---|---|")
    for r in runtime:
        fn = r["function"]
        init = r["initUs"] / 1e3
        lo, hi = (v / 1e3 for v in r["initUsIqr"])
        rss = r["rssKb"] * 1024 / 1e6
        zip_mb = zips.get(fn)
        zip_target = ZIP_TARGET_STRIPE_MB if fn in STRIPE_FUNCTIONS else ZIP_TARGET_MB
        zip_cell = "n/a" if zip_mb is None else f"{zip_mb:.2f} (≤ {zip_target:g}){mark(zip_mb, zip_target)}"
        event = pathlib.Path(r["event"]).stem + (", fresh each" if r.get("freshEach") else "")
        warm_status = "/".join(str(s) for s in r["warmStatuses"]) or "-"
        print(
            f"| {fn} ({event}; {r['firstStatus']}, then {warm_status}) "
            f"| {init:.1f} [{lo:.1f}–{hi:.1f}]{mark(init, TARGETS['init_ms'])} "
            f"| {r['firstUs'] / 1e3:.2f} "
            f"| {r['warmUs'] / 1e3:.3f} ({r['warmP90Us'] / 1e3:.3f}) "
            f"| {rss:.1f}{mark(rss, TARGETS['rss_mb'])} "
            f"| {zip_cell} |"
        )
    print()
    print("Init breakdown, medians in ms:")
    print()
    print("| function | " + " | ".join(label for _, label in STAGES) + " |")
    print("|---|" + "---|" * len(STAGES))
    for r in runtime:
        stages = r.get("initStagesUs", {})
        cells = [f"{stages[k] / 1e3:.2f}" if k in stages else "-" for k, _ in STAGES]
        print(f"| {r['function']} | " + " | ".join(cells) + " |")
    print()
    print("In-process benchmarks (criterion), medians:")
    print()
    print("| benchmark | median | target |")
    print("|---|---|---|")
    if (out / "benches.tsv").exists():
        for line in (out / "benches.tsv").read_text().splitlines():
            package, bench_id, source = line.split("\t")
            if source == "missing":
                print(f"| {package} `{bench_id}` | not written yet | |")
                continue
            ns = json.loads(pathlib.Path(source).read_text())["median"]["point_estimate"]
            us = ns / 1e3
            target = bench_target_us(package, bench_id)
            target_cell = "" if target is None else f"≤ {target:g} µs{mark(us, target)}"
            print(f"| {package} `{bench_id}` | {us:.2f} µs | {target_cell} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
