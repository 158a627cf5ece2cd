#!/usr/bin/env bash
# stage: offline
# The SAM template, offline: cfn-lint (errors and warnings fail), the checker's own tests (it
# must catch a route losing its authorizer, a wildcard action, an env var the code doesn't
# read...), then the checker on the real template against the real code.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$REPO_ROOT"
py="$VENV/bin/python"
[ -x "$VENV/bin/cfn-lint" ] || die "cfn-lint is missing from .local/venv: run infra/local/setup.sh"

"$VENV/bin/cfn-lint" --format parseable -- infra/template.yaml || die "cfn-lint found problems in infra/template.yaml"
echo "cfn-lint $("$VENV/bin/cfn-lint" --version | cut -d' ' -f2): infra/template.yaml clean"

if ! out=$("$py" -m unittest discover -s infra/checks -p 'test_*.py' 2>&1); then
  echo "$out"
  die "the template checker's tests failed"
fi
echo "template checker: $(grep -E '^Ran ' <<<"$out") (mutated templates caught)"

"$py" infra/checks/check_template.py || die "infra/template.yaml does not match the code (see above)"
