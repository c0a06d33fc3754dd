"""AWS KMS (``TrentService``).

:func:`build` makes the service from explicit, typed parts (see :mod:`hsmkms.kms.ports`);
the app (:class:`hsmkms.app.App`) wires it.
"""

from __future__ import annotations

from collections.abc import Callable

from hsmkms.audit import AuditLog
from hsmkms.config import Config
from hsmkms.ids import IdSource
from hsmkms.kms import api, jobs, keygen
from hsmkms.kms.authz import AllowAll, Authorizer
from hsmkms.kms.backends import Backends
from hsmkms.kms.backends.cloudhsm import CloudHsmBackend
from hsmkms.kms.backends.local import LocalBackend
from hsmkms.kms.connection import Connection
from hsmkms.kms.grants import Grants
from hsmkms.kms.keygen import KeyMaterials
from hsmkms.kms.keys import Keys
from hsmkms.kms.keystores import Stores
from hsmkms.kms.model import Origin
from hsmkms.kms.ports import ClusterView, FaultView, HsmClient, NetworkPort
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.kms.usecases.aliases import Aliases
from hsmkms.kms.usecases.asymmetric import PublicKeyCrypto
from hsmkms.kms.usecases.crypto import Crypto
from hsmkms.kms.usecases.grants import GrantLimits, GrantUseCases
from hsmkms.kms.usecases.keys import KeyLifecycle
from hsmkms.kms.usecases.keystores import KeyStores
from hsmkms.protocol.awsjson import JsonService
from hsmkms.scheduler import Scheduler
from hsmkms.store.base import Store


def build(*, store: Store, scheduler: Scheduler, now: Callable[[], float], config: Config,
          clusters: ClusterView, hsm: HsmClient, network: NetworkPort, faults: FaultView,
          audit: AuditLog, ids: IdSource | None = None,
          authz: Authorizer | None = None) -> JsonService:
    """The KMS JSON service, its scheduled tasks registered with ``scheduler``."""
    ids = ids or IdSource()
    keys = Keys(store, ids)
    stores = Stores(store)
    connection = Connection(clusters=clusters, hsm=hsm, network=network, faults=faults, now=now)
    materials = KeyMaterials()
    backends = Backends({Origin.AWS_KMS: LocalBackend(ids, materials),
                         Origin.AWS_CLOUDHSM: CloudHsmBackend(stores, connection, ids)})
    grants = Grants(store)
    access = KeyAccess(keys, backends, authz or AllowAll())
    crypto = Crypto(access)
    uc = api.UseCases(
        access=access, keys=KeyLifecycle(access, scheduler), aliases=Aliases(access),
        crypto=crypto, public=PublicKeyCrypto(access, crypto, materials),
        stores=KeyStores(stores=stores, keys=keys, connection=connection, clusters=clusters,
                         scheduler=scheduler, timing=config.timing, ids=ids),
        grants=GrantUseCases(access, grants, ids, GrantLimits(
            per_key=config.max_grants_per_key, per_principal=config.max_grants_per_principal)))
    jobs.register(scheduler, jobs.KeyDeletion(keys, backends, audit, grants),
                  jobs.KeyStoreJobs(store, stores, connection))
    return JsonService("kms", api.handlers(uc), prepare=materials.prepare,
                       prepared_operations=frozenset(keygen.PREPARED_OPERATIONS))
