"""The HSM user checks: ``cloudhsm-cli`` run as a subprocess (``--hsm-checks``).

The same commands work with AWS's CloudHSM CLI (Client SDK 5) and the one hsmkms installs:
``user list`` (kmsuser's presence, role, lockout) and, with a login, ``key list --filter
attr.id=0x<backingKeyId>`` (is the key material in the cluster). The login comes from
``CLOUDHSM_ROLE`` and ``CLOUDHSM_PIN`` (``<username>:<password>``) in the child's environment,
as both CLIs read them: a password never appears on a command line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hsmkms.doctor.facts import HsmUser, HsmView


@dataclass(frozen=True, slots=True)
class Login:
    role: str
    username: str
    password: str = field(repr=False)


def default_executable() -> list[str]:
    """``cloudhsm-cli`` from PATH, else the one installed beside this Python."""
    found = shutil.which("cloudhsm-cli")
    if found:
        return [found]
    beside = Path(sys.executable).with_name("cloudhsm-cli")
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-m", "hsmkms.cloudhsm_cli.main"]


@dataclass(frozen=True, slots=True)
class CloudHsmCli:
    executable: tuple[str, ...]
    #: Variables added to the child's environment (the endpoint and region of this run).
    env: dict[str, str]
    login: Login | None = None
    timeout: float = 60.0

    def run(self, cluster_id: str, *args: str, log_in: bool) -> tuple[int, Any]:
        env = {**os.environ, **self.env, "CLOUDHSM_CLUSTER_ID": cluster_id}
        env.pop("CLOUDHSM_ROLE", None)
        env.pop("CLOUDHSM_PIN", None)
        if log_in and self.login is not None:
            env["CLOUDHSM_ROLE"] = self.login.role
            env["CLOUDHSM_PIN"] = f"{self.login.username}:{self.login.password}"
        try:
            done = subprocess.run([*self.executable, *args, "--cluster-id", cluster_id],  # noqa: S603
                                  env=env, capture_output=True, text=True, check=False,
                                  timeout=self.timeout, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as err:
            return 127, f"cannot run {self.executable[0]}: {err}"
        try:
            return done.returncode, json.loads(done.stdout)
        except ValueError:
            return done.returncode, (done.stdout + done.stderr).strip()

    def read(self, cluster_id: str, backing_ids: Sequence[str], *,
             kmsuser_busy: bool) -> HsmView:
        """The users, and whether each backing key is in the cluster (looked up only with a
        login that may look: not as kmsuser while KMS is logged in as kmsuser)."""
        code, out = self.run(cluster_id, "user", "list", log_in=False)
        if code != 0 or not isinstance(out, dict):
            return HsmView(error=f"cloudhsm-cli user list failed: {_text(out)}")
        users = tuple(HsmUser.from_api(u) for u in out.get("data", {}).get("users", []))
        login = self.login
        if login is None or not backing_ids:
            return HsmView(users=users)
        if login.username == "kmsuser" and kmsuser_busy:
            return HsmView(users=users, key_error="not looked for as kmsuser: KMS is logged in "
                           "as kmsuser while the key store is CONNECTED (log in as admin)")
        found: dict[str, bool] = {}
        for bid in backing_ids:
            code, out = self.run(cluster_id, "key", "list", "--filter", f"attr.id=0x{bid}",
                                 log_in=True)
            if code != 0 or not isinstance(out, dict):
                return HsmView(users=users, key_error=f"cloudhsm-cli key list as "
                               f"{login.username} failed: {_text(out)}")
            found[bid] = int(out.get("data", {}).get("total_key_count", 0)) > 0
        return HsmView(users=users, backing_keys=found, login_role=login.role)


def _text(out: Any) -> str:
    if isinstance(out, dict):
        return str(out.get("data", out))
    return str(out)[:300]
