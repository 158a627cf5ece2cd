#!/usr/bin/env python3
"""Offline checks of infra/template.yaml against the code, beyond what cfn-lint knows.

1. Every package under functions/ has exactly one AWS::Serverless::Function built from it with
   cargo-lambda (arm64, provided.al2023, bootstrap), and every such function has a package.
2. The user routes (/cello/token, /signup, /checkout, /checkout/discount) resolve to the JWT authorizer, the Stripe webhook
   to none; checked both in the SAM template and in SAM's own translation of it (the OpenAPI
   document API Gateway receives), so a misunderstanding of SAM's defaults cannot hide.
3. No IAM statement allows a wildcard action or a wildcard resource, or uses NotAction /
   NotResource; functions use this template's roles, which attach no managed policies.
4. Each function's environment variables are the ones its code reads: every variable the
   template sets is read by shared/src or functions/<package>/src, and every variable the code
   reads is set, unless it is one of the documented exceptions below (local-only settings, the
   env-var secret fallback, settings whose defaults are right in AWS).
5. Each DynamoDB or Secrets Manager operation a function's own code calls is granted to it,
   each one the shared crate calls is granted to some function, and no role grants such an
   operation that neither its function's code nor the shared crate calls.
6. samconfig.toml beside the template only overrides parameters the template has, with allowed
   values.
7. Each command package (`[package.metadata.cello] kind = "command"`, like the doctor: run by an
   operator, not deployed as a Lambda) has exactly one AWS::IAM::ManagedPolicy marked
   `Metadata: {Command: <package>}` that allows only read actions (Get*, Query, Scan, Describe*,
   List*, BatchGet*), grants each SDK read its code calls, and the code calls no write: no write
   SDK operation, no Stripe or Cello request that changes anything.
8. Each stream consumer (a function with no route) is fed by exactly one DynamoDB stream
   mapping that reports partial batch failures, bisects, bounds its retries, sends what it gives
   up on to an SQS queue of this template, filters its records, and is switched by a parameter
   that defaults to off; the function's role can read that stream and write that queue.

Run: .local/venv/bin/python infra/checks/check_template.py [--template PATH]
Exit status 1 with one line per problem; 0 with a summary when everything holds.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import logging
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "infra" / "template.yaml"

# The route policy: these routes must exist, and only the public ones may skip the authorizer.
REQUIRED_ROUTES = {
    "POST /cello/token",
    "POST /signup",
    "POST /stripe/webhook",
    "POST /checkout",
    "GET /checkout/discount",
    "POST /cello/rewards",
    "GET /credits",
    "DELETE /account",
}
# Callers without a user token: Stripe signs its requests; Cello's reward callback carries
# Basic credentials the rewards function checks.
PUBLIC_ROUTES = {"POST /stripe/webhook", "POST /cello/rewards"}

# Variables the code reads that a deployed stack must NEVER set (the check fails if it does).
LOCAL_ONLY = {
    "LOCAL_AUTH_SECRET": "HS256 secret of AUTH_MODE=local tokens; development only",
    "STRIPE_API_BASE": "points the Stripe client at the local stand-in",
    "CELLO_API_BASE": "points the Cello API client at the local stand-in",
}
LOCAL_ONLY_PREFIXES = {
    "AWS_ENDPOINT_URL": "AWS endpoint overrides for the local stand-ins; AUTH_MODE=local "
    "is refused unless they are all loopback, so a stack must not set them",
}
SECRET_FALLBACK = {
    # SECRET_SOURCE=env: secrets as plain env vars. A stack keeps them in Secrets Manager.
    "CELLO_PRODUCT_ID": "env-var secret fallback",
    "CELLO_PRODUCT_SECRET": "env-var secret fallback",
    "STRIPE_SECRET_KEY": "env-var secret fallback",
    "STRIPE_WEBHOOK_SECRETS": "env-var secret fallback",
}
# Variables the code reads whose default is right in AWS: the template may leave them unset.
DEFAULTED_IN_AWS = {
    "SECRET_SOURCE": "defaults to secretsmanager",
    "SECRET_CACHE_TTL_SECONDS": "defaults to 300 s",
    "SIGNUP_CLAIM_LEASE_SECONDS": "defaults to 30 s, above the signup function's timeout",
    "CHECKOUT_CLAIM_LEASE_SECONDS": "defaults to 30 s, above the checkout function's timeout",
    "PERF_TIMING": "off unless 1 (and built with shared/perf-timing): the perf harness's figures (shared/src/timing.rs)",
    "CELLO_API_ENV": "read only by functions built with shared's cello-api feature; defaults to "
    "sandbox, and the functions that call Cello's API set it from the CelloEnvironment parameter",
    "CELLO_API_TIMEOUT_MS": "defaults to 3000 ms per attempt",
    "SSL_CERT_FILE": "another CA bundle for the SDK's HTTPS client (shared/src/aws.rs); unset, "
    "the system's bundle (Amazon Linux's in Lambda)",
}
# Lambda's reserved variables (its runtime sets them; a template may not): the Lambda-only SDK
# config (shared/src/aws.rs) reads the region and the execution role's credentials from them.
SET_BY_LAMBDA = {
    name: "set by Lambda's runtime (reserved)"
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
}
# Variables read by libraries rather than by our code; the template may set them.
READ_BY_LIBRARIES = {"RUST_LOG": "tracing-subscriber's EnvFilter (shared/src/telemetry.rs)"}
# Fixed values the template must give.
REQUIRED_VALUES = {"AUTH_MODE": "jwt-authorizer"}

# The Settings readers of shared/src/config.rs, and std::env::var (also through a `var` closure).
READER_CALL = re.compile(
    r"\b(?:required|optional|parsed|seconds|list|loopback_url|var|var_os)\(\s*"
    r"(?:\"(?P<lit>[A-Z][A-Z0-9_]*)\"|(?P<ident>[A-Z][A-Z0-9_]*)\s*[,)])"
)
STR_CONST = re.compile(r"\bconst\s+([A-Z][A-Z0-9_]*)\s*:\s*&(?:'static\s+)?str\s*=\s*\"([A-Z][A-Z0-9_]*)\"")
TEST_MODULE = re.compile(r"#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+\w+\s*\{")

# SDK calls → the IAM actions that authorize them.
SDK_CALLS = {
    r"\.get_item\(\)": "dynamodb:GetItem",
    r"\.put_item\(\)": "dynamodb:PutItem",
    r"\.update_item\(\)": "dynamodb:UpdateItem",
    r"\.delete_item\(\)": "dynamodb:DeleteItem",
    r"\.query\(\)": "dynamodb:Query",
    r"\.scan\(\)": "dynamodb:Scan",
    r"\.batch_get_item\(\)": "dynamodb:BatchGetItem",
    r"\.batch_write_item\(\)": "dynamodb:BatchWriteItem",
    # Transactions have no action of their own: each element is authorized as its item action.
    r"\bPut::builder\(\)": "dynamodb:PutItem",
    r"\bUpdate::builder\(\)": "dynamodb:UpdateItem",
    r"\bDelete::builder\(\)": "dynamodb:DeleteItem",
    r"\bConditionCheck::builder\(\)": "dynamodb:ConditionCheckItem",
    r"\bGet::builder\(\)": "dynamodb:GetItem",
    r"\.get_secret_value\(\)": "secretsmanager:GetSecretValue",
}


# ----------------------------------------------------------------------------------------------
# Loading


def load_template(path: Path) -> dict:
    """The template as plain data, short-form intrinsics (!Ref...) turned into their long form."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(path.read_text())


@dataclass
class Package:
    name: str
    dir: str  # relative to the repo root, e.g. functions/signup
    sources: list[str] = field(default_factory=list)  # its own .rs files, test modules removed
    kind: str = "lambda"  # or "command" ([package.metadata.cello] kind)


@dataclass
class Code:
    packages: dict[str, Package]  # the Lambda packages, by package dir
    shared_sources: list[str]
    commands: dict[str, Package] = field(default_factory=dict)  # command packages, by dir


def strip_test_modules(src: str) -> str:
    """Drops `#[cfg(test)] mod ... { ... }` blocks: test code names variables it never reads."""
    out, pos = [], 0
    for m in TEST_MODULE.finditer(src):
        if m.start() < pos:
            continue
        out.append(src[pos : m.start()])
        depth, i = 1, m.end()
        while i < len(src) and depth:
            depth += {"{": 1, "}": -1}.get(src[i], 0)
            i += 1
        pos = i
    out.append(src[pos:])
    return "".join(out)


def read_sources(root: Path) -> list[str]:
    return [strip_test_modules(p.read_text()) for p in sorted(root.rglob("*.rs"))]


def scan_code(repo: Path) -> Code:
    packages, commands = {}, {}
    for manifest in sorted((repo / "functions").glob("*/Cargo.toml")):
        pkg = tomllib.loads(manifest.read_text())["package"]
        kind = pkg.get("metadata", {}).get("cello", {}).get("kind", "lambda")
        rel = manifest.parent.relative_to(repo).as_posix()
        found = Package(pkg["name"], rel, read_sources(manifest.parent / "src"), kind)
        (commands if kind == "command" else packages)[rel] = found
    return Code(packages, read_sources(repo / "shared" / "src"), commands)


def env_reads(sources: list[str]) -> set[str]:
    consts = {}
    for src in sources:
        consts.update(STR_CONST.findall(src))
    names = set()
    for src in sources:
        for m in READER_CALL.finditer(src):
            if m["lit"]:
                names.add(m["lit"])
            elif m["ident"] in consts:
                names.add(consts[m["ident"]])
    return names


# Calls in a crate's source that its deployed function never makes, so its role must not grant
# them (least privilege). Each names its only callers.
UNCALLED_AT_RUNTIME = {
    ("functions/stripe-webhook", "dynamodb:Query"): "BillingStore::customer_billing, the read "
    "side of the webhook's records, for tests and readers of the records; the webhook only writes",
}
SHARED_UNUSED_BY_FUNCTIONS: dict[str, str] = {}

# Functions fed by the table's stream instead of a route: package dir → the parameter that
# switches their mapping on (it must default to off).
STREAM_CONSUMERS = {"functions/cello-events": "CelloReporting"}
# What Lambda's event source mapping calls with the function's role to read a DynamoDB stream.
STREAM_READ_ACTIONS = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}


def sdk_actions(sources: list[str]) -> set[str]:
    return set().union(*map(actions_in, sources))


# Memoised: the checker's tests run every check some seventy times over the same sources.
@functools.lru_cache(maxsize=None)
def actions_in(src: str) -> frozenset[str]:
    return frozenset(action for pat, action in SDK_CALLS.items() if re.search(pat, src))


# ----------------------------------------------------------------------------------------------
# Template helpers


def resources(t: dict, type_: str) -> dict[str, dict]:
    return {k: v for k, v in t.get("Resources", {}).items() if v.get("Type") == type_}


def function_properties(t: dict, logical_id: str) -> dict:
    """A function's properties with the template's Globals merged in (function values win)."""
    merged = copy.deepcopy(t.get("Globals", {}).get("Function", {}))
    own = t["Resources"][logical_id].get("Properties", {})
    for key, value in own.items():
        if key == "Environment":
            env = merged.setdefault("Environment", {}).setdefault("Variables", {})
            env.update(value.get("Variables", {}))
        else:
            merged[key] = value
    return merged


def package_dir_of(code_uri, template_dir: Path, repo: Path) -> str | None:
    if not isinstance(code_uri, str):
        return None
    try:
        return (template_dir / code_uri).resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return None


def ref_target(value) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return (att.split(".")[0] if isinstance(att, str) else att[0])
    return None


# ----------------------------------------------------------------------------------------------
# 1. Packages ↔ functions


def check_functions(t: dict, code: Code, template_dir: Path, repo: Path) -> list[str]:
    problems = []
    seen: dict[str, str] = {}
    for fid in resources(t, "AWS::Serverless::Function"):
        props = function_properties(t, fid)
        meta = t["Resources"][fid].get("Metadata", {})
        pkg_dir = package_dir_of(props.get("CodeUri"), template_dir, repo)
        pkg = code.packages.get(pkg_dir or "")
        if pkg is None:
            problems.append(f"function {fid}: CodeUri {props.get('CodeUri')!r} is not a package under functions/")
            continue
        if pkg_dir in seen:
            problems.append(f"functions {seen[pkg_dir]} and {fid} are both built from {pkg_dir}")
        seen[pkg_dir] = fid
        if meta.get("BuildMethod") != "rust-cargolambda":
            problems.append(f"function {fid}: Metadata.BuildMethod must be rust-cargolambda")
        binary = meta.get("BuildProperties", {}).get("Binary")
        if binary != pkg.name:
            problems.append(f"function {fid}: Metadata.BuildProperties.Binary is {binary!r}, the package's binary is {pkg.name!r}")
        for key, want in (("Runtime", "provided.al2023"), ("Handler", "bootstrap"), ("Architectures", ["arm64"])):
            if props.get(key) != want:
                problems.append(f"function {fid}: {key} must be {want!r}, not {props.get(key)!r}")
    for pkg_dir, pkg in code.packages.items():
        if pkg_dir not in seen:
            problems.append(f"package {pkg.name} ({pkg_dir}) has no AWS::Serverless::Function in the template")
    return problems


# ----------------------------------------------------------------------------------------------
# 2. Routes and authorizers


def jwt_authorizers(api: dict) -> set[str]:
    auths = api.get("Properties", {}).get("Auth", {}).get("Authorizers", {})
    return {name for name, a in auths.items() if isinstance(a, dict) and a.get("JwtConfiguration", {}).get("issuer") and a.get("JwtConfiguration", {}).get("audience")}


def routes(t: dict) -> dict[str, dict]:
    """'METHOD /path' → {function, api, authorizer (effective, or None for public)}."""
    apis = resources(t, "AWS::Serverless::HttpApi")
    found = {}
    for fid in resources(t, "AWS::Serverless::Function"):
        for ev in function_properties(t, fid).get("Events", {}).values():
            if ev.get("Type") != "HttpApi":
                continue
            p = ev.get("Properties", {})
            api_id = ref_target(p.get("ApiId"))
            api = apis.get(api_id or "", {})
            default = api.get("Properties", {}).get("Auth", {}).get("DefaultAuthorizer")
            chosen = p.get("Auth", {}).get("Authorizer", default)
            key = f"{str(p.get('Method', 'ANY')).upper()} {p.get('Path')}"
            found[key] = {
                "function": fid,
                "api": api_id,
                "authorizer": None if chosen in (None, "NONE") else chosen,
            }
    return found


def check_routes(t: dict) -> list[str]:
    problems = []
    apis = resources(t, "AWS::Serverless::HttpApi")
    found = routes(t)
    for key in sorted(REQUIRED_ROUTES - found.keys()):
        problems.append(f"route {key} is missing")
    for key, r in sorted(found.items()):
        if r["api"] not in apis:
            problems.append(f"route {key} ({r['function']}) is not attached to this template's HttpApi")
            continue
        jwt = jwt_authorizers(apis[r["api"]])
        if key in PUBLIC_ROUTES:
            if r["authorizer"] is not None:
                problems.append(f"route {key} must have no authorizer (its caller cannot send a user token), has {r['authorizer']}")
        elif r["authorizer"] not in jwt:
            problems.append(f"route {key} ({r['function']}) has no JWT authorizer (authorizer: {r['authorizer']})")
    for api_id, api in apis.items():
        cors = api.get("Properties", {}).get("CorsConfiguration")
        origins = cors.get("AllowOrigins", []) if isinstance(cors, dict) else None
        if not origins or any(o == "*" or (isinstance(o, str) and "*" in o) for o in origins):
            problems.append(f"HttpApi {api_id}: CorsConfiguration.AllowOrigins must name the frontend origin, not {origins!r}")
    return problems


def check_translated_routes(translated: dict) -> list[str]:
    """The same policy, read from the OpenAPI body SAM generates for API Gateway."""
    problems = []
    for api_id, api in resources(translated, "AWS::ApiGatewayV2::Api").items():
        body = api.get("Properties", {}).get("Body", {})
        schemes = body.get("components", {}).get("securitySchemes", {})
        jwt = {n for n, s in schemes.items() if s.get("x-amazon-apigateway-authorizer", {}).get("type") == "jwt"}
        seen = set()
        for path, methods in body.get("paths", {}).items():
            for method, op in methods.items():
                key = f"{method.upper()} {path}"
                seen.add(key)
                names = {n for req in op.get("security", []) for n in req} - {"NONE"}
                if key in PUBLIC_ROUTES:
                    if names:
                        problems.append(f"translated {api_id}: {key} requires {sorted(names)}, must be public")
                elif not names or not names <= jwt:
                    problems.append(f"translated {api_id}: {key} is not protected by a JWT authorizer (security: {op.get('security')})")
        for key in sorted(REQUIRED_ROUTES - seen):
            problems.append(f"translated {api_id}: route {key} is missing")
    return problems


def translate(t: dict) -> dict:
    """SAM's own transform, offline: what CloudFormation would deploy."""
    # Memoised on the template's content: most of the checker's tests change only the code.
    return copy.deepcopy(translate_text(json.dumps(t, sort_keys=True, default=str)))


@functools.lru_cache(maxsize=None)
def translate_text(template_json: str) -> dict:
    from samtranslator.translator.transform import transform

    t = json.loads(template_json)

    # The translator warns about its own usage metrics, which nothing here publishes.
    logging.getLogger("samtranslator.metrics").setLevel(logging.ERROR)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for fn in resources(t, "AWS::Serverless::Function").values():
        # `sam package` replaces local code paths with S3 locations before the transform runs.
        fn["Properties"]["CodeUri"] = "s3://offline-check/code.zip"
    params = {p: "https://app.example.com" for p in t.get("Parameters", {}) if p == "FrontendOrigin"}

    class NoManagedPolicies:
        def load(self):
            return {}

    return transform(t, params, NoManagedPolicies())


# ----------------------------------------------------------------------------------------------
# 3. IAM


def policy_documents(t: dict):
    """(where, PolicyDocument) of every identity policy in the template."""
    for rid, r in t.get("Resources", {}).items():
        props = r.get("Properties", {})
        if r.get("Type") == "AWS::IAM::Role":
            for i, p in enumerate(props.get("Policies", [])):
                yield f"{rid}.Policies[{i}]", p.get("PolicyDocument", {})
        elif r.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            yield rid, props.get("PolicyDocument", {})


def strings_in(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    if isinstance(value, dict):
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            return strings_in(sub[0] if isinstance(sub, list) else sub)
        if "Fn::Join" in value:
            return strings_in(value["Fn::Join"][1])
        return [s for v in value.values() for s in strings_in(v)]
    return []


def as_list(v) -> list:
    return v if isinstance(v, list) else [v]


def check_iam(t: dict) -> list[str]:
    problems = []
    for where, doc in policy_documents(t):
        for i, st in enumerate(as_list(doc.get("Statement", []))):
            at = f"{where} statement {i}"
            for forbidden in ("NotAction", "NotResource"):
                if forbidden in st:
                    problems.append(f"{at}: {forbidden} grants everything else; name what is allowed")
            for action in strings_in(st.get("Action", [])):
                if "*" in action:
                    problems.append(f"{at}: wildcard action {action!r}")
            if "Resource" not in st:
                problems.append(f"{at}: no Resource")
            for res in strings_in(st.get("Resource", [])):
                if "*" in res:
                    problems.append(f"{at}: wildcard resource {res!r}")
    for rid, role in resources(t, "AWS::IAM::Role").items():
        if role.get("Properties", {}).get("ManagedPolicyArns"):
            problems.append(f"role {rid}: managed policies are not least-privilege; use inline statements")
    for fid in resources(t, "AWS::Serverless::Function"):
        props = function_properties(t, fid)
        role = ref_target(props.get("Role"))
        if role not in resources(t, "AWS::IAM::Role"):
            problems.append(f"function {fid}: needs Role from this template (SAM's generated role attaches a managed policy with Resource '*')")
        if props.get("Policies"):
            problems.append(f"function {fid}: Policies (SAM policy templates / managed policies) are not allowed; grant in its Role")
    return problems


def function_grants(t: dict, fid: str) -> set[str]:
    role = ref_target(function_properties(t, fid).get("Role"))
    granted = set()
    for where, doc in policy_documents(t):
        if where.split(".")[0] != role:
            continue
        for st in as_list(doc.get("Statement", [])):
            if st.get("Effect") == "Allow":
                granted |= set(strings_in(st.get("Action", [])))
    return granted


# ----------------------------------------------------------------------------------------------
# 4. Environment ↔ code; 5. permissions ↔ code


def is_local_only(name: str) -> bool:
    return name in LOCAL_ONLY or any(name.startswith(p) for p in LOCAL_ONLY_PREFIXES)


def check_env(t: dict, code: Code, template_dir: Path, repo: Path) -> list[str]:
    problems = []
    shared_reads = env_reads(code.shared_sources)
    for fid in resources(t, "AWS::Serverless::Function"):
        props = function_properties(t, fid)
        pkg = code.packages.get(package_dir_of(props.get("CodeUri"), template_dir, repo) or "")
        if pkg is None:
            continue  # reported by check_functions
        reads = shared_reads | env_reads(pkg.sources)
        env = props.get("Environment", {}).get("Variables", {})
        for name, value in sorted(env.items()):
            if is_local_only(name):
                problems.append(f"function {fid}: sets {name}, a local-only setting ({LOCAL_ONLY.get(name) or 'AWS endpoint override'})")
            elif name in SET_BY_LAMBDA:
                problems.append(f"function {fid}: sets {name}, which Lambda reserves and sets itself")
            elif name in SECRET_FALLBACK:
                problems.append(f"function {fid}: sets {name}; secrets belong in Secrets Manager, never in env vars")
            elif name not in reads and name not in READ_BY_LIBRARIES:
                problems.append(f"function {fid}: sets {name}, which {pkg.dir}/src and shared/src never read")
            if name in REQUIRED_VALUES and value != REQUIRED_VALUES[name]:
                problems.append(f"function {fid}: {name} must be {REQUIRED_VALUES[name]!r}, not {value!r}")
        for name, value in REQUIRED_VALUES.items():
            if name not in env:
                problems.append(f"function {fid}: must set {name}={value} explicitly")
        for name in sorted(reads - env.keys()):
            if not (is_local_only(name) or name in SECRET_FALLBACK or name in DEFAULTED_IN_AWS or name in SET_BY_LAMBDA):
                problems.append(
                    f"function {fid}: its code reads {name} but the template does not set it "
                    "(set it, or document it in infra/checks/check_template.py)"
                )
    return problems


def check_permissions(t: dict, code: Code, template_dir: Path, repo: Path) -> list[str]:
    problems = []
    all_granted = set()
    for fid in resources(t, "AWS::Serverless::Function"):
        props = function_properties(t, fid)
        pkg = code.packages.get(package_dir_of(props.get("CodeUri"), template_dir, repo) or "")
        if pkg is None:
            continue
        granted = function_grants(t, fid)
        all_granted |= granted
        uncalled = {a for (d, a) in UNCALLED_AT_RUNTIME if d == pkg.dir}
        for action in sorted(sdk_actions(pkg.sources) - granted - uncalled):
            problems.append(f"function {fid}: {pkg.dir}/src calls what {action} authorizes, but its role lacks it")
        # Least privilege the other way: a data-plane grant that no code the function runs calls.
        called = sdk_actions(pkg.sources) | sdk_actions(code.shared_sources)
        known = set()
        if pkg.dir in STREAM_CONSUMERS:
            # Lambda's event source mapping, not the function's code, reads the stream with the
            # role (rule 8 checks these grants sit on the table's StreamArn).
            known = STREAM_READ_ACTIONS | {"dynamodb:ListStreams"}
        for action in sorted(a for a in granted - called - known if a.startswith(("dynamodb:", "secretsmanager:"))):
            problems.append(f"function {fid}: its role grants {action}, which neither {pkg.dir}/src nor shared/src calls")
    for action in sorted(sdk_actions(code.shared_sources) - all_granted - SHARED_UNUSED_BY_FUNCTIONS.keys()):
        problems.append(f"shared/src calls what {action} authorizes, but no function's role has it")
    return problems


# ----------------------------------------------------------------------------------------------
# 7. Commands: read-only managed policies, read-only code

READ_VERBS = ("Get", "Query", "Scan", "Describe", "List", "BatchGet")
# What a command's code must never call: SDK writes, and requests to Stripe or Cello that
# change something (the doctor reads Stripe with GETs and Cello with lookups only).
WRITE_CALLS = {
    r"\.(?:put_item|update_item|delete_item|batch_write_item|transact_write_items)\(\)": "a DynamoDB write",
    r"\b(?:Put|Update|Delete|ConditionCheck)::builder\(\)": "a DynamoDB transaction write",
    r"\.(?:put_secret_value|update_secret|create_secret|delete_secret)\(\)": "a Secrets Manager write",
    r"StripeMethod::(?:Post|Delete)": "a Stripe POST/DELETE",
    r"\b(?:Create|Update|Delete)[A-Z]\w*::new\(": "a Stripe create/update/delete request",
    r"\.(?:send_event|depersonalize)\(": "a Cello API write",
    r"\.(?:transact|apply|note_minted|note_mode_mismatch|create_user)\(": "a write through a store port",
}


def is_read_action(action: str) -> bool:
    verb = action.split(":", 1)[-1]
    return any(verb.startswith(v) for v in READ_VERBS)


def command_policies(t: dict, name: str) -> list[tuple[str, dict]]:
    return [
        (rid, r.get("Properties", {}).get("PolicyDocument", {}))
        for rid, r in resources(t, "AWS::IAM::ManagedPolicy").items()
        if r.get("Metadata", {}).get("Command") == name
    ]


def check_commands(t: dict, code: Code) -> list[str]:
    problems = []
    for pkg in code.commands.values():
        policies = command_policies(t, pkg.name)
        if len(policies) != 1:
            problems.append(
                f"command {pkg.name} ({pkg.dir}) needs exactly one AWS::IAM::ManagedPolicy with "
                f"Metadata.Command {pkg.name!r}, found {len(policies)}"
            )
            continue
        rid, doc = policies[0]
        granted = set()
        for i, st in enumerate(as_list(doc.get("Statement", []))):
            if st.get("Effect") != "Allow":
                problems.append(f"{rid} statement {i}: only Allow statements belong in a read-only policy")
                continue
            for action in strings_in(st.get("Action", [])):
                granted.add(action)
                if not is_read_action(action):
                    problems.append(f"{rid} statement {i}: {action} is not a read action; {pkg.name}'s policy must be read-only")
        for action in sorted(sdk_actions(pkg.sources) - granted):
            problems.append(f"command {pkg.name}: {pkg.dir}/src calls what {action} authorizes, but {rid} lacks it")
        for src in pkg.sources:
            for pat, what in WRITE_CALLS.items():
                for m in re.finditer(pat, src):
                    problems.append(f"command {pkg.name}: {pkg.dir}/src makes {what} ({m.group(0)}); it must only read")
    return problems


# 8. Stream consumers


def grants_on(t: dict, role: str | None, resource_target: str, attribute: str | None = None) -> set[str]:
    """The actions `role` allows on the template resource `resource_target` (by Ref/GetAtt)."""
    actions = set()
    for where, doc in policy_documents(t):
        if where.split(".")[0] != role:
            continue
        for st in as_list(doc.get("Statement", [])):
            if st.get("Effect") != "Allow":
                continue
            for res in as_list(st.get("Resource", [])):
                att = res.get("Fn::GetAtt") if isinstance(res, dict) else None
                att = att.split(".") if isinstance(att, str) else att
                if ref_target(res) == resource_target and (attribute is None or (att and att[1:] == [attribute])):
                    actions |= set(strings_in(st.get("Action", [])))
    return actions


def condition_parameters(t: dict, name: str | None) -> set[str]:
    """The parameters a condition compares (Fn::Equals on a Ref, possibly under Fn::Not/And/Or)."""
    found = set()

    def walk(v):
        if isinstance(v, dict):
            if "Ref" in v and v["Ref"] in t.get("Parameters", {}):
                found.add(v["Ref"])
            if "Condition" in v and isinstance(v["Condition"], str):
                found.update(condition_parameters(t, v["Condition"]))
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(t.get("Conditions", {}).get(name or "", {}))
    return found


def check_stream_consumers(t: dict, code: Code, template_dir: Path, repo: Path) -> list[str]:
    import json

    problems = []
    functions = resources(t, "AWS::Serverless::Function")
    mappings = resources(t, "AWS::Lambda::EventSourceMapping")
    queues = resources(t, "AWS::SQS::Queue")
    for fid in functions:
        props = function_properties(t, fid)
        pkg_dir = package_dir_of(props.get("CodeUri"), template_dir, repo)
        if pkg_dir not in STREAM_CONSUMERS:
            continue
        switch = STREAM_CONSUMERS[pkg_dir]
        mine = {mid: m for mid, m in mappings.items() if ref_target(m.get("Properties", {}).get("FunctionName")) == fid}
        if len(mine) != 1:
            problems.append(f"function {fid}: a stream consumer needs exactly one AWS::Lambda::EventSourceMapping, has {len(mine)}")
            continue
        ((mid, m),) = mine.items()
        p = m.get("Properties", {})
        at = f"mapping {mid}"
        source = p.get("EventSourceArn", {})
        att = source.get("Fn::GetAtt") if isinstance(source, dict) else None
        att = att.split(".") if isinstance(att, str) else att
        if not att or att[1:] != ["StreamArn"] or att[0] not in resources(t, "AWS::DynamoDB::Table"):
            problems.append(f"{at}: EventSourceArn must be a table's StreamArn from this template")
            table = None
        else:
            table = att[0]
            spec = t["Resources"][table].get("Properties", {}).get("StreamSpecification", {})
            if spec.get("StreamViewType") != "NEW_AND_OLD_IMAGES":
                problems.append(f"table {table}: StreamSpecification.StreamViewType must be NEW_AND_OLD_IMAGES for {fid}")
        if "ReportBatchItemFailures" not in as_list(p.get("FunctionResponseTypes", [])):
            problems.append(f"{at}: FunctionResponseTypes must include ReportBatchItemFailures (partial batch failures)")
        if p.get("BisectBatchOnFunctionError") is not True:
            problems.append(f"{at}: BisectBatchOnFunctionError must be true")
        retries = p.get("MaximumRetryAttempts")
        if not isinstance(retries, int) or not 0 <= retries <= 10:
            problems.append(f"{at}: MaximumRetryAttempts must be set, 0 to 10 (a poison record must not block the shard), not {retries!r}")
        if p.get("StartingPosition") not in ("LATEST", "TRIM_HORIZON"):
            problems.append(f"{at}: StartingPosition must be LATEST or TRIM_HORIZON")
        dest = p.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        queue = ref_target(dest)
        if queue not in queues:
            problems.append(f"{at}: DestinationConfig.OnFailure.Destination must be an SQS queue of this template")
        filters = p.get("FilterCriteria", {}).get("Filters", [])
        if not filters:
            problems.append(f"{at}: FilterCriteria.Filters must select the records {fid} reads (its own writes must not feed it)")
        for i, f in enumerate(filters):
            try:
                json.loads(f.get("Pattern", ""))
            except (TypeError, ValueError) as e:
                problems.append(f"{at}: FilterCriteria.Filters[{i}].Pattern is not JSON ({e})")
        if switch not in condition_parameters(t, m.get("Condition")):
            problems.append(f"{at}: must have a Condition on the {switch} parameter (reporting is switched per environment)")
        default = t.get("Parameters", {}).get(switch, {}).get("Default")
        if default != "off":
            problems.append(f"parameter {switch}: must default to off, not {default!r}")
        role = ref_target(props.get("Role"))
        if table:
            missing = STREAM_READ_ACTIONS - grants_on(t, role, table, "StreamArn")
            if missing:
                problems.append(f"function {fid}: its role lacks {sorted(missing)} on {table}.StreamArn (the mapping reads the stream with it)")
        if queue in queues and "sqs:SendMessage" not in grants_on(t, role, queue, "Arn"):
            problems.append(f"function {fid}: its role lacks sqs:SendMessage on {queue} (the mapping's failure destination)")
    return problems


# ----------------------------------------------------------------------------------------------
# 6. samconfig.toml


def check_samconfig(t: dict, config: dict) -> list[str]:
    """Each environment's parameter_overrides name template parameters with allowed values."""
    problems = []
    params = t.get("Parameters", {})
    for env, commands in config.items():
        if not isinstance(commands, dict):
            continue
        overrides = commands.get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
        for name, value in re.findall(r'(\w+)="?([^"\s]*)"?', overrides):
            if name not in params:
                problems.append(f"samconfig [{env}]: parameter_overrides names {name}, not a template parameter")
            elif "AllowedValues" in params[name] and value not in [str(v) for v in params[name]["AllowedValues"]]:
                problems.append(f"samconfig [{env}]: {name}={value!r} is not one of {params[name]['AllowedValues']}")
    return problems


# ----------------------------------------------------------------------------------------------


def run_checks(t: dict, code: Code, template_dir: Path, repo: Path, translated: dict | None = None) -> list[str]:
    problems = (
        check_functions(t, code, template_dir, repo)
        + check_routes(t)
        + check_iam(t)
        + check_env(t, code, template_dir, repo)
        + check_permissions(t, code, template_dir, repo)
        + check_commands(t, code)
        + check_stream_consumers(t, code, template_dir, repo)
    )
    if translated is None:
        try:
            translated = translate(t)
        except Exception as e:  # the transform's own message says what is wrong
            return problems + [f"SAM transform failed: {e}"]
    return problems + check_translated_routes(translated) + check_iam(translated)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    args = ap.parse_args()
    t = load_template(args.template)
    code = scan_code(REPO_ROOT)
    problems = run_checks(t, code, args.template.resolve().parent, REPO_ROOT)
    samconfig = args.template.resolve().parent / "samconfig.toml"
    if samconfig.exists():
        problems += check_samconfig(t, tomllib.loads(samconfig.read_text()))
    else:
        problems.append(f"no samconfig.toml beside {args.template} (sam reads it from there)")
    if problems:
        for p in problems:
            print(f"template check: {p}")
        return 1
    fns = resources(t, "AWS::Serverless::Function")
    print(
        f"template check: {len(fns)} functions ↔ {len(code.packages)} packages, "
        f"{len(code.commands)} command(s) with read-only policies, "
        f"{len(routes(t))} routes (public: {', '.join(sorted(PUBLIC_ROUTES))}), "
        "no wildcard IAM, env vars and permissions match the code, samconfig.toml overrides valid"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
