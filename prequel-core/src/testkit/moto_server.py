"""Serves moto for Prequel's tests: one request at a time, with cheap transaction rollbacks.

Run as `python moto_server.py PORT` with moto's venv's python (see testkit/moto.rs).

1. One request at a time (werkzeug without threads). moto's threaded server is not atomic the
   way AWS is: a cancelled TransactWriteItems "rolls back" by putting back a copy of every
   table it touched, erasing what other requests wrote meanwhile. Served one at a time, every
   request is atomic, as on AWS; requests of different clients still interleave freely. It
   costs little: moto is Python, and its threads shared one interpreter lock anyway.

2. Rollback by item, not by table. For that rollback moto deep-copies the whole table once per
   item of every transaction, before it knows whether any condition fails: 13 ms per
   transaction at 100 items, 460 ms at 10,000 (measured with moto 5.2.5), which made a few
   hundred interviews on three replicas take hours. A transaction can only change the items it
   names, so a copy of those items restores the same state. moto's whole-table copy is turned
   into a no-op (the table itself stands for its "copy", and putting it back changes nothing),
   and a cancelled transaction puts the named items back as they were. Indexes need nothing:
   moto keeps none, it filters the items at every query. Streams are not used by Prequel.
"""

import copy
import sys
import types

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import MotoRequestHandler
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def _deepcopy_except_tables(value, memo=None):
    if isinstance(value, Table):
        return value
    return copy.deepcopy(value, memo)


# The models module's own name `copy`; every other use of copy.deepcopy is unchanged.
dynamodb_models.copy = types.SimpleNamespace(deepcopy=_deepcopy_except_tables)

_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def _key_of(table, attributes):
    hash_value = DynamoType(attributes[table.hash_key_attr])
    if table.range_key_attr is None:
        return hash_value, None
    return hash_value, DynamoType(attributes[table.range_key_attr])


def _restore(table, hash_value, range_value, item):
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
    elif item is None:
        table.items.get(hash_value, {}).pop(range_value, None)
    else:
        table.items[hash_value][range_value] = item


def transact_write_items(self, transact_items):
    saved = []
    for entry in transact_items:
        try:
            _, operation = next(iter(entry.items()))
            table = self.tables[operation["TableName"]]
            attributes = operation["Item"] if "Item" in operation else operation["Key"]
            hash_value, range_value = _key_of(table, attributes)
        except (KeyError, StopIteration, TypeError, AttributeError):
            continue  # malformed: moto's own code rejects it before changing anything
        before = table.get_item(hash_value, range_value)
        saved.append((table, hash_value, range_value, copy.deepcopy(before)))
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table, hash_value, range_value, item in reversed(saved):
            _restore(table, hash_value, range_value, item)
        raise


dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items

if __name__ == "__main__":
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        "127.0.0.1",
        int(sys.argv[1]),
        app,
        threaded=False,
        request_handler=MotoRequestHandler,
    )
