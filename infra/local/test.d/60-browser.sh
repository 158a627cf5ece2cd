#!/usr/bin/env bash
# stage: beside
# The demo page (examples/frontend) in a real browser: Debian's Chromium driven by
# playwright-core, against the functions `cargo lambda watch` serves and the test stand-ins.
# Installs what it needs if missing (Debian's chromium; playwright-core into the ignored
# examples/frontend/node_modules), serves the page and the Cello stand-in, runs the test.
# UPDATE_SCREENSHOT=1 also refreshes the README's examples/frontend/screenshot.png.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
stack_env
FRONTEND_DIR="$REPO_ROOT/examples/frontend"
CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}

# Debian's Chromium, from the distribution's packages: Playwright's own browser download is not
# used (playwright-core ships no browser).
if [ ! -x "$CHROMIUM_PATH" ]; then
  log "installing Debian's chromium (apt-get)"
  command -v apt-get >/dev/null 2>&1 || die "chromium is missing at $CHROMIUM_PATH and apt-get is not available: install Chromium and set CHROMIUM_PATH"
  apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -qq)
  [ "$(id -u)" = 0 ] || apt=(sudo -n "${apt[@]}")
  # A fresh machine may have no package lists yet: update once, only when the install fails.
  { "${apt[@]}" install chromium >/dev/null 2>&1 || { "${apt[@]}" update && "${apt[@]}" install chromium; }; } \
    || die "apt-get install chromium failed (it needs root or passwordless sudo, and Debian's package servers): install Chromium and set CHROMIUM_PATH"
  [ -x "$CHROMIUM_PATH" ] || die "chromium was installed but $CHROMIUM_PATH is missing: set CHROMIUM_PATH"
fi

command -v node >/dev/null 2>&1 || die "node is required for the browser test (Node 20+ with npm)"
stamp="$FRONTEND_DIR/node_modules/.package-lock.sha"
want=$(sha256sum "$FRONTEND_DIR/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing playwright-core into examples/frontend/node_modules (npm ci)"
  (cd "$FRONTEND_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) \
    || die "npm ci in examples/frontend failed"
  echo "$want" > "$stamp"
fi

port_in_use "$FRONTEND_PORT" && die "port $FRONTEND_PORT for the demo page is in use (set STACK_PORT_BASE)"
port_in_use "$BROWSER_STANDIN_PORT" && die "port $BROWSER_STANDIN_PORT for the Cello stand-in is in use (set STACK_PORT_BASE)"
mkdir -p "$RUN_DIR"
setsid python3 "$FRONTEND_DIR/serve.py" --port "$FRONTEND_PORT" --standin-port "$BROWSER_STANDIN_PORT" \
  > "$RUN_DIR/frontend.log" 2>&1 < /dev/null &
server=$!
trap 'kill -TERM -- "-$server" 2>/dev/null || true' EXIT
wait_http frontend "$LOCAL_FRONTEND_URL/" 15
wait_http frontend "http://127.0.0.1:$BROWSER_STANDIN_PORT/standin/records" 15

if [ "${UPDATE_SCREENSHOT:-0}" = 1 ]; then
  export SCREENSHOT_PATH="$FRONTEND_DIR/screenshot.png"
else
  export SCREENSHOT_PATH="$RUN_DIR/frontend-screenshot.png"
fi
export CHROMIUM_PATH
cd "$FRONTEND_DIR"
node --test --test-reporter=spec test/ || die "the browser test failed (page server log: $RUN_DIR/frontend.log)"
log "browser test passed; screenshot: $SCREENSHOT_PATH"
