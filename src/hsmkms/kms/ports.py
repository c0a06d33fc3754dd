"""What KMS needs from the other packages, as small typed protocols.

KMS is built from these (see :func:`hsmkms.kms.build`); it never looks a service up by name. Each
protocol lists only the calls KMS makes, with the signatures of the package that provides them:
:class:`ClusterView` (``hsmkms.cloudhsm``), :class:`HsmClient` (``hsmkms.hsm``),
:class:`NetworkPort` (``hsmkms.ec2``) and :class:`FaultView` (``hsmkms.faults``). CloudTrail is
:class:`hsmkms.audit.AuditLog`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from hsmkms.cloudhsm.model import Cluster
from hsmkms.crypto import Aead


class ClusterView(Protocol):
    """CloudHSM clusters, read-only."""

    def get_cluster(self, scope: str, cluster_id: str) -> Cluster | None: ...

    def related(self, scope: str, cluster_id_a: str, cluster_id_b: str) -> bool:
        """The two clusters share a backup history."""
        ...


class HsmClient(Protocol):
    """The HSMs of a cluster, as a logged-in PKCS #11 / CloudHSM client sees them."""

    def login(self, scope: str, cluster_id: str, username: str, password: str,
              role: str, client: str, now: float) -> str: ...

    def logout(self, session_id: str) -> None: ...

    def change_password(self, session_id: str, username: str, role: str,
                        new_password: str) -> None: ...

    def is_logged_in(self, scope: str, cluster_id: str, username: str, now: float) -> bool: ...

    def generate_aes_key(self, session_id: str, length_bytes: int, label: str,
                         key_id: bytes, *, extractable: bool = False) -> str: ...

    def delete_key(self, session_id: str, key_id: bytes) -> None: ...

    def random_bytes(self, scope: str, cluster_id: str, n: int) -> bytes: ...

    def open_key(self, session_id: str, key_id: bytes) -> AbstractContextManager[Aead]:
        """The backing key as an AEAD for the block (its material stays in the HSMs): what
        :meth:`hsmkms.kms.connection.Connection.cipher` encrypts and decrypts with."""
        ...

    def is_user_locked(self, scope: str, cluster_id: str, username: str) -> bool: ...


class Eni(Protocol):
    @property
    def eni_id(self) -> str: ...


class NetworkPort(Protocol):
    """The EC2 calls KMS makes for a key store's security group and ENIs; they raise EC2-coded
    :class:`~hsmkms.errors.ServiceError` subclasses."""

    def get_subnet(self, scope: str, subnet_id: str) -> object | None: ...

    def create_security_group(self, scope: str, vpc_id: str, name: str,
                              description: str) -> str: ...

    def authorize(self, scope: str, group_id: str, direction: str, protocol: str,
                  from_port: int, to_port: int, source_group_id: str | None = None,
                  cidr: str | None = None) -> None: ...

    def revoke(self, scope: str, group_id: str, direction: str, protocol: str,
               from_port: int, to_port: int, source_group_id: str | None = None,
               cidr: str | None = None) -> None: ...

    def has_rule(self, scope: str, group_id: str, direction: str, protocol: str,
                 from_port: int, to_port: int, source_group_id: str | None) -> bool: ...

    def create_eni(self, scope: str, subnet_id: str, description: str, group_ids: list[str],
                   private_ip: str | None = None, *, managed_by: str = "") -> Eni: ...

    def delete_eni(self, scope: str, eni_id: str) -> None: ...

    def delete_security_group(self, scope: str, group_id: str) -> None: ...


class FaultView(Protocol):
    """Injected faults (``/_hsmkms/faults``): is one of ``kind`` on for the cluster?"""

    def active(self, cluster_id: str, kind: str) -> bool: ...
