"""AWS CloudHSM v2 control plane (``BaldrApiService``): clusters, HSMs, backups, certificates.

``App`` builds :class:`~hsmkms.cloudhsm.service.CloudHsmService` over the EC2 network and
serves :class:`~hsmkms.cloudhsm.api.CloudHsmApi`'s handlers as a JSON service.
"""
