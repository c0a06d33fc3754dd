"""hsmkms: AWS KMS with AWS CloudHSM key stores, self-hosted."""

__version__ = "0.1.0"
