"""AWS KMS (``TrentService``).

:func:`build` makes the service from explicit, typed parts (see :mod:`hsmkms.kms.ports`);
:func:`install` is the app's wiring of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hsmkms.audit import AuditLog
from hsmkms.config import Config
from hsmkms.kms import api, jobs
from hsmkms.kms.authz import AllowAll, Authorizer
from hsmkms.kms.backends import Backends
from hsmkms.kms.backends.cloudhsm import CloudHsmBackend
from hsmkms.kms.backends.local import LocalBackend
from hsmkms.kms.connection import Connection
from hsmkms.kms.keys import Keys
from hsmkms.kms.keystores import Stores
from hsmkms.kms.model import Origin
from hsmkms.kms.ports import ClusterView, FaultView, HsmClient, NetworkPort
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.kms.usecases.aliases import Aliases
from hsmkms.kms.usecases.crypto import Crypto
from hsmkms.kms.usecases.keys import KeyLifecycle
from hsmkms.kms.usecases.keystores import KeyStores
from hsmkms.protocol.awsjson import JsonService
from hsmkms.scheduler import Scheduler
from hsmkms.store.base import Store

if TYPE_CHECKING:
    from hsmkms.app import App
    from hsmkms.context import RequestContext
    from hsmkms.errors import ServiceError


def build(*, store: Store, scheduler: Scheduler, now: Callable[[], float], config: Config,
          clusters: ClusterView, hsm: HsmClient, network: NetworkPort, faults: FaultView,
          audit: AuditLog, authz: Authorizer | None = None) -> JsonService:
    """The KMS JSON service, its scheduled tasks registered with ``scheduler``."""
    keys = Keys(store)
    stores = Stores(store)
    connection = Connection(clusters=clusters, hsm=hsm, network=network, faults=faults, now=now)
    backends = Backends({Origin.AWS_KMS: LocalBackend(),
                         Origin.AWS_CLOUDHSM: CloudHsmBackend(stores, connection)})
    access = KeyAccess(keys, backends, authz or AllowAll())
    uc = api.UseCases(
        access=access, keys=KeyLifecycle(access, scheduler), aliases=Aliases(access),
        crypto=Crypto(access),
        stores=KeyStores(stores=stores, keys=keys, connection=connection, clusters=clusters,
                         scheduler=scheduler, timing=config.timing))
    jobs.register(scheduler, jobs.KeyDeletion(keys, backends, audit),
                  jobs.KeyStoreJobs(store, stores, connection))
    return JsonService("kms", api.handlers(uc))


def install(app: App) -> None:
    trail = _LateTrail(app)
    app.add_json_service(build(
        store=app.store, scheduler=app.scheduler, now=app.clock.now, config=app.config,
        clusters=app.cloudhsm,  # type: ignore[attr-defined]
        hsm=app.hsm,  # type: ignore[attr-defined]
        network=app.network,  # type: ignore[attr-defined]
        faults=app.faults,  # type: ignore[attr-defined]
        audit=trail))
    app.call_observers.append(trail.carry_audit)


class _LateTrail:
    """Until the app builds CloudTrail before KMS and the trail reads ``ctx.audit`` itself:
    the trail is installed after KMS (``app.trail`` exists only once a request or job runs),
    and it takes a call's extra data from ``Trail.note``, so this observer - which runs before
    the trail's - hands it what the use cases put in ``ctx.audit``. Both go at merge."""

    def __init__(self, app: App) -> None:
        self._app = app

    def record_service_event(self, scope: str, event_name: str, when: float, *,
                             resources: list[str],
                             additional_event_data: dict[str, Any] | None = None,
                             response_elements: dict[str, Any] | None = None) -> None:
        self._app.trail.record_service_event(  # type: ignore[attr-defined]
            scope, event_name, when, resources=resources,
            additional_event_data=additional_event_data, response_elements=response_elements)

    def carry_audit(self, ctx: RequestContext, prefix: str, _operation: str,
                    _params: dict[str, Any], _result: dict[str, Any] | None,
                    _error: ServiceError | None) -> None:
        detail = ctx.audit
        if prefix == "TrentService" and (detail.additional_event_data or detail.resources):
            self._app.trail.note(  # type: ignore[attr-defined]
                ctx.request_id, additional_event_data=detail.additional_event_data,
                resources=detail.resources)
