#!/usr/bin/env python3
"""Formats the perf harness's raw figures (infra/local/perf.sh) as Markdown tables with the
issue's targets: runtime.jsonl (Runtime API runs), zips.tsv (arm64 zip sizes), benches.tsv
(criterion estimates). Usage: perf_table.py DIR. MB here is 10^6 bytes."""
import json
import pathlib
import sys
import tomllib

# Performance round 2: init ≤ 10 ms and peak RSS ≤ 10 MB for every function, warm handler
# overhead beyond the round trips ≤ 0.3 ms; arm64 zips ≤ 3 MB without Stripe, ≤ 5 MB with it.
TARGETS = {"init_ms": 10.0, "rss_mb": 10.0, "overhead_ms": 0.3}
ZIP_TARGET_MB, ZIP_TARGET_STRIPE_MB = 3.0, 5.0
REPO = pathlib.Path(__file__).resolve().parents[2]
# Known init stages (shared/src/init.rs) in order, with their labels; others are appended.
STAGES = [
    ("runtimeStart", "process start → init (exec, tokio, tracing)"),
    ("config", "config"),
    ("sdkConfig", "AWS SDK config"),
    ("secretsClient", "secrets client (with the HTTPS client: TLS roots)"),
    ("secretRead", "secret read"),
    ("table", "DynamoDB client"),
    ("secretReadAndTable", "secret read (the DynamoDB client built meanwhile)"),
    ("functionSetupAndRuntime", "function setup + runtime → first /next"),
]


def uses_stripe(function: str) -> bool:
    """A function that calls Stripe: it depends on an async-stripe crate or on shared's `stripe` feature."""
    manifest = REPO / "functions" / function / "Cargo.toml"
    if not manifest.exists():
        return False
    deps = tomllib.loads(manifest.read_text()).get("dependencies", {})
    shared = deps.get("shared", {})
    return any(d.startswith("async-stripe") for d in deps) or (isinstance(shared, dict) and "stripe" in shared.get("features", []))


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

    print(
        "| function (event; first, then warm statuses) | init, ms (≤ 10) | peak RSS, MB (≤ 10) "
        "| warm invocation, ms (p90) | its round trips, ms (calls) | warm overhead, ms (≤ 0.3) "
        "| of which outside the handler, ms | first invocation, ms | arm64 zip, MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runtime:
        fn = r["function"]
        zip_mb = zips.get(fn)
        zip_target = ZIP_TARGET_STRIPE_MB if uses_stripe(fn) else ZIP_TARGET_MB
        zip_cell = "n/a" if zip_mb is None else f"{zip_mb:.2f} (≤ {zip_target:g}){mark(zip_mb, zip_target)}"
        if "notMeasured" in r:
            print(f"| {fn} | not measured: {r['notMeasured']} | | | | | | | {zip_cell} |")
            continue
        init = r["initUs"] / 1e3
        lo, hi = (v / 1e3 for v in r["initUsIqr"])
        rss = r["rssKb"] * 1024 / 1e6
        event = pathlib.Path(r["event"]).stem + (", fresh each" if r.get("freshEach") else "")
        warm_status = "/".join(str(s) for s in r["warmStatuses"]) or "-"
        if "warmOverheadUs" in r:
            trips = f"{r['warmRoundTripUs'] / 1e3:.3f} ({r['warmCalls']})"
            over = r["warmOverheadUs"] / 1e3
            olo, ohi = (v / 1e3 for v in r["warmOverheadUsIqr"])
            over_cell = f"{over:.3f} [{olo:.3f}–{ohi:.3f}]{mark(over, TARGETS['overhead_ms'])}"
        else:
            trips, over_cell = "-", "-"
        outside = r.get("warmOutsideHandlerUs")
        outside_cell = "-" if outside is None else f"{outside / 1e3:.3f}"
        print(
            f"| {fn} ({event}; {r['firstStatus']}, then {warm_status}) "
            f"| {init:.1f} [{lo:.1f}–{hi:.1f}]{mark(init, TARGETS['init_ms'])} "
            f"| {rss:.1f}{mark(rss, TARGETS['rss_mb'])} "
            f"| {r['warmUs'] / 1e3:.3f} ({r['warmP90Us'] / 1e3:.3f}) "
            f"| {trips} | {over_cell} | {outside_cell} "
            f"| {r['firstUs'] / 1e3:.2f} "
            f"| {zip_cell} |"
        )
    print()
    print("Init breakdown, medians in ms (each stage's median over the cold starts; init is the median of the totals):")
    print()
    measured = [r for r in runtime if "notMeasured" not in r]
    keys = [k for k, _ in STAGES]
    for r in measured:
        for k in r.get("initStagesUs", {}):
            if k not in keys:
                keys.insert(len(keys) - 1, k)
    present = [k for k in keys if any(k in r.get("initStagesUs", {}) for r in measured)]
    labels = dict(STAGES)
    print(
        "| function | " + " | ".join(labels.get(k, k) for k in present)
        + " | init | the secret's stand-in alone (plain HTTP, beside) |"
    )
    print("|---|" + "---|" * (len(present) + 2))
    for r in measured:
        stages = r.get("initStagesUs", {})
        cells = [f"{stages[k] / 1e3:.2f}" if k in stages else "-" for k in present]
        alone = f"{r['secretRoundTripUs'] / 1e3:.2f}" if r.get("secretRoundTripUs") else "-"
        print(f"| {r['function']} | " + " | ".join(cells) + f" | {r['initUs'] / 1e3:.2f} | {alone} |")
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
