"""What the console scripts (``hsmkms``, ``cloudhsm-cli``) share about their terminal."""

from __future__ import annotations

import os
import signal
import sys


def reader_went_away() -> int:
    """stdout's reader is gone (``cloudhsm-cli key list | head -1``,
    ``hsmkms fault list | head -1``): end quietly, as a C tool
    does - killed by SIGPIPE (status 141 in a shell, seen by ``pipefail``), no traceback. The
    ``finally`` blocks (the logout) have run; stdout goes to /dev/null so that nothing tries
    to flush into the closed pipe again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)
    return 128 + signal.SIGPIPE  # not reached: the signal ends the process
