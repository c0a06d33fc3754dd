"""Running hsmkms from tests: a real server on a free port, or in-process boto3 clients.

* :class:`ServerProcess` starts ``hsmkms serve`` in a subprocess on a free port with its own data
  dir, waits for ``/_hsmkms/health``, and can ``restart()`` it or ``kill()`` it with SIGKILL.
* :class:`InProcess` builds the app in this process and hands out boto3 clients whose requests
  go straight to it through a per-client botocore ``before-send`` hook: no socket, no global
  patching, other clients untouched.

The pytest plugin (:mod:`hsmkms.testing.plugin`, registered with the ``pytest11`` entry point)
offers them as the fixtures ``hsmkms_server`` and ``hsmkms_inprocess``.
"""

from hsmkms.testing.inprocess import InProcess
from hsmkms.testing.server import ServerProcess, free_port

__all__ = ["InProcess", "ServerProcess", "free_port"]
