#!/usr/bin/env bash
# The DynamoDB stand-in's transactions (infra/local/moto_serialized.py backs them up by item,
# not by table): a refused one leaves every item it named and the table's stream as they were,
# an accepted one writes all of it, one naming an item twice writes nothing. Run against the
# test stack's DynamoDB, on tables of its own that it deletes again.
set -euo pipefail
cd "$(dirname "$0")/../../.."
python - <<'PY'
import os, uuid
import boto3

dynamodb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
streams = boto3.client("dynamodbstreams", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
run = uuid.uuid4().hex[:12]
ranged, hashed = f"tx-ranged-{run}", f"tx-hashed-{run}"
S = lambda value: {"S": value}


def key(pk, sk=None):
    return {"pk": S(pk), **({"sk": S(sk)} if sk else {})}


def create(name, ranged_key):
    schema = [("pk", "HASH")] + ([("sk", "RANGE")] if ranged_key else [])
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": a, "KeyType": t} for a, t in schema],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a, _ in schema],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def stream_records(name):
    arn = dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return len(streams.get_records(ShardIterator=iterator)["Records"])


def get(name, k):
    return dynamodb.get_item(TableName=name, Key=k).get("Item")


def count_of(name):
    return get(ranged, key("a", "1"))["n"]["N"]


increment = {
    "Update": {
        "TableName": ranged,
        "Key": key("a", "1"),
        "UpdateExpression": "SET n = n + :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
}
create(ranged, True)
create(hashed, False)
try:
    dynamodb.put_item(TableName=ranged, Item={**key("a", "1"), "n": {"N": "1"}})
    dynamodb.put_item(TableName=hashed, Item=key("x"))
    before = stream_records(ranged), stream_records(hashed)

    try:
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": ranged, "Item": key("new", "1")}},
            increment,
            {"Delete": {"TableName": hashed, "Key": key("x")}},
            {"ConditionCheck": {"TableName": hashed, "Key": key("absent"),
                                "ConditionExpression": "attribute_exists(pk)"}},
        ])
        raise SystemExit("a transaction whose condition failed was accepted")
    except dynamodb.exceptions.TransactionCanceledException:
        pass
    assert get(ranged, key("new", "1")) is None, "the refused put was kept"
    assert count_of(ranged) == "1", "the refused update was kept"
    assert get(hashed, key("x")) is not None, "the refused delete was kept"
    assert (stream_records(ranged), stream_records(hashed)) == before, "stream records were kept"

    dynamodb.transact_write_items(TransactItems=[
        {"Put": {"TableName": ranged, "Item": key("new", "1")}}, increment])
    assert get(ranged, key("new", "1")) is not None and count_of(ranged) == "2"
    assert stream_records(ranged) == before[0] + 2

    try:
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": hashed, "Item": key("twice")}},
            {"Put": {"TableName": hashed, "Item": key("twice")}},
        ])
        raise SystemExit("a transaction naming one item twice was accepted")
    except dynamodb.exceptions.ClientError as refused:
        assert refused.response["Error"]["Code"] == "ValidationException", refused.response
    assert get(hashed, key("twice")) is None, "the refused duplicate was written"
finally:
    dynamodb.delete_table(TableName=ranged)
    dynamodb.delete_table(TableName=hashed)
print("moto transactions: refused ones restore items and streams, accepted ones write all")
PY
