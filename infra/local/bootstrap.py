"""Creates the local table (with its TTL attribute and its stream), the environment's secret and
cello-events' dead-letter queue in the stand-ins, through the same AWS APIs a deployed stack
uses. Idempotent."""
import json
import os
import sys

import boto3

TABLE = os.environ["TABLE_NAME"]
SECRET_ID = os.environ["SECRET_ID"]
# The local stand-in of the stream mapping's on-failure destination (infra/local/stream_feeder.py).
DEAD_LETTER_QUEUE = os.environ.get("CELLO_EVENTS_DLQ_NAME", "cello-events-dead-letter-local")
# As the template's table: both images, for cello-events (a stream nobody reads costs nothing).
STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}

# Development values only. Real ones live in each environment's Secrets Manager secret.
LOCAL_SECRET = {
    "celloProductId": "p_local_dev",
    "celloProductSecret": "local-cello-product-secret-not-for-production",
    "stripeSecretKey": "sk_test_local_stand_in",
    "stripeWebhookSecrets": ["whsec_local_dev_webhook_secret"],
    # Cello's REST API key pair, accepted by the Cello stand-in (infra/local/cello_standin.py).
    "celloApiAccessKeyId": "local-cello-access-key-id",
    "celloApiSecretAccessKey": "local-cello-secret-access-key",
    # The HTTP Basic pair Cello's reward callback sends (the stand-in's deliveries use it).
    "celloRewardsWebhookUsername": "cello-local",
    "celloRewardsWebhookPassword": "local-rewards-webhook-password",
}


def main() -> int:
    ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
    if TABLE not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=TABLE,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification=STREAM,
        )
        ddb.get_waiter("table_exists").wait(TableName=TABLE)
        ddb.update_time_to_live(
            TableName=TABLE,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
        )
    elif not ddb.describe_table(TableName=TABLE)["Table"].get("StreamSpecification", {}).get("StreamEnabled"):
        ddb.update_table(TableName=TABLE, StreamSpecification=STREAM)
    # moto serves SQS on the same port as DynamoDB.
    boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"]).create_queue(
        QueueName=DEAD_LETTER_QUEUE
    )
    sm = boto3.client(
        "secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
    )
    try:
        sm.create_secret(Name=SECRET_ID, SecretString=json.dumps(LOCAL_SECRET))
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps(LOCAL_SECRET))
    return 0


if __name__ == "__main__":
    sys.exit(main())
