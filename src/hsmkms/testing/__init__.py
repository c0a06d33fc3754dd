"""Running hsmkms from tests: a real server on a free port, or in-process boto3 clients.

* :class:`ServerProcess` starts ``hsmkms serve`` in a subprocess on a free port with its own data
  dir, waits for ``/_hsmkms/health``, and can ``restart()`` it or ``kill()`` it with SIGKILL.
* :class:`InProcess` builds the app in this process and hands out boto3 clients whose requests
  go straight to it through a per-client botocore ``before-send`` hook: no socket, no global
  patching, other clients untouched.
* :func:`mock_hsmkms` (context manager or decorator) answers *every* botocore client of kms,
  cloudhsmv2, ec2 and cloudtrail made while it is active, including those the code under test
  builds itself, through one scoped patch undone on exit (see :mod:`hsmkms.testing.mock`).

The pytest plugin (:mod:`hsmkms.testing.plugin`, registered with the ``pytest11`` entry point)
offers them as the fixtures ``hsmkms_server``, ``hsmkms_inprocess`` and ``hsmkms_mock``.
"""

from hsmkms.testing.inprocess import InProcess
from hsmkms.testing.mock import HsmkmsMock, mock_hsmkms
from hsmkms.testing.server import ServerProcess, free_port

__all__ = ["HsmkmsMock", "InProcess", "ServerProcess", "free_port", "mock_hsmkms"]
