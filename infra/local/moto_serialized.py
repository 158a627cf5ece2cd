#!/usr/bin/env python3
"""moto's server (`moto_server`'s arguments), with each call into its DynamoDB backend made one
at a time.

moto backs a transaction up by copying the tables it names and puts the copy back when the
transaction is refused (a condition failed): a write another request thread made in between is
lost with it. In the test suite that lost a webhook's dedupe record, and a redelivery was then
applied twice, which DynamoDB never does. One lock around the backend's calls keeps DynamoDB's
promise; the requests are small, so the stand-in stays fast. Started by stack.sh."""
import functools
import inspect
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_lock = threading.RLock()


def _one_at_a_time(method):
    @functools.wraps(method)
    def serialized(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    return serialized


for name, attr in list(vars(DynamoDBBackend).items()):
    if inspect.isfunction(attr) and not name.startswith("_"):
        setattr(DynamoDBBackend, name, _one_at_a_time(attr))

if __name__ == "__main__":
    sys.exit(main())
