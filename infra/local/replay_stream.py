"""Replays the DynamoDB stream batches in events/cello-events/ through cello-events (the invoke
API of the running `cargo lambda watch`) and checks each against its .expect.json: the
function's answer, the events Cello's stand-in accepted for that case's user (exactly those,
however often the batch is replayed), and the report records in the table.

    replay_stream.py [--events DIR] [--only TEXT] [--run ID]

Expectation (every string may hold {{run}}, replaced by an id unique to the replay run):
    "given":    items put in the table first (plain JSON: strings, numbers, booleans, maps)
    "replays":  how often the batch is invoked (default 2: a replayed batch sends nothing twice)
    "response": JSON Pointer -> exact value in the function's answer (every invocation)
    "cello":    {"newUserId", "trigger"?, "events": [pointer -> value, ...], "absent"?: [pointers]}
                the stand-in's accepted events for that user (and trigger), in order
    "reports":  [{"pk", "sk", "expect": {pointer -> value}}] report records in the table
    "absent":   [{"pk", "sk"}] items that must not exist
Runs inside the test command's stage (test.d/53-stream-replay.sh) with the stack's environment.
"""

from __future__ import annotations

import argparse
import decimal
import json
import os
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

REPO = Path(__file__).resolve().parents[2]
FUNCTION = "cello-events"


def pointer(doc, ptr: str):
    """(found, value) at a JSON Pointer."""
    if ptr == "":
        return True, doc
    cur = doc
    for raw in ptr.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return False, None
    return True, cur


def same(got, want) -> bool:
    if isinstance(got, (int, float, decimal.Decimal)) and isinstance(want, (int, float)) and not isinstance(got, bool) and not isinstance(want, bool):
        return float(got) == float(want)
    return got == want


def differences(doc, expect: dict, where: str) -> list[str]:
    diffs = []
    for ptr, want in expect.items():
        found, got = pointer(doc, ptr)
        if not found:
            diffs.append(f"{where}{ptr}: missing, want {json.dumps(want)}")
        elif not same(got, want):
            diffs.append(f"{where}{ptr}: got {json.dumps(got, default=str)}, want {json.dumps(want)}")
    return diffs


def plain_to_item(value: dict) -> dict:
    ser = TypeSerializer()
    fix = json.loads(json.dumps(value), parse_float=decimal.Decimal)
    return {k: ser.serialize(v) for k, v in fix.items()}


def item_to_plain(item: dict) -> dict:
    de = TypeDeserializer()
    return {k: de.deserialize(v) for k, v in item.items()}


class Stack:
    def __init__(self):
        endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
        self.ddb = boto3.client("dynamodb", endpoint_url=endpoint)
        self.table = os.environ["TABLE_NAME"]
        self.watch = os.environ["LOCAL_WATCH_URL"].rstrip("/")
        self.cello = os.environ["CELLO_API_BASE"].rstrip("/")

    def put(self, value: dict):
        self.ddb.put_item(TableName=self.table, Item=plain_to_item(value))

    def get(self, pk: str, sk: str):
        out = self.ddb.get_item(TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
        return item_to_plain(out["Item"]) if "Item" in out else None

    def invoke(self, batch_text: str):
        req = urllib.request.Request(
            f"{self.watch}/2015-03-31/functions/{FUNCTION}/invocations",
            data=batch_text.encode(),
            method="POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=600) as resp:
            return json.loads(resp.read() or b"null")

    def cello_events(self, user: str, trigger: str | None) -> list[dict]:
        with urllib.request.urlopen(f"{self.cello}/_standin/events", timeout=10) as resp:
            events = json.loads(resp.read())["events"]
        bodies = [e["body"] for e in events]
        return [
            b for b in bodies
            if pointer(b, "/payload/newUserId")[1] == user
            and (trigger is None or pointer(b, "/context/event/trigger")[1] == trigger)
        ]


def stream_settled(limit: float = 60.0) -> None:
    """Waits until the stream feeder has finished a poll, begun after this call, that found
    nothing new (it counts those in LOCAL_STREAM_FEEDER_IDLE; infra/local/stream_feeder.py):
    every record written before has been delivered and its invocation has returned. Without a
    feeder, a fixed 1.5 s."""
    path = os.environ.get("LOCAL_STREAM_FEEDER_IDLE")

    def idle_polls() -> int:
        try:
            return int(Path(path).read_text().strip())
        except (OSError, ValueError):
            return 0

    if not path or not Path(path).exists():
        time.sleep(1.5)
        return
    before, deadline = idle_polls(), time.time() + limit
    while idle_polls() < before + 2:
        if time.time() > deadline:
            raise SystemExit(f"the stream feeder did not go idle within {limit:.0f}s")
        time.sleep(0.05)


def replay(stack: Stack, case: Path, run: str) -> list[str]:
    expect_path = case.with_name(case.name[: -len(".json")] + ".expect.json")
    if not expect_path.exists():
        return ["no .expect.json beside it"]
    batch = case.read_text().replace("{{run}}", run)
    expect = json.loads(expect_path.read_text().replace("{{run}}", run))
    diffs = []
    for item in expect.get("given", []):
        stack.put(item)
    for i in range(expect.get("replays", 2)):
        answer = stack.invoke(batch)
        diffs += differences(answer, expect.get("response", {}), f"answer {i + 1} ")
    cello = expect.get("cello")
    if cello:
        want = cello.get("events", [])
        deadline = time.time() + 20
        got = stack.cello_events(cello["newUserId"], cello.get("trigger"))
        while len(got) < len(want) and time.time() < deadline:
            time.sleep(0.3)
            got = stack.cello_events(cello["newUserId"], cello.get("trigger"))
        stream_settled()  # anything sent twice has arrived by now
        got = stack.cello_events(cello["newUserId"], cello.get("trigger"))
        if len(got) != len(want):
            diffs.append(f"Cello's stand-in accepted {len(got)} event(s) for {cello['newUserId']}, want {len(want)}")
        for i, (g, w) in enumerate(zip(got, want)):
            diffs += differences(g, w, f"event {i + 1} ")
            for ptr in cello.get("absent", []):
                if pointer(g, ptr)[0]:
                    diffs.append(f"event {i + 1} {ptr}: present, want absent")
    for report in expect.get("reports", []):
        item = stack.get(report["pk"], report["sk"])
        if item is None:
            diffs.append(f"no item {report['pk']} / {report['sk']}")
        else:
            diffs += differences(item, report.get("expect", {}), f"{report['sk']} ")
    for absent in expect.get("absent", []):
        if stack.get(absent["pk"], absent["sk"]) is not None:
            diffs.append(f"item {absent['pk']} / {absent['sk']} exists, want none")
    return diffs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=Path, default=REPO / "events" / "cello-events")
    ap.add_argument("--only")
    ap.add_argument("--run", default=f"s{int(time.time() * 1000):x}{os.getpid():x}")
    args = ap.parse_args()
    stack = Stack()
    cases = sorted(p for p in args.events.glob("*.json") if not p.name.endswith(".expect.json"))
    orphans = [p for p in args.events.glob("*.expect.json") if not p.with_name(p.name.replace(".expect.json", ".json")).exists()]
    if args.only:
        cases = [c for c in cases if args.only in c.name]
    print(f"replaying {len(cases)} stream batches from {args.events} through {FUNCTION} (run id {args.run})")
    failed = 0
    for orphan in orphans:
        failed += 1
        print(f"FAIL  {orphan.name}: an expectation without a fixture")

    def timed(case: Path) -> tuple[list[str], float]:
        started = time.time()
        try:
            return replay(stack, case, args.run), time.time() - started
        except Exception as e:  # a stand-in or the function not answering
            return [f"{type(e).__name__}: {e}"], time.time() - started

    # Side by side: each case has users and customers of its own, and most of a case's time is
    # the wait for anything its replays might send twice.
    with ThreadPoolExecutor(max_workers=max(1, len(cases))) as pool:
        outcomes = list(pool.map(timed, cases))
    for case, (diffs, seconds) in zip(cases, outcomes):
        name = f"cello-events/{case.name[:-5]}"
        if diffs:
            failed += 1
            print(f"FAIL  {name:<44} {'; '.join(diffs)}")
        else:
            print(f"pass  {name:<44} {int(seconds * 1000)} ms")
    if not cases:
        print("FAIL  no stream batches found")
        return 1
    print(f"{len(cases) + len(orphans)} checked, {len(cases) + len(orphans) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
