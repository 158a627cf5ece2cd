#!/usr/bin/env bash
# Started in the background by dev.sh: serves the demo page (examples/frontend) on the FRONTEND
# port, with the Cello widget stand-in on the next port, and prints the page's URL.
# The local productId and secret are not real Cello credentials, so Cello's sandbox script would
# refuse them; to try the real sandbox widget, put your sandbox keys in the local secret and set
# FRONTEND_CELLO_SCRIPT_URL=https://assets.sandbox.cello.so/app/v2/latest/cello.js
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
stack_env
port_in_use "$FRONTEND_PORT" && die "port $FRONTEND_PORT for the demo page is in use (set STACK_PORT_BASE)"
port_in_use "$BROWSER_STANDIN_PORT" && die "port $BROWSER_STANDIN_PORT for the Cello stand-in is in use (set STACK_PORT_BASE)"
args=(--port "$FRONTEND_PORT" --standin-port "$BROWSER_STANDIN_PORT")
[ -n "${FRONTEND_CELLO_SCRIPT_URL:-}" ] && args+=(--cello-script-url "$FRONTEND_CELLO_SCRIPT_URL")
exec python3 "$REPO_ROOT/examples/frontend/serve.py" "${args[@]}"
