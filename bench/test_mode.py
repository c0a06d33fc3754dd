"""Time per test, hsmkms's ``mock_hsmkms`` against moto's ``mock_aws``, in the same run:
``python bench/test_mode.py [--tests 60]``.

A "test" is what a user's test costs: enter the mock (setup), run a small body the way code under
test does (``boto3.client("kms")`` with no arguments, CreateKey, Encrypt, Decrypt), exit the mock
(teardown). The two mocks alternate test by test so load on the machine hits both alike; the
first test of each is a warm-up and not counted. Prints the median wall time of a whole test and
of its setup, body and teardown, for each mock, and the ratio hsmkms / moto of the whole.
moto is optional (``pip install moto`` into the venv; it is not a test dependency): without it
only hsmkms is measured, and the script says so.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import boto3
from hsmkms.testing import mock_hsmkms

Phase = tuple[float, float, float]


def body() -> None:
    kms = boto3.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"p" * 64)["CiphertextBlob"]
    if kms.decrypt(CiphertextBlob=blob)["Plaintext"] != b"p" * 64:
        raise SystemExit("decrypt gave something else")


def one_test(make_mock: Callable[[], Any]) -> Phase:
    t0 = time.perf_counter()
    mock = make_mock()
    mock.__enter__()
    t1 = time.perf_counter()
    body()
    t2 = time.perf_counter()
    mock.__exit__(None, None, None)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


def report(name: str, runs: list[Phase]) -> float:
    whole = statistics.median(sum(r) for r in runs)
    setup, run, teardown = (statistics.median(r[i] for r in runs) for i in range(3))
    print(f"{name:>12}: {whole * 1e3:7.2f} ms per test (median of {len(runs)}; "
          f"setup {setup * 1e3:.2f}, body {run * 1e3:.2f}, teardown {teardown * 1e3:.2f} ms)")
    return whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=60, help="tests per mock (default 60)")
    args = parser.parse_args()
    # As on a CI machine: nothing configured, so each mock supplies its own credentials.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

    mocks: dict[str, Callable[[], Any]] = {"mock_hsmkms": mock_hsmkms}
    try:
        from moto import mock_aws
    except ImportError:
        print("moto is not importable here: measuring hsmkms only "
              "(pip install moto into this venv to compare)")
    else:
        @contextlib.contextmanager
        def moto_with_region() -> Any:
            # moto supplies credentials, not a region; a region-less client needs one.
            os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
            try:
                with mock_aws():
                    yield
            finally:
                os.environ.pop("AWS_DEFAULT_REGION", None)
        mocks["moto mock_aws"] = moto_with_region

    runs: dict[str, list[Phase]] = {name: [] for name in mocks}
    for i in range(args.tests + 1):
        for name, make in mocks.items():
            phase = one_test(make)
            if i:
                runs[name].append(phase)
    medians = {name: report(name, r) for name, r in runs.items()}
    if len(medians) == 2:
        ratio = medians["mock_hsmkms"] / medians["moto mock_aws"]
        print(f"ratio hsmkms / moto: {ratio:.2f} ({'within' if ratio <= 1 else 'over'} target 1.0)")


if __name__ == "__main__":
    main()
