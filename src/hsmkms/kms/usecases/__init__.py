"""KMS use cases, one module per topic.

Each use case takes typed inputs and the request context and runs the same steps: resolve the
key, authorize (:mod:`hsmkms.kms.authz`), check the origin's capability
(:mod:`hsmkms.kms.capabilities`) and the key-state policy (:mod:`hsmkms.kms.states`), call the
key's backend (:mod:`hsmkms.kms.backends`), and add what CloudTrail records beyond the request
and response to ``ctx.audit``. :class:`~hsmkms.kms.usecases.access.KeyAccess` runs the first
four steps. The wire layer (:mod:`hsmkms.kms.api`) only decodes parameters and encodes results.
"""
