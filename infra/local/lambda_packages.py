#!/usr/bin/env python3
"""The Lambda functions under functions/, one package name per line, in name order: what the
release stage zips and what the perf harness measures. Every package there is a Lambda unless
its Cargo.toml says it is not, with either of

    [package.metadata.cello]
    kind = "command"          # a CLI (the doctor, say): built and tested, never zipped or measured

    [package.metadata.lambda]
    deploy = false

With --perf, each line is `name<TAB>event<TAB>driver flags` from the package's own

    [package.metadata.cello.perf]
    event = "events/stripe/invoice-paid.json"   # a realistic event (fixture, .expect.json beside it)
    args = ["--stripe", "--fresh-each"]         # runtime_api flags (see tools/src/bin/runtime_api.rs)

(event empty when the package declares none). Usage: lambda_packages.py [--perf] [REPO]"""
import pathlib
import sys
import tomllib


def lambda_packages(repo: pathlib.Path):
    for manifest in sorted((repo / "functions").glob("*/Cargo.toml")):
        pkg = tomllib.loads(manifest.read_text())["package"]
        meta = pkg.get("metadata", {})
        if meta.get("cello", {}).get("kind", "lambda") != "lambda":
            continue
        if meta.get("lambda", {}).get("deploy", True) is False:
            continue
        yield pkg["name"], meta.get("cello", {}).get("perf", {})


def main(argv):
    perf = "--perf" in argv
    rest = [a for a in argv if a != "--perf"]
    repo = pathlib.Path(rest[0]) if rest else pathlib.Path(__file__).resolve().parents[2]
    for name, perf_meta in lambda_packages(repo):
        if perf:
            args = perf_meta.get("args", [])
            print(f"{name}\t{perf_meta.get('event', '')}\t{' '.join(args)}")
        else:
            print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
