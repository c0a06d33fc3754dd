"""``mock_hsmkms``: while active, every botocore client of an hsmkms service is answered in-process.

Like moto's ``mock_aws``, it catches clients the code under test builds itself
(``boto3.client("kms")``, ``boto3.Session().client(...)``, ``botocore.session.get_session()
.create_client(...)``), in any region, and it is explicit, opt-in and undone on exit:

* **The hook.** While at least one mock is active, ``botocore.session.Session.create_client`` is
  wrapped (one scoped patch, restored when the last mock exits). Each client it returns for
  ``kms``, ``cloudhsmv2``, ``ec2`` or ``cloudtrail`` gets a ``before-send`` handler on *its own*
  event system, so botocore still builds and SigV4-signs the request and the handler answers it
  from the app instead of the network. Clients of other services (s3, sts, ...) get nothing.
  Wrapping ``create_client`` rather than registering on sessions' event systems reaches every
  session, including ``boto3``'s default session and sessions made before the mock started.
* **Which app answers.** The innermost mock active *when the request is sent*; when none is, the
  handler answers nothing and the request goes where the client points, as without hsmkms. So a
  client made after exit is untouched and one kept from inside a mock stops being served.
* **Threads and nesting.** The patch and the stack of active mocks are process-wide (as any hook
  that catches clients built anywhere must be): clients made and used in other threads are
  served too. Mocks nest; run them one inside another, not side by side in parallel threads.
* **Not caught:** clients created *before* the mock started (they never met the wrapper), and
  clients that bypass ``Session.create_client`` (e.g. aiobotocore's).
* **Environment.** If no credentials are in the environment, test ones are set
  (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``), and ``AWS_DEFAULT_REGION=us-east-1`` if
  botocore finds no region (environment or config file); boto3's default session is replaced
  by a fresh one (sharing only the parsed service models, to keep setup cheap).
  All of it is restored on exit.

Each mock gets a fresh app in a temporary data dir (removed on exit) unless ``data_dir`` is given.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, Self, TypeVar, overload

import boto3
import botocore.exceptions
import botocore.session

from hsmkms.testing.inprocess import InProcess
from hsmkms.testing.server import TEST_CREDENTIALS

if TYPE_CHECKING:
    from collections.abc import Callable

    from botocore.awsrequest import AWSPreparedRequest, AWSResponse

#: botocore service names hsmkms answers.
SERVICES = frozenset({"kms", "cloudhsmv2", "ec2", "cloudtrail"})

#: Set only when absent, restored on exit.
_TEST_ENV = {"AWS_ACCESS_KEY_ID": TEST_CREDENTIALS["aws_access_key_id"],
             "AWS_SECRET_ACCESS_KEY": TEST_CREDENTIALS["aws_secret_access_key"]}
_TEST_REGION = "us-east-1"

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.RLock()
_active: list[HsmkmsMock] = []
_original_create_client: Callable[..., Any] | None = None


def _current() -> HsmkmsMock | None:
    with _lock:
        return _active[-1] if _active else None


def _answer(request: AWSPreparedRequest, **_kwargs: Any) -> AWSResponse | None:
    """``before-send`` handler of every caught client: the innermost active mock answers."""
    mock = _current()
    return None if mock is None else mock.send(request)


def _create_client(self: botocore.session.Session, service_name: str, *args: Any,
                   **kwargs: Any) -> Any:
    original = _original_create_client
    if original is None:  # pragma: no cover - only if the patch was undone under our feet
        return botocore.session.Session.create_client(self, service_name, *args, **kwargs)
    client = original(self, service_name, *args, **kwargs)
    if service_name in SERVICES:
        client.meta.events.register("before-send", _answer)
    return client


def _install() -> None:
    global _original_create_client  # noqa: PLW0603 - the one scoped patch, restored in _uninstall
    _original_create_client = botocore.session.Session.__dict__["create_client"]
    botocore.session.Session.create_client = _create_client


def _uninstall() -> None:
    global _original_create_client  # noqa: PLW0603 - see _install
    if botocore.session.Session.__dict__.get("create_client") is _create_client:
        botocore.session.Session.create_client = _original_create_client
    _original_create_client = None


class HsmkmsMock:
    """A context manager (and decorator) serving every hsmkms-service client in the process."""

    def __init__(self, data_dir: Path | str | None = None, **config: Any) -> None:
        self._data_dir = None if data_dir is None else Path(data_dir)
        self._config = config
        self._inproc: InProcess | None = None
        self._tmp: str | None = None
        #: Environment variables this mock set, with the values they had before (None: unset).
        self._env_saved: dict[str, str | None] = {}
        self._default_session: boto3.Session | None = None

    # -- the app ------------------------------------------------------------------------------

    @property
    def inprocess(self) -> InProcess:
        if self._inproc is None:
            raise RuntimeError("mock_hsmkms is not active")
        return self._inproc

    @property
    def app(self) -> Any:
        return self.inprocess.app

    def advance(self, seconds: float) -> float:
        """Move the app's clock and run the work that became due."""
        return self.inprocess.advance(seconds)

    def send(self, request: AWSPreparedRequest) -> AWSResponse:
        return self.inprocess.send(request)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        if self._inproc is not None:
            raise RuntimeError("this mock_hsmkms is already active")
        data_dir = self._data_dir
        if data_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="hsmkms-mock-")
            data_dir = Path(self._tmp)
        self._inproc = InProcess(data_dir, **self._config)
        session = _fresh_botocore_session()
        with _lock:
            self._env_saved = _set_missing_env(session, self._inproc)
            self._default_session = boto3.DEFAULT_SESSION
            boto3.DEFAULT_SESSION = boto3.Session(botocore_session=session)
            if not _active:
                _install()
            _active.append(self)
        return self

    def stop(self) -> None:
        if self._inproc is None:
            return
        with _lock:
            if _active and _active[-1] is not self:
                # What this mock restores (boto3's default session, the environment) is what
                # the mocks started inside it found: they must end first.
                raise RuntimeError("mock_hsmkms: stop the mocks started inside this one first")
            inproc, self._inproc = self._inproc, None
            _active.remove(self)
            if not _active:
                _uninstall()
            boto3.DEFAULT_SESSION = self._default_session
            self._default_session = None
            for name, value in self._env_saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self._env_saved = {}
        inproc.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``func``: each call runs inside a fresh mock with these options."""
        return _decorate(func, self._data_dir, self._config)


def region_configured(session: botocore.session.Session | None = None) -> bool:
    """Whether botocore finds a region (``AWS_DEFAULT_REGION`` or the config file's profile)."""
    try:
        return bool((session or botocore.session.Session()).get_config_variable("region"))
    except botocore.exceptions.BotoCoreError:  # e.g. AWS_PROFILE names no profile
        return False


_shared_loader: Any = None


def _fresh_botocore_session() -> botocore.session.Session:
    """A new boto3 default session that reuses the service models already loaded by earlier
    mocks (parsing them again costs ~30 ms per test), and nothing else: no cached credentials."""
    global _shared_loader  # noqa: PLW0603 - a read-only cache of botocore's JSON models
    session = botocore.session.Session()
    if _shared_loader is None:
        _shared_loader = session.get_component("data_loader")
    else:
        session.register_component("data_loader", _shared_loader)
    return session


def _set_missing_env(session: botocore.session.Session,
                     inproc: InProcess) -> dict[str, str | None]:
    """Test credentials when the environment has no access key id (both halves, so a secret
    left alone in the environment is not paired with a test key id), a region when botocore
    finds none; returns what was there before, to restore. With ``auth`` ``verify`` or
    ``enforce``, the root credentials of the default account, whatever the environment had
    (no other key would be accepted)."""
    saved: dict[str, str | None] = {}
    env = _TEST_ENV
    if inproc.app.auth is not None:
        root = inproc.root_credentials
        env = {"AWS_ACCESS_KEY_ID": root["aws_access_key_id"],
               "AWS_SECRET_ACCESS_KEY": root["aws_secret_access_key"]}
    if inproc.app.auth is not None and "AWS_SESSION_TOKEN" in os.environ:
        saved["AWS_SESSION_TOKEN"] = os.environ.pop("AWS_SESSION_TOKEN")
    if inproc.app.auth is not None or not os.environ.get("AWS_ACCESS_KEY_ID"):
        for name, value in env.items():
            saved[name] = os.environ.get(name)
            os.environ[name] = value
    if not region_configured(session):
        saved["AWS_DEFAULT_REGION"] = os.environ.get("AWS_DEFAULT_REGION")
        os.environ["AWS_DEFAULT_REGION"] = _TEST_REGION
    return saved


def _decorate(func: Callable[P, R], data_dir: Path | None,
              config: dict[str, Any]) -> Callable[P, R]:
    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with HsmkmsMock(data_dir, **config):
                return await func(*args, **kwargs)
        return run_async  # type: ignore[return-value]

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with HsmkmsMock(data_dir, **config):
            return func(*args, **kwargs)
    return run


@overload
def mock_hsmkms(func: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def mock_hsmkms(*, data_dir: Path | str | None = None, **config: Any) -> HsmkmsMock: ...
def mock_hsmkms(func: Callable[P, R] | None = None, /, *, data_dir: Path | str | None = None,
                **config: Any) -> Callable[P, R] | HsmkmsMock:
    """Serve every kms/cloudhsmv2/ec2/cloudtrail botocore client in the process from hsmkms.

    ``with mock_hsmkms() as m: ...``, ``@mock_hsmkms`` or ``@mock_hsmkms(timing="realistic")``;
    ``config`` takes :class:`hsmkms.config.Config` settings (``account``, ``timing``, ...).
    """
    if func is not None:
        return _decorate(func, None, {})
    return HsmkmsMock(data_dir, **config)
