"""Wire protocols generated from the pinned service models (``protocol/models``, from botocore).

Handlers never see HTTP: they take the parsed, validated request members as a plain dict and
return the response members as a plain dict. Everything in between (decoding, type checks,
AWS-format validation messages, serialisation, error bodies) is generic over the model.
"""
