"""Amazon EC2, the VPC subset a CloudHSM cluster lives in (spec ec2.md).

:class:`hsmkms.ec2.network.Network` is the Python API the CloudHSM and KMS packages use;
:func:`hsmkms.ec2.api.register` serves the EC2 query protocol over it. ``App`` builds both.
"""
