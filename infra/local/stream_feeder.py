"""Feeds cello-events from the local table's stream, as Lambda's event source mapping does in AWS
(infra/template.yaml, CelloEventsStream):

- reads every shard of the table's stream (moto's DynamoDB Streams: DescribeStream,
  GetShardIterator, GetRecords) from its start, the stack being fresh;
- keeps only the records the template's FilterCriteria keep (FILTERS below, the same three
  patterns), in batches of up to --batch-size;
- invokes the function served by `cargo lambda watch` through the Lambda invoke API;
- honours `batchItemFailures` (ReportBatchItemFailures): retries from the first failed record,
  at most --max-retries times; a function error is retried as a whole batch, bisected;
- sends what it gives up on to the SQS queue standing in for the mapping's on-failure
  destination, in the shape AWS uses (DDBStreamBatchInfo), plus the records' keys (local only).

Runs until stopped. One log line per invocation on stdout. After each poll that found nothing
new it writes how many such polls there have been to --idle-file (LOCAL_STREAM_FEEDER_IDLE): a
test that sees that count go up twice knows that every record written before it looked has been
delivered and its invocation has returned.
Usage: stream_feeder.py [--function cello-events] [--batch-size 10] [--max-retries 2]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import faulthandler
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
import uuid

import boto3

# The template's FilterCriteria, as predicates on a Lambda-shaped record.
def _sk(record: dict) -> str:
    return record["dynamodb"]["Keys"].get("sk", {}).get("S", "")


FILTERS = [
    lambda r: r["eventName"] in ("INSERT", "MODIFY") and _sk(r).startswith("INVOICE#"),
    lambda r: r["eventName"] in ("INSERT", "MODIFY") and _sk(r).startswith("REFUND#"),
    lambda r: r["eventName"] in ("INSERT", "MODIFY")
    and _sk(r) == "PROFILE"
    and "S" in r["dynamodb"].get("NewImage", {}).get("stripeCustomerId", {}),
]


def log(msg: str) -> None:
    print(f"[stream-feeder] {msg}", flush=True)


def plain(value):
    """boto3's answer as JSON: bytes (B, BS) back to base64, datetimes to epoch seconds."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def lambda_record(raw: dict, stream_arn: str, region: str) -> dict:
    record = plain(raw)
    record.setdefault("eventVersion", "1.1")
    record.setdefault("eventSource", "aws:dynamodb")
    record["awsRegion"] = region
    record["eventSourceARN"] = stream_arn
    return record


class Feeder:
    def __init__(self, args):
        endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
        self.region = os.environ.get("AWS_REGION", "us-east-1")
        self.ddb = boto3.client("dynamodb", endpoint_url=endpoint)
        self.streams = boto3.client("dynamodbstreams", endpoint_url=endpoint)
        self.sqs = boto3.client("sqs", endpoint_url=endpoint)
        self.args = args
        self.url = f"{os.environ['LOCAL_WATCH_URL'].rstrip('/')}/2015-03-31/functions/{args.function}/invocations"
        self.queue_url = self.sqs.get_queue_url(QueueName=args.queue)["QueueUrl"]
        self.stream_arn = self.ddb.describe_table(TableName=os.environ["TABLE_NAME"])["Table"]["LatestStreamArn"]
        self.iterators: dict[str, str | None] = {}
        self.last: dict[str, str] = {}  # the last sequence number read, per shard
        self.empty: dict[str, int] = {}  # empty reads in a row, per shard

    def poll_once(self) -> bool:
        """One pass over the shards; True when something was read."""
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        busy = False
        for shard in shards:
            sid = shard["ShardId"]
            if sid not in self.iterators:
                self.iterators[sid] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            iterator = self.iterators[sid]
            if self.empty.get(sid, 0) >= 10 and sid in self.last:
                # Plain moto rolls a refused transaction back by putting a deep copy of the
                # whole table in place (moto/dynamodb/models/__init__.py, transact_write_items),
                # stream shard included: an iterator made before then reads the old shard, which
                # never grows again. A fresh iterator after the last record read finds the new
                # one. (moto_serialized.py restores items instead; this keeps plain moto fed.)
                iterator = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=sid, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    SequenceNumber=self.last[sid],
                )["ShardIterator"]
                self.empty[sid] = 0
            if iterator is None:
                continue
            out = self.streams.get_records(ShardIterator=iterator, Limit=self.args.batch_size)
            self.iterators[sid] = out.get("NextShardIterator")
            if out.get("Records"):
                self.last[sid] = out["Records"][-1]["dynamodb"]["SequenceNumber"]
                self.empty[sid] = 0
            else:
                self.empty[sid] = self.empty.get(sid, 0) + 1
            if os.environ.get("LOCAL_FEEDER_DEBUG") and out.get("Records"):
                log(f"read {[r['dynamodb']['SequenceNumber'][-4:] for r in out['Records']]}")
            records = [lambda_record(r, self.stream_arn, self.region) for r in out.get("Records", [])]
            kept = [r for r in records if any(f(r) for f in FILTERS)]
            if records:
                busy = True
            for start in range(0, len(kept), self.args.batch_size):
                self.deliver(sid, kept[start : start + self.args.batch_size])
        return busy

    def invoke(self, records: list[dict]) -> tuple[bool, list[str], str]:
        """(function ok, failed sequence numbers, detail)."""
        body = json.dumps({"Records": records}).encode()
        refused = 0
        while True:
            req = urllib.request.Request(self.url, data=body, method="POST", headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.args.invoke_timeout) as resp:
                    text = resp.read().decode()
                    error = resp.headers.get("X-Amz-Function-Error")
                break
            except urllib.error.HTTPError as e:
                return False, [], f"invoke answered {e.code}: {e.read()[:300]!r}"
            except urllib.error.URLError as e:
                if isinstance(e.reason, ConnectionRefusedError) and refused < 120:
                    # `cargo lambda watch` restarting: as when Lambda can't start the function
                    # yet, nothing was attempted; wait and try again (two minutes at most).
                    refused += 1
                    if refused % 10 == 1:
                        log(f"cargo lambda watch refuses connections ({e.reason}); waiting")
                    time.sleep(1)
                    continue
                return False, [], f"invoke failed: {e}"
            except (TimeoutError, OSError) as e:
                return False, [], f"invoke failed: {e}"
        try:
            answer = json.loads(text) if text else {}
        except json.JSONDecodeError:
            return False, [], f"not JSON: {text[:300]!r}"
        if error or (isinstance(answer, dict) and "errorType" in answer):
            return False, [], f"function error: {text[:300]}"
        failures = answer.get("batchItemFailures", []) if isinstance(answer, dict) else []
        return True, [f.get("itemIdentifier") for f in failures], ""

    def deliver(self, shard: str, batch: list[dict], attempt: int = 0) -> None:
        while batch:
            ok, failed, detail = self.invoke(batch)
            seqs = [r["dynamodb"]["SequenceNumber"] for r in batch]
            if ok and not failed:
                log(f"{len(batch)} record(s) {seqs[0]}..{seqs[-1]}: done")
                return
            if ok:
                known = [s for s in failed if s in seqs]
                if len(known) != len(failed):
                    # An identifier that is not in the batch: Lambda retries the whole batch.
                    first = 0
                else:
                    first = min(seqs.index(s) for s in known)
                log(f"{len(batch)} record(s): failed {failed}, attempt {attempt + 1}")
                retry = batch[first:]
            else:
                log(f"{len(batch)} record(s): {detail}, attempt {attempt + 1}")
                if len(batch) > 1:
                    # BisectBatchOnFunctionError: each half keeps the retry budget.
                    half = len(batch) // 2
                    self.deliver(shard, batch[:half], attempt + 1)
                    self.deliver(shard, batch[half:], attempt + 1)
                    return
                retry = batch
            if attempt >= self.args.max_retries:
                self.dead_letter(shard, retry, detail or f"batchItemFailures {failed}", attempt + 1)
                return
            attempt += 1
            batch = retry
            time.sleep(self.args.retry_delay)

    def dead_letter(self, shard: str, records: list[dict], why: str, invocations: int) -> None:
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{self.region}:000000000000:function:{self.args.function}",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invocations,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": ""},
            "version": "1.0",
            "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": first.get("ApproximateCreationDateTime"),
                "approximateArrivalOfLastRecord": last.get("ApproximateCreationDateTime"),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
            # Local only (AWS sends the batch's position, not its content): the records' keys.
            "localRecords": [
                {"sequenceNumber": r["dynamodb"]["SequenceNumber"], "keys": r["dynamodb"]["Keys"]} for r in records
            ],
            "localReason": why,
        }
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(message))
        log(f"gave up on {len(records)} record(s) {first['SequenceNumber']}..{last['SequenceNumber']}: to {self.args.queue}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--function", default="cello-events")
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--max-retries", type=int, default=int(os.environ.get("LOCAL_STREAM_MAX_RETRIES", "2")))
    ap.add_argument("--retry-delay", type=float, default=0.5)
    ap.add_argument("--poll", type=float, default=0.2)
    ap.add_argument("--idle-file", default=os.environ.get("LOCAL_STREAM_FEEDER_IDLE"))
    ap.add_argument("--invoke-timeout", type=float, default=600.0, help="the first invoke may build the function")
    ap.add_argument("--wait-for-watch", type=float, default=900.0)
    ap.add_argument("--queue", default=os.environ.get("CELLO_EVENTS_DLQ_NAME", "cello-events-dead-letter-local"))
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # `kill -USR1 <pid>` prints where it is (for a feeder that seems stuck).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    feeder = Feeder(args)
    watch = os.environ["LOCAL_WATCH_URL"]
    for _ in range(int(args.wait_for_watch * 2)):
        try:
            urllib.request.urlopen(watch, timeout=1)
            break
        except urllib.error.HTTPError:
            break  # it answers
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    else:
        log(f"cargo lambda watch did not answer at {watch} within {args.wait_for_watch:.0f}s")
        return 1
    log(f"feeding {args.function} from {feeder.stream_arn} (batch {args.batch_size}, {args.max_retries} retries, failures to {args.queue})")
    beat, idle_polls = time.time(), 0
    while True:
        if time.time() - beat > 60:
            beat = time.time()
            log(f"polling; shards {list(feeder.iterators)}, iterators {'ok' if all(feeder.iterators.values()) else 'ended'}")
        try:
            busy = feeder.poll_once()
        except Exception as e:  # a stand-in restarting: keep going, say so
            log(f"poll failed: {e!r}")
            busy = False
        if not busy:
            idle_polls += 1
            if args.idle_file:
                with open(args.idle_file + ".tmp", "w") as f:
                    f.write(str(idle_polls))
                os.replace(args.idle_file + ".tmp", args.idle_file)
            time.sleep(args.poll)


if __name__ == "__main__":
    sys.exit(main())
