#!/usr/bin/env python3
"""moto's server (`moto_server`'s arguments), with each call into its DynamoDB backend made one
at a time, and transactions backed up by the items they name instead of whole tables.

moto backs a transaction up by copying the tables it names and puts the copy back when the
transaction is refused (a condition failed): a write another request thread made in between is
lost with it. In the test suite that lost a webhook's dedupe record, and a redelivery was then
applied twice, which DynamoDB never does. One lock around the backend's calls keeps DynamoDB's
promise; the requests are small, so the stand-in stays fast.

Served by waitress rather than moto's Werkzeug dev server: Werkzeug answers every request with
`Connection: close`, so each SDK call paid a new TCP connection (and the test suite thousands of
them), where DynamoDB and Secrets Manager keep connections alive. Waitress speaks HTTP/1.1
keep-alive as they do. Both moto stand-ins run here (Secrets Manager needs none of the patches).

The copy itself costs the whole table (its items and every stream record so far) on every
transaction: half of moto's CPU in a CI run, and growing with the run. With the lock no one else
can write meanwhile, so the state a refused transaction must restore is only the items it names
and the stream records it appended: those are what is backed up and put back here. Started by
stack.sh."""
import argparse
import copy
import functools
import inspect
import os
import threading

import waitress

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.server import DomainDispatcherApplication, create_backend_app

_lock = threading.RLock()


def _one_at_a_time(method):
    @functools.wraps(method)
    def serialized(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    return serialized


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto's DynamoDB backend: a table's "copy" is the
    table itself, so moto's own rollback (putting the copy back) changes nothing, and
    `_item_backup` restores what the transaction changed. Everything else is copied as before."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _item_backup(backend, transact_items):
    """What each named item and stream is before the transaction, or None when the request is
    too malformed to say (moto then refuses it before writing anything, or copies the tables)."""
    items, streams = {}, {}
    try:
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op["Item"] if "Item" in op else op["Key"]
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.has_range_key else None
            current = table.get_item(hash_value, range_value)
            items.setdefault((id(table), hash_value, range_value), (table, copy.deepcopy(current)))
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
    except Exception:
        return None
    return items, streams


def _restore(backup):
    items, streams = backup
    for (_, hash_value, range_value), (table, before) in items.items():
        if range_value is None:
            if before is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = before
        elif before is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = before
    for shard, length in streams.values():
        del shard.items[length:]


def _backed_up_by_item(transact_write_items):
    @functools.wraps(transact_write_items)
    def by_item(self, transact_items):
        backup = _item_backup(self, transact_items)
        if backup is None:
            dynamodb_models.copy = copy
            try:
                return transact_write_items(self, transact_items)
            finally:
                dynamodb_models.copy = _TablesNotCopied
        try:
            return transact_write_items(self, transact_items)
        except BaseException:
            _restore(backup)
            raise

    return by_item


dynamodb_models.copy = _TablesNotCopied
DynamoDBBackend.transact_write_items = _backed_up_by_item(DynamoDBBackend.transact_write_items)
for name, attr in list(vars(DynamoDBBackend).items()):
    if inspect.isfunction(attr) and not name.startswith("_"):
        setattr(DynamoDBBackend, name, _one_at_a_time(attr))


def serve():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    # Enough threads for the tests' races (moto's DynamoDB calls still go one at a time), and
    # connections kept for every client the suite opens at once.
    waitress.serve(
        DomainDispatcherApplication(create_backend_app),
        host=args.host,
        port=args.port,
        threads=8,
        connection_limit=1000,
        ident="moto",
        _quiet=True,
    )


if __name__ == "__main__":
    serve()
