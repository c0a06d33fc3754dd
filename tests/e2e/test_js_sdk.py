"""The real AWS SDK for JavaScript v3 (pinned in tests/js/package-lock.json) against a real
server: KMS CreateKey, then CloudTrail LookupEvents, also with a time window (``StartTime`` and
``EndTime`` as the JS SDK serialises them), ``MaxResults`` and a ``NextToken`` page. The JS SDK
sends the short target ``CloudTrail_20131101.LookupEvents`` where botocore sends the long one.
Needs node and npm (``npm ci`` installs the pinned packages into a copy of tests/js); without
them it fails."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

from hsmkms.testing.server import TEST_CREDENTIALS, ServerProcess

PACKAGE = Path(__file__).resolve().parent.parent / "js"
FILES = ("package.json", "package-lock.json", "lookup.mjs")
#: Bounds on a hung install or script, not expectations.
NPM_TIMEOUT = 600
NODE_TIMEOUT = 120
DAY = 86400


def installed(tmp_path: Path) -> Path:
    here = tmp_path / "js"
    here.mkdir()
    for name in FILES:
        shutil.copy(PACKAGE / name, here / name)
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed to install the pinned AWS SDK for JavaScript"
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=here,  # noqa: S603
                          capture_output=True, text=True, check=False, timeout=NPM_TIMEOUT)
    assert done.returncode == 0, done.stderr
    return here


def test_kms_and_lookup_events_with_the_javascript_sdk(hsmkms_server: ServerProcess,
                                                        tmp_path: Path) -> None:
    here = installed(tmp_path)
    node = shutil.which("node")
    assert node is not None, "node is needed to run the AWS SDK for JavaScript"
    # CreateKey events a day before the window, three in it, and the script's a day after it
    kms = hsmkms_server.client("kms")
    kms.create_key(Description="before the window")
    hsmkms_server.advance(DAY)
    in_window = [kms.create_key(Description=f"in the window {i}")["KeyMetadata"]
                 for i in range(3)]
    hsmkms_server.advance(DAY)
    middle = in_window[0]["CreationDate"].astimezone(dt.UTC)
    env = {**os.environ, "HSMKMS_ENDPOINT": hsmkms_server.endpoint, "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": TEST_CREDENTIALS["aws_access_key_id"],
           "AWS_SECRET_ACCESS_KEY": TEST_CREDENTIALS["aws_secret_access_key"],
           "HSMKMS_WINDOW_START": (middle - dt.timedelta(hours=1)).isoformat(),
           "HSMKMS_WINDOW_END": (middle + dt.timedelta(hours=1)).isoformat()}
    done = subprocess.run([node, "lookup.mjs"], cwd=here, env=env,  # noqa: S603
                          capture_output=True, text=True, check=False, timeout=NODE_TIMEOUT)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["targets"] == ["TrentService.CreateKey", *["CloudTrail_20131101.LookupEvents"] * 3]
    arn = out["keyArn"]
    [event] = out["events"]
    assert {k: event[k] for k in ("EventName", "EventSource", "ReadOnly", "Username",
                                  "AccessKeyId", "Resources")} == {
        "EventName": "CreateKey", "EventSource": "kms.amazonaws.com", "ReadOnly": "false",
        "Username": TEST_CREDENTIALS["aws_access_key_id"],
        "AccessKeyId": TEST_CREDENTIALS["aws_access_key_id"],
        "Resources": [{"ResourceType": "AWS::KMS::Key", "ResourceName": arn}]}
    record = event["CloudTrailEvent"]
    assert record["eventName"] == "CreateKey"
    assert record["requestParameters"]["description"] == "from the JS SDK"
    assert record["responseElements"]["keyMetadata"]["arn"] == arn
    assert record["userAgent"].startswith("aws-sdk-js/3.")
    assert event["EventTime"] == record["eventTime"].replace("Z", ".000Z")

    # The window holds exactly the three keys made in it, newest first, two to a page.
    pages = out["pages"]
    assert [p["hasNextToken"] for p in pages] == [True, False]
    assert [[(e["EventName"], e["EventSource"], e["Resources"][0]["ResourceName"],
              e["CloudTrailEvent"]["requestParameters"]["description"])
             for e in p["events"]] for p in pages] == [
        [("CreateKey", "kms.amazonaws.com", in_window[2]["Arn"], "in the window 2"),
         ("CreateKey", "kms.amazonaws.com", in_window[1]["Arn"], "in the window 1")],
        [("CreateKey", "kms.amazonaws.com", in_window[0]["Arn"], "in the window 0")]]
