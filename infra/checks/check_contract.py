"""The HTTP contract (docs/openapi.yaml) cannot drift from the code:

1. the document's operations, the SAM template's HttpApi routes and the function packages are
   the same set: every route is documented, every documented operation is a route, each names
   (`x-function`) the package the template builds its function from, and every function
   package serves at least one route or is declared route-less (a stream consumer);
2. the same authorizer on each: a route behind the JWT authorizer is documented with the
   `bearerJwt` scheme, a route without one with a non-bearer scheme (the function verifies);
3. every fixture in events/ that the replay expects to succeed has a body its operation's
   request schema accepts (and a 2xx documented for it), and every fixture's expected status
   is documented for its operation.

Prints the route → function table the contract stage uses (`--routes`).
Run: .local/venv/bin/python infra/checks/check_contract.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import check_template as ct

DEFAULT_DOCUMENT = ct.REPO_ROOT / "docs" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "patch", "options", "head")
# Packages under functions/ that serve no HTTP route, with why.
# Fixture folders of DynamoDB stream batches (no route to check them against).
STREAM_FIXTURE_DIRS = {"cello-events"}
ROUTELESS: dict[str, str] = {
    "cello-events": "fed by the table's DynamoDB stream (infra/template.yaml, CelloEventsStream)",
}


def load_document(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def operations(doc: dict) -> dict[str, dict]:
    """'METHOD /path' → the operation object."""
    return {
        f"{method.upper()} {path}": op
        for path, item in (doc.get("paths") or {}).items()
        for method, op in item.items()
        if method in METHODS
    }


def security_schemes(doc: dict, op: dict) -> set[str]:
    chosen = op.get("security", doc.get("security", []))
    return {name for requirement in chosen for name in requirement}


def package_of_function(t: dict, fid: str) -> str | None:
    props = ct.function_properties(t, fid)
    pkg_dir = ct.package_dir_of(props.get("CodeUri"), ct.DEFAULT_TEMPLATE.parent, ct.REPO_ROOT)
    return Path(pkg_dir).name if pkg_dir else None


def route_table(t: dict) -> dict[str, dict]:
    """'METHOD /path' → {package, authorizer} from the template."""
    return {
        key: {"package": package_of_function(t, r["function"]), "authorizer": r["authorizer"]}
        for key, r in ct.routes(t).items()
    }


def check_routes(doc: dict, t: dict, packages: set[str]) -> list[str]:
    problems = []
    ops, routes = operations(doc), route_table(t)
    for key in sorted(routes.keys() - ops.keys()):
        problems.append(f"route {key} ({routes[key]['package']}) is in the template but not in docs/openapi.yaml")
    for key in sorted(ops.keys() - routes.keys()):
        problems.append(f"operation {key} is documented but the template has no such route")
    for key in sorted(ops.keys() & routes.keys()):
        op, route = ops[key], routes[key]
        if op.get("x-function") != route["package"]:
            problems.append(f"operation {key}: x-function is {op.get('x-function')!r}, the template serves it from {route['package']!r}")
        schemes = security_schemes(doc, op)
        if route["authorizer"] is not None and schemes != {"bearerJwt"}:
            problems.append(f"operation {key}: the route has the JWT authorizer; document it with bearerJwt, not {sorted(schemes)}")
        if route["authorizer"] is None and (not schemes or "bearerJwt" in schemes):
            problems.append(f"operation {key}: the route has no authorizer; document the scheme the function checks, not {sorted(schemes) or 'none'}")
        if not isinstance(op.get("x-max-body-bytes"), int):
            problems.append(f"operation {key}: x-max-body-bytes (the body limit the function enforces) is missing")
    served = {r["package"] for r in routes.values()}
    for pkg in sorted(packages - served - ROUTELESS.keys()):
        problems.append(f"functions/{pkg} serves no documented route (list it in ROUTELESS with why, or route it)")
    return problems


def validator_for(doc: dict, schema: dict) -> Draft202012Validator:
    """A validator for `schema` that resolves `#/components/...` against the document."""
    registry = Registry().with_resource("urn:openapi", Resource(contents=doc, specification=DRAFT202012))
    return Draft202012Validator(_rebased(schema), registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _rebased(schema):
    """Rewrites local refs (`#/components/...`) to the registered document's URI."""
    if isinstance(schema, dict):
        return {k: (("urn:openapi" + v) if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebased(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_rebased(v) for v in schema]
    return schema


def fixture_cases(repo: Path):
    """(name, route key or None for Stripe bodies, request body text, expected status)."""
    events = repo / "events"
    for path in sorted(events.glob("*/*.json")):
        if path.name.endswith(".expect.json"):
            continue
        expect_path = path.with_name(path.name[: -len(".json")] + ".expect.json")
        if not expect_path.exists():
            continue  # the replay reports fixtures without expectations
        if path.parent.name in STREAM_FIXTURE_DIRS:
            continue  # stream batches, not requests: infra/local/replay_stream.py replays them
        expect = json.loads(expect_path.read_text())
        text = path.read_text().replace("{{run}}", "contract")
        if path.parent.name == "stripe":
            yield path.relative_to(repo), "POST /stripe/webhook", text, expect.get("status")
            continue
        event = json.loads(text)
        http = event.get("requestContext", {}).get("http", {})
        route = event.get("routeKey") or f"{http.get('method')} {http.get('path')}"
        yield path.relative_to(repo), route, event.get("body"), expect.get("status")


def check_fixtures(doc: dict, repo: Path) -> list[str]:
    problems = []
    ops = operations(doc)
    for name, route, body, status in fixture_cases(repo):
        op = ops.get(route)
        if op is None:
            problems.append(f"{name}: its route {route} is not documented")
            continue
        if str(status) not in op.get("responses", {}):
            problems.append(f"{name}: expects {status}, which {route} does not document")
        if not (isinstance(status, int) and 200 <= status < 300) or body in (None, ""):
            continue
        schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        try:
            value = json.loads(body)
        except json.JSONDecodeError as e:
            problems.append(f"{name}: expected to succeed but its body is not JSON ({e})")
            continue
        for error in validator_for(doc, schema).iter_errors(value):
            problems.append(f"{name}: body rejected by {route}'s schema at /{'/'.join(map(str, error.path))}: {error.message}")
    return problems


def run_checks(doc: dict, t: dict, packages: set[str], repo: Path) -> list[str]:
    return check_routes(doc, t, packages) + check_fixtures(doc, repo)


def function_packages(repo: Path) -> set[str]:
    return {Path(p.dir).name for p in ct.scan_code(repo).packages.values()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--document", type=Path, default=DEFAULT_DOCUMENT)
    ap.add_argument("--template", type=Path, default=ct.DEFAULT_TEMPLATE)
    ap.add_argument("--routes", action="store_true", help="print 'METHOD PATH FUNCTION AUTH BODY-LIMIT' lines and exit")
    args = ap.parse_args()
    doc, t = load_document(args.document), ct.load_template(args.template)
    if args.routes:
        ops = operations(doc)
        for key, r in sorted(route_table(t).items()):
            limit = ops.get(key, {}).get("x-max-body-bytes", 0)
            print(f"{key} {r['package']} {'jwt' if r['authorizer'] else 'none'} {limit}")
        return 0
    problems = run_checks(doc, t, function_packages(ct.REPO_ROOT), ct.REPO_ROOT)
    if problems:
        for p in problems:
            print(f"contract check: {p}")
        return 1
    cases = sum(1 for _ in fixture_cases(ct.REPO_ROOT))
    print(f"contract check: {len(operations(doc))} documented operations = the template's routes = "
          f"the function packages' routes, authorizers match, {cases} fixtures conform")
    return 0


if __name__ == "__main__":
    sys.exit(main())
