"""KMS errors: one class per error shape of the KMS model, named as its code.

Status: 400 for every client error (as recorded from real AWS, spec kms.md 3.1, open question
1 adopted), 500 for the server faults (``KMSInternalException``, ``KeyUnavailableException``,
``DependencyTimeoutException``), which SDKs retry. ``tests/unit/test_kms_errors.py`` checks
this list against the model.
"""

from __future__ import annotations

from hsmkms.errors import ClientError, ServerFault


class KmsError(ClientError):
    """Base of the KMS client errors."""


class AlreadyExistsException(KmsError):
    pass


class CloudHsmClusterInUseException(KmsError):
    pass


class CloudHsmClusterInvalidConfigurationException(KmsError):
    pass


class CloudHsmClusterNotActiveException(KmsError):
    pass


class CloudHsmClusterNotFoundException(KmsError):
    pass


class CloudHsmClusterNotRelatedException(KmsError):
    pass


class ConflictException(KmsError):
    pass


class CustomKeyStoreHasCMKsException(KmsError):
    pass


class CustomKeyStoreInvalidStateException(KmsError):
    pass


class CustomKeyStoreNameInUseException(KmsError):
    pass


class CustomKeyStoreNotFoundException(KmsError):
    pass


class DependencyTimeoutException(ServerFault):
    pass


class DisabledException(KmsError):
    pass


class DryRunOperationException(KmsError):
    pass


class ExpiredImportTokenException(KmsError):
    pass


class IncorrectKeyException(KmsError):
    pass


class IncorrectKeyMaterialException(KmsError):
    pass


class IncorrectTrustAnchorException(KmsError):
    pass


class InvalidAliasNameException(KmsError):
    pass


class InvalidArnException(KmsError):
    pass


class InvalidCiphertextException(KmsError):
    pass


class InvalidGrantIdException(KmsError):
    pass


class InvalidGrantTokenException(KmsError):
    pass


class InvalidImportTokenException(KmsError):
    pass


class InvalidKeyUsageException(KmsError):
    pass


class InvalidMarkerException(KmsError):
    pass


class KMSInternalException(ServerFault):
    pass


class KMSInvalidMacException(KmsError):
    pass


class KMSInvalidSignatureException(KmsError):
    pass


class KMSInvalidStateException(KmsError):
    pass


class KeyUnavailableException(ServerFault):
    pass


class LimitExceededException(KmsError):
    pass


class MalformedPolicyDocumentException(KmsError):
    pass


class NotFoundException(KmsError):
    pass


class TagException(KmsError):
    pass


class UnsupportedOperationException(KmsError):
    pass


class XksKeyAlreadyInUseException(KmsError):
    pass


class XksKeyInvalidConfigurationException(KmsError):
    pass


class XksKeyNotFoundException(KmsError):
    pass


class XksProxyIncorrectAuthenticationCredentialException(KmsError):
    pass


class XksProxyInvalidConfigurationException(KmsError):
    pass


class XksProxyInvalidResponseException(KmsError):
    pass


class XksProxyUriEndpointInUseException(KmsError):
    pass


class XksProxyUriInUseException(KmsError):
    pass


class XksProxyUriUnreachableException(KmsError):
    pass


class XksProxyVpcEndpointServiceInUseException(KmsError):
    pass


class XksProxyVpcEndpointServiceInvalidConfigurationException(KmsError):
    pass


class XksProxyVpcEndpointServiceNotFoundException(KmsError):
    pass
