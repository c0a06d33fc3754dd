"""Regenerate the service models hsmkms speaks, from one pinned botocore release.

The server compiles its wire protocols (operations, members, constraints, error shapes) from
``src/hsmkms/protocol/models/<service>.json``, never from the botocore a user happens to have
installed. This script writes those files::

    python scripts/gen_models.py                    # botocore 1.44.8 (the pinned release)
    python scripts/gen_models.py --botocore 1.45.0  # move to another release
    python scripts/gen_models.py --wheel-dir DIR    # use a botocore wheel already in DIR

It runs ``pip download botocore==<version> --no-deps`` into a temporary directory (unless
``--wheel-dir`` names one holding that wheel), reads
``botocore/data/<service>/<newest api version>/service-2.json(.gz)`` from the wheel and writes
each model with its documentation stripped:

* ``kms`` and ``cloudhsmv2``: every operation and every shape.
* ``ec2`` and ``cloudtrail``: only the operations hsmkms serves (``EC2_OPERATIONS``,
  ``CLOUDTRAIL_OPERATIONS`` below: keep them equal to the handlers in ``hsmkms/ec2/api.py``,
  ``hsmkms/ec2/api_groups.py`` and ``hsmkms/trail/api.py``) and the shapes they reach (input,
  output, errors). The names of the other operations are kept in ``hsmkms.unserved_operations``
  so they still answer "not implemented yet" rather than "unknown operation".

Each file records where it came from under a top-level ``"hsmkms"`` key:
``{"botocore": "<version>", "source": "botocore/data/...", "unserved_operations": [...]}``.
After regenerating, run the tests: new enum values or operations show up in
``tests/e2e/test_model_coverage.py`` and ``tests/e2e/test_protocol_errors.py``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

DEFAULT_BOTOCORE = "1.44.8"
OUT = Path(__file__).resolve().parents[1] / "src" / "hsmkms" / "protocol" / "models"
SERVICES = ("kms", "cloudhsmv2", "ec2", "cloudtrail")
EC2_OPERATIONS = (
    "DescribeAvailabilityZones", "DescribeVpcs", "CreateVpc", "DeleteVpc", "DescribeSubnets",
    "CreateSubnet", "DeleteSubnet", "DescribeNetworkInterfaces", "CreateNetworkInterface",
    "DeleteNetworkInterface", "CreateSecurityGroup", "DeleteSecurityGroup",
    "DescribeSecurityGroups", "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress",
)
CLOUDTRAIL_OPERATIONS = ("LookupEvents",)
#: Operations kept per service; None keeps them all.
SERVED: dict[str, tuple[str, ...] | None] = {
    "kms": None, "cloudhsmv2": None, "ec2": EC2_OPERATIONS, "cloudtrail": CLOUDTRAIL_OPERATIONS,
}
_DOC_KEYS = frozenset({"documentation", "documentationUrl"})

Model = dict[str, Any]


def download(version: str, into: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",  # noqa: S603
                    "--only-binary=:all:", f"botocore=={version}", "--dest", str(into)],
                   check=True)
    return find_wheel(version, into)


def find_wheel(version: str, directory: Path) -> Path:
    found = sorted(directory.glob(f"botocore-{version}-*.whl"))
    if not found:
        raise SystemExit(f"no botocore-{version} wheel in {directory}")
    return found[0]


def read_model(wheel: zipfile.ZipFile, service: str) -> tuple[str, Model]:
    """The newest API version of ``service`` in the wheel, as botocore's loader picks it."""
    prefix = f"botocore/data/{service}/"
    candidates = sorted(name for name in wheel.namelist() if name.startswith(prefix)
                        and name.rsplit("/", 1)[-1] in ("service-2.json", "service-2.json.gz"))
    if not candidates:
        raise SystemExit(f"the wheel has no model for {service}")
    newest = max(name.split("/")[3] for name in candidates)
    path = next(n for n in candidates if n.split("/")[3] == newest)
    raw = wheel.read(path)
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    return path.removesuffix(".gz"), json.loads(raw)


def _strip(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in _DOC_KEYS}


def strip_docs(model: Model) -> Model:
    """The model without its prose: documentation of the service, operations, shapes and
    members (structurally, so a member that happened to be named ``documentation`` stays)."""
    out = _strip(model)
    out["operations"] = {name: _strip(op) for name, op in model["operations"].items()}
    shapes: dict[str, Any] = {}
    for name, shape in model["shapes"].items():
        clean = _strip(shape)
        if "members" in clean:
            clean["members"] = {m: _strip(ref) for m, ref in clean["members"].items()}
        for part in ("member", "key", "value"):
            if part in clean:
                clean[part] = _strip(clean[part])
        shapes[name] = clean
    out["shapes"] = shapes
    return out


def _refs(shape: dict[str, Any]) -> list[str]:
    refs = [ref["shape"] for ref in shape.get("members", {}).values()]
    refs += [shape[part]["shape"] for part in ("member", "key", "value") if part in shape]
    return refs


def trim(model: Model, keep: tuple[str, ...]) -> tuple[Model, list[str]]:
    """Only the ``keep`` operations and the shapes they reach; also the names dropped."""
    missing = set(keep) - set(model["operations"])
    if missing:
        raise SystemExit(f"operations not in the model: {sorted(missing)}")
    operations = {name: op for name, op in model["operations"].items() if name in keep}
    todo: list[str] = []
    for op in operations.values():
        todo += [op[part]["shape"] for part in ("input", "output") if part in op]
        todo += [err["shape"] for err in op.get("errors", ())]
    reached: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo += _refs(model["shapes"][name])
    out = dict(model)
    out["operations"] = operations
    out["shapes"] = {name: s for name, s in model["shapes"].items() if name in reached}
    return out, [name for name in model["operations"] if name not in keep]


def build(wheel: zipfile.ZipFile, version: str, service: str) -> Model:
    source, model = read_model(wheel, service)
    model = strip_docs(model)
    unserved: list[str] = []
    keep = SERVED[service]
    if keep is not None:
        model, unserved = trim(model, keep)
    return {"hsmkms": {"botocore": version, "source": source,
                       "unserved_operations": unserved}, **model}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--botocore", default=DEFAULT_BOTOCORE, help="botocore release")
    parser.add_argument("--wheel-dir", type=Path, help="a directory holding the botocore wheel")
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the models")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = (find_wheel(args.botocore, args.wheel_dir) if args.wheel_dir
                else download(args.botocore, Path(tmp)))
        args.out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path) as wheel:
            for service in SERVICES:
                model = build(wheel, args.botocore, service)
                target = args.out / f"{service}.json"
                target.write_text(json.dumps(model, indent=1, ensure_ascii=False) + "\n")
                print(f"{target}: {len(model['operations'])} operations, "
                      f"{len(model['shapes'])} shapes (botocore {args.botocore})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
