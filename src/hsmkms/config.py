"""Configuration: flags, ``HSMKMS_*`` environment variables, defaults (in that order).

Every setting is one row of :data:`SETTINGS`; ``hsmkms serve --help`` and the README's table
are checked against it by a test, so an undocumented setting fails the build.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

#: name -> (environment variable, default, help)
SETTINGS: dict[str, tuple[str, str, str]] = {
    "host": ("HSMKMS_HOST", "127.0.0.1", "address to listen on"),
    "port": ("HSMKMS_PORT", "4599", "port to listen on"),
    "data_dir": ("HSMKMS_DATA_DIR", ".hsmkms", "where state, the root key and logs live"),
    "database": ("HSMKMS_DATABASE", "",
                 ("PostgreSQL database holding the state instead of SQLite in the data dir, as "
                  "a libpq URL: postgresql://user@host:port/dbname")),
    "account": ("HSMKMS_ACCOUNT", "111122223333",
                "account for requests whose access key id is not a 12-digit account id"),
    "region": ("HSMKMS_REGION", "us-east-1", "region for requests without a SigV4 scope"),
    "root_key": ("HSMKMS_ROOT_KEY", "",
                 "base64 of 32 bytes sealing secrets at rest; default: <data-dir>/root.key"),
    "timing": ("HSMKMS_TIMING", "fast",
               "fast (transitions within about a second) or realistic (AWS-like minutes)"),
    "max_body": ("HSMKMS_MAX_BODY", "1048576", "largest request body accepted, in bytes"),
    "log_level": ("HSMKMS_LOG_LEVEL", "warning", "uvicorn/hsmkms log level"),
    "max_clusters": ("HSMKMS_MAX_CLUSTERS", "4",
                     "CloudHSM clusters per account and region (AWS default quota)"),
    "max_hsms": ("HSMKMS_MAX_HSMS", "6", "CloudHSM HSMs per account and region (AWS default)"),
    "max_grants_per_key": ("HSMKMS_MAX_GRANTS_PER_KEY", "50000",
                           "KMS grants per key (AWS default quota)"),
    "max_grants_per_principal": ("HSMKMS_MAX_GRANTS_PER_PRINCIPAL", "500",
                                 "KMS grants for one grantee principal per key (AWS quota)"),
    "pkcs11_sessions": ("HSMKMS_PKCS11_SESSIONS", "1024",
                        ("PKCS #11 sessions of each HSM, shared by all applications (AWS: 1,024 "
                         "per application)")),
    "on_demand_rotations": ("HSMKMS_ON_DEMAND_ROTATIONS", "25",
                            ("RotateKeyOnDemand calls allowed per KMS key (AWS: 25; 10 before "
                             "2025)")),
    "cli_idle_timeout": ("HSMKMS_CLI_IDLE_TIMEOUT", "1800",
                         "seconds after which an idle cloudhsm-cli login session ends"),
    "request_timeout": ("HSMKMS_REQUEST_TIMEOUT", "30",
                        ("seconds a connection may take to send a whole request (headers and "
                         "body) before it is closed; 0: never")),
    "allowed_hosts": ("HSMKMS_ALLOWED_HOSTS", "",
                      ("comma-separated host names the admin and cloudhsm-cli routes also "
                       "answer to (e.g. a container's service name), besides loopback names "
                       "and the server's own address")),
    "auth": ("HSMKMS_AUTH", "off",
             ("off (signatures not checked), verify (SigV4 checked against the root keys) or "
              "enforce (verify, then key policies decide)")),
    "root_access_key_id": ("HSMKMS_ROOT_ACCESS_KEY_ID", "",
                           ("the default account's root access key id in verify/enforce; "
                            "default: generated into <data-dir>/credentials")),
    "root_secret_access_key": ("HSMKMS_ROOT_SECRET_ACCESS_KEY", "",
                               "its secret (set both or neither)"),
    "root_keys": ("HSMKMS_ROOT_KEYS", "",
                  "other accounts' root keys: <account>:<access key id>:<secret>[,...]"),
    "admin_token": ("HSMKMS_ADMIN_TOKEN", "",
                    ("bearer token of the admin routes in verify/enforce; default: generated "
                     "into <data-dir>/admin-token")),
}

#: Settings that change what the service answers: every node of one database must have the same
#: (:mod:`hsmkms.store.node`).
SHARED = ("account", "region", "timing", "max_clusters", "max_hsms", "pkcs11_sessions",
          "on_demand_rotations", "cli_idle_timeout", "auth", "max_grants_per_key",
          "max_grants_per_principal")
#: What a ``--database`` URL starts with (libpq accepts both).
DATABASE_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 4599
    data_dir: Path = field(default_factory=lambda: Path(".hsmkms"))
    database: str = ""
    account: str = "111122223333"
    region: str = "us-east-1"
    root_key: str = ""
    timing: str = "fast"
    max_body: int = 1048576
    log_level: str = "warning"
    max_clusters: int = 4
    max_hsms: int = 6
    max_grants_per_key: int = 50000
    max_grants_per_principal: int = 500
    pkcs11_sessions: int = 1024
    on_demand_rotations: int = 25
    cli_idle_timeout: int = 1800
    request_timeout: int = 30
    allowed_hosts: str = ""
    auth: str = "off"
    root_access_key_id: str = ""
    root_secret_access_key: str = ""
    root_keys: str = ""
    admin_token: str = ""

    @classmethod
    def from_env(cls, overrides: dict[str, object] | None = None,
                 environ: dict[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            var, default, _help = SETTINGS[f.name]
            raw: object = (overrides or {}).get(f.name)
            if raw is None:
                raw = env.get(var, default)
            values[f.name] = _coerce(f.name, raw)
        if values["timing"] not in ("fast", "realistic"):
            raise ValueError("timing must be 'fast' or 'realistic'")
        if values["auth"] not in ("off", "verify", "enforce"):
            raise ValueError(f"--auth (HSMKMS_AUTH) must be off, verify or enforce, not "
                             f"{values['auth']!r}")
        database = str(values["database"])
        if database and not database.startswith(DATABASE_SCHEMES):
            raise ValueError("--database (HSMKMS_DATABASE) must be a libpq URL starting with "
                             "postgresql:// (e.g. postgresql://user@host:5432/dbname)")
        return cls(**values)  # type: ignore[arg-type]

    def shared(self) -> dict[str, str]:
        """The :data:`SHARED` settings by flag, as text (what nodes of one database compare)."""
        values = asdict(self)
        return {"--" + name.replace("_", "-"): str(values[name]) for name in SHARED}


def _coerce(name: str, raw: object) -> object:
    if name in ("port", "max_body", "max_clusters", "max_hsms", "max_grants_per_key",
                "max_grants_per_principal", "pkcs11_sessions", "on_demand_rotations",
                "cli_idle_timeout", "request_timeout"):
        try:
            value = int(str(raw))
        except ValueError:
            flag, var = "--" + name.replace("_", "-"), SETTINGS[name][0]
            raise ValueError(f"{flag} ({var}) must be a whole number, not {raw!r}") from None
        if value < 0:
            flag, var = "--" + name.replace("_", "-"), SETTINGS[name][0]
            raise ValueError(f"{flag} ({var}) must not be negative, not {raw!r}")
        return value
    if name == "data_dir":
        return Path(str(raw))
    return str(raw)
