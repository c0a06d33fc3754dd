"""AWS KMS (``TrentService``).

:func:`build` makes the service from explicit, typed parts (see :mod:`hsmkms.kms.ports`);
the app (:class:`hsmkms.app.App`) wires it.
"""

from __future__ import annotations

from collections.abc import Callable

from hsmkms.audit import AuditLog, UsageLog
from hsmkms.config import Config
from hsmkms.context import RequestContext
from hsmkms.ids import IdSource
from hsmkms.kms import api, jobs, keygen, rotation
from hsmkms.kms.authz import IDENTITY_ONLY, AllowAll, Authorizer
from hsmkms.kms.backends import Backends
from hsmkms.kms.backends.cloudhsm import CloudHsmBackend
from hsmkms.kms.backends.imported import ImportedBackend
from hsmkms.kms.backends.local import LocalBackend
from hsmkms.kms.connection import Connection
from hsmkms.kms.grants import Grants
from hsmkms.kms.keygen import KeyMaterials
from hsmkms.kms.keys import Keys
from hsmkms.kms.keystores import Stores
from hsmkms.kms.model import Origin
from hsmkms.kms.ports import ClusterView, FaultView, HsmClient, NetworkPort
from hsmkms.kms.usecases import imports
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.kms.usecases.aliases import Aliases
from hsmkms.kms.usecases.asymmetric import PublicKeyCrypto
from hsmkms.kms.usecases.crypto import Crypto
from hsmkms.kms.usecases.grants import GrantLimits, GrantUseCases
from hsmkms.kms.usecases.keys import KeyLifecycle
from hsmkms.kms.usecases.keystores import KeyStores
from hsmkms.kms.usecases.replicas import Replicas
from hsmkms.kms.usecases.rotation import KeyRotation, RotationSettings
from hsmkms.kms.usecases.usage import KeyUsageReport
from hsmkms.protocol.awsjson import JsonService
from hsmkms.scheduler import Scheduler
from hsmkms.store.base import Store


def build(*, store: Store, scheduler: Scheduler, now: Callable[[], float], config: Config,
          clusters: ClusterView, hsm: HsmClient, network: NetworkPort, faults: FaultView,
          audit: AuditLog, usage: UsageLog, tracking_start: float,
          ids: IdSource | None = None, authz: Authorizer | None = None) -> JsonService:
    """The KMS JSON service, its scheduled tasks registered with ``scheduler``
    (``usage``/``tracking_start``: where keys' uses are recorded and since when, for
    GetKeyLastUsage)."""
    ids = ids or IdSource()
    keys = Keys(store, ids)
    stores = Stores(store)
    connection = Connection(clusters=clusters, hsm=hsm, network=network, faults=faults, now=now)
    materials = KeyMaterials()
    backends = Backends({Origin.AWS_KMS: LocalBackend(ids, materials),
                         Origin.AWS_CLOUDHSM: CloudHsmBackend(stores, connection, ids),
                         Origin.EXTERNAL: ImportedBackend(ids, keys.materials)})
    grants = Grants(store)
    access = KeyAccess(keys, backends, authz or AllowAll())
    crypto = Crypto(access)
    lifecycle = KeyLifecycle(access, scheduler)
    uc = api.UseCases(
        access=access, keys=lifecycle, aliases=Aliases(access),
        crypto=crypto, public=PublicKeyCrypto(access, crypto, materials),
        stores=KeyStores(stores=stores, keys=keys, connection=connection, clusters=clusters,
                         scheduler=scheduler, timing=config.timing, ids=ids),
        usage=KeyUsageReport(access, usage, tracking_start),
        rotation=KeyRotation(access, scheduler, RotationSettings(
            timing=config.timing, on_demand_limit=config.on_demand_rotations)),
        replicas=Replicas(lifecycle, scheduler, config.timing, audit),
        imports=imports.Imports(access, store, scheduler, materials, ids),
        grants=GrantUseCases(access, grants, ids, GrantLimits(
            per_key=config.max_grants_per_key, per_principal=config.max_grants_per_principal)))
    jobs.register(scheduler, jobs.KeyDeletion(keys, backends, audit, grants,
                                              jobs.ReplicaJobs(keys, scheduler)),
                  jobs.KeyStoreJobs(store, stores, connection))
    rotation.Rotations(keys, scheduler, audit, ids).register()
    imports.register(scheduler, imports.ImportJobs(keys, backends, audit, store))
    served = api.handlers(uc)
    if authz is not None:  # operations on no key: the caller's identity policies decide
        checker = authz
        for name in IDENTITY_ONLY & served.keys():
            served[name] = _identity_checked(checker, name, served[name])
    return JsonService("kms", served, prepare=materials.prepare,
                       prepared_operations=frozenset(keygen.PREPARED_OPERATIONS))


def _identity_checked(authz: Authorizer, operation: str, handler: api.Handler) -> api.Handler:
    def checked(ctx: RequestContext, params: api.Params) -> api.Result | None:
        authz.authorize_identity(ctx, operation, params)
        return handler(ctx, params)
    return checked
