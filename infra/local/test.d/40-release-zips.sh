#!/usr/bin/env bash
# stage: offline
# The arm64 release build a deployment ships (what `sam build` runs per function), once per
# test run: one zip per Lambda package under functions/ (not the commands), each checked to hold a single aarch64
# `bootstrap`, with a size table printed and written to $CARGO_TARGET_DIR/lambda/sizes.txt.
# Later stages (benchmarks) reuse the zips from $CARGO_TARGET_DIR/lambda/<function>/bootstrap.zip.
# RELEASE_ZIPS=skip skips it for quick local runs; CI never sets it.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$REPO_ROOT"
export PATH="$VENV/bin:$PATH"
# A zip above this is a dependency gone wrong (they are about 1-3 MB); override to investigate.
ZIP_BUDGET_BYTES=${ZIP_BUDGET_BYTES:-10485760}

if [ "${RELEASE_ZIPS:-}" = skip ]; then
  log "RELEASE_ZIPS=skip: not building the release zips"
  exit 0
fi
command -v cargo-lambda >/dev/null || die "cargo-lambda is missing from .local/venv: run infra/local/setup.sh"

# The Lambda packages under functions/ (not the ones marked as commands: lambda_packages.py).
packages=$("$VENV/bin/python" infra/local/lambda_packages.py)
[ -n "$packages" ] || die "no Lambda packages under functions/"
args=()
for p in $packages; do args+=(-p "$p"); done

# The sources measured: the commit when the build starts (+changes when the tree differs).
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo '+changes')"
# Zips older than this build must not pass for its output.
marker="$RUN_DIR/release-build.start"
mkdir -p "$RUN_DIR"
touch "$marker"
log "cargo lambda build --release --arm64 --output-format zip ${args[*]} (target dir $CARGO_TARGET_DIR)"
start=$(date +%s)
cargo lambda build --release --arm64 --output-format zip "${args[@]}" \
  || die "the arm64 release build failed"
secs=$(( $(date +%s) - start ))

zip_dir="$CARGO_TARGET_DIR/lambda"
"$VENV/bin/python" - "$zip_dir" "$marker" "$ZIP_BUDGET_BYTES" "$commit" "$secs" $packages <<'PY' \
  || die "the release zips are not what a deployment needs (see above)"
import datetime, os, stat, sys, zipfile

zip_dir, marker, budget, commit, secs, *functions = sys.argv[1:]
budget, not_before = int(budget), os.path.getmtime(marker)
rows, problems = [], []
for fn in functions:
    path = os.path.join(zip_dir, fn, "bootstrap.zip")
    if not os.path.exists(path):
        problems.append(f"{fn}: no zip at {path}")
        continue
    if os.path.getmtime(path) < not_before:
        problems.append(f"{fn}: {path} was not written by this build")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        if names != ["bootstrap"]:
            problems.append(f"{fn}: the zip holds {names}, not just bootstrap")
            continue
        info = z.getinfo("bootstrap")
        head = z.read("bootstrap")[:20]
    # ELF, 64-bit, little-endian, e_machine 183 = AArch64: what Architectures [arm64] runs.
    if head[:4] != b"\x7fELF" or head[4] != 2 or int.from_bytes(head[18:20], "little") != 183:
        problems.append(f"{fn}: bootstrap is not an aarch64 ELF executable")
    if not (info.external_attr >> 16) & stat.S_IXUSR:
        problems.append(f"{fn}: bootstrap is not executable in the zip")
    size = os.path.getsize(path)
    if size > budget:
        problems.append(f"{fn}: {size} bytes is over the {budget}-byte budget (ZIP_BUDGET_BYTES)")
    rows.append((fn, size, info.file_size))

when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
lines = [
    f"# arm64 release zips (cargo lambda build --release --arm64 --output-format zip), "
    f"commit {commit}, {when}, build {secs} s",
    f"{'function':<16} {'zip bytes':>10} {'zip MiB':>8} {'bootstrap bytes':>16}",
]
lines += [f"{fn:<16} {z:>10} {z / 1048576:>8.2f} {b:>16}" for fn, z, b in rows]
lines.append(f"zips: {zip_dir}/<function>/bootstrap.zip")
report = "\n".join(lines) + "\n"
print(report, end="")
with open(os.path.join(zip_dir, "sizes.txt"), "w") as f:
    f.write(report)
for p in problems:
    print(f"release zips: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
echo "size table written to $zip_dir/sizes.txt"
