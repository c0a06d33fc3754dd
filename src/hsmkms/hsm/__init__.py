"""What lives inside the HSMs: users, roles, lockout, login sessions, keys, PKCS #11 pools.

:class:`hsmkms.hsm.service.HsmService` is the HSMs' interface (the app builds it with a
CloudHSM cluster topology); :mod:`hsmkms.hsm.routes` serves the ``cloudhsm-cli`` API under
``/_hsmkms/cloudhsm-cli/``.
"""
