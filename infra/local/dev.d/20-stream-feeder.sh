#!/usr/bin/env bash
# Started in the background by dev.sh: feeds cello-events from the local table's stream as
# Lambda's event source mapping does in AWS (infra/local/stream_feeder.py), so the dev stack
# reports signups, paid invoices and refunds to the Cello stand-in too. It waits for
# `cargo lambda watch`; what it gives up on goes to the local dead-letter queue
# (docs/cello-reporting.md).
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
stack_env
exec "$VENV/bin/python" "$REPO_ROOT/infra/local/stream_feeder.py"
