"""Bench: KMS request cost as the data grows (issue 10, part 4).

In process, prints the median time of ``CreateKey`` + ``CreateAlias`` and of one ``ListKeys``
and one ``ListAliases`` page (40 items, from a marker in the middle) with ``--small`` keys and
aliases and with ``--large``, and their ratios, measured in the same run (target: CreateKey +
CreateAlias within 1.2x; pages flat). The large population is written straight to the store
(copies of a real key with new ids, one alias each), to build it in seconds.

Run: ``.venv/bin/python bench/kms_scale.py [--small 100] [--large 20000] [--samples 40]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from hsmkms.kms.model import ALIASES, KEYS, Alias, Key
from hsmkms.testing.inprocess import InProcess

SCOPE = "111122223333/us-east-1"


def _median_ms(fn: Callable[[], Any], samples: int) -> float:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _grow(inproc: InProcess, total: int) -> None:
    """Copies of an existing key, each with one alias, until the scope holds ``total`` keys."""
    app = inproc.app
    keys = app.store.repository(KEYS, Key)
    aliases = app.store.repository(ALIASES, Alias)
    model = keys.values(SCOPE)[0]
    have = keys.count(SCOPE)
    with app.lock:
        while have < total:
            with app.store.unit_of_work():
                for _ in range(min(1000, total - have)):
                    key_id = str(uuid.uuid4())
                    keys.put(SCOPE, key_id, replace(model, key_id=key_id,
                                                    created=model.created + have))
                    aliases.put(SCOPE, f"alias/bulk-{key_id}",
                                Alias(f"alias/bulk-{key_id}", key_id, model.created,
                                      model.created))
                    have += 1


def measure(inproc: InProcess, samples: int) -> tuple[float, float, float]:
    kms = inproc.client("kms")

    def create() -> None:
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=f"alias/b-{uuid.uuid4()}", TargetKeyId=key_id)

    first = kms.list_keys(Limit=50)
    keys_marker = first.get("NextMarker")
    first_aliases = kms.list_aliases(Limit=50)
    aliases_marker = first_aliases.get("NextMarker")
    create_ms = _median_ms(create, samples)
    list_keys_ms = _median_ms(lambda: kms.list_keys(Limit=40, Marker=keys_marker), samples)
    list_aliases_ms = _median_ms(lambda: kms.list_aliases(Limit=40, Marker=aliases_marker),
                                 samples)
    return create_ms, list_keys_ms, list_aliases_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, InProcess(Path(tmp) / "data") as inproc:
        kms = inproc.client("kms")
        kms.create_key()
        _grow(inproc, args.small)
        small = measure(inproc, args.samples)
        _grow(inproc, args.large)
        large = measure(inproc, args.samples)
    names = ("CreateKey+CreateAlias", "ListKeys page (40)", "ListAliases page (40)")
    for name, s, big in zip(names, small, large, strict=True):
        print(f"{name:24s} {args.small:6d} keys: {s:6.2f} ms   {args.large:6d} keys: "
              f"{big:6.2f} ms   ratio {big / s:5.2f}")
    print("target: CreateKey+CreateAlias ratio <= 1.2; pages flat")
    return 0


if __name__ == "__main__":
    sys.exit(main())
