"""CloudTrail: a management event for every KMS, CloudHSM v2 and EC2 call, successful or
failed, recorded once the call's unit of work has ended, plus the events KMS causes itself
(``DeleteKey`` at the end of a waiting period), and the CloudTrail ``LookupEvents`` API over
them. ``App`` builds :class:`~hsmkms.trail.service.Trail` and registers
:func:`~hsmkms.trail.api.build`'s service.

Durability: recording is cheap on the request path (the envelope hands the trail a small object
for an in-memory buffer). After a response, once 32 calls wait (or on a tick, once the oldest waited
a quarter of a second), they become rows; a writer thread inserts rows in big transactions,
once 512 wait or the oldest waited half a second. ``LookupEvents`` and closing the app write
everything first. A crash (``kill -9``) can therefore lose up to about the last second of trail
events, never a key or any other state change: those are committed in the request's own unit
of work before the response is sent.
"""

from __future__ import annotations
