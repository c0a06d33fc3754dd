"""The ``cloudhsm-cli`` console script (see :mod:`hsmkms.cloudhsm_cli.main`)."""
