"""Helpers for the IAM and STS tests: policy documents, users with access keys, sessions."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import ENFORCE_ACCOUNT as ACCOUNT


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trust(*principals: str, **extra: Any) -> str:
    return document({"Effect": "Allow", "Principal": {"AWS": list(principals)},
                     "Action": "sts:AssumeRole", **extra})


def allow(action: str, resource: str = "*") -> str:
    return document({"Effect": "Allow", "Action": action, "Resource": resource})


def error_of(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    response = caught.value.response
    return (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"],
            response["Error"]["Message"])


def user_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:user/{name}"


def role_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def make_user(iam: Any, name: str) -> dict[str, str]:
    """A user with an access key: its credentials for ``ServerProcess.client``."""
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"],
            "aws_secret_access_key": key["SecretAccessKey"]}


def session_of(credentials: dict[str, Any]) -> dict[str, str]:
    return {"aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"]}
