"""Reads what the browser test checks in the local stand-ins, through the AWS APIs (boto3, from
the local venv) with the stack's environment (infra/local/common.sh stack_env):

    python stack.py user <user id>   -> the user item as JSON, or null
    python stack.py email <email>    -> the email-uniqueness item as JSON, or null
    python stack.py secret           -> the environment's secret (celloProductId, ...) as JSON
"""
import json
import os
import sys
from decimal import Decimal

import boto3
from boto3.dynamodb.types import TypeDeserializer


def item(pk: str, sk: str):
    ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
    found = ddb.get_item(
        TableName=os.environ["TABLE_NAME"],
        Key={"pk": {"S": pk}, "sk": {"S": sk}},
        ConsistentRead=True,
    ).get("Item")
    if found is None:
        return None
    des = TypeDeserializer()
    return {k: des.deserialize(v) for k, v in found.items()}


def plain(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(type(value).__name__)


def main(argv) -> int:
    if argv[:1] == ["user"] and len(argv) == 2:
        out = item(f"USER#{argv[1]}", "PROFILE")
    elif argv[:1] == ["email"] and len(argv) == 2:
        out = item(f"EMAIL#{argv[1].lower()}", "EMAIL")
    elif argv == ["secret"]:
        sm = boto3.client(
            "secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
        )
        out = json.loads(sm.get_secret_value(SecretId=os.environ["SECRET_ID"])["SecretString"])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(out, default=plain))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
