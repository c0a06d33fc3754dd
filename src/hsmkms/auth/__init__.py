"""Who is calling and what they may do: SigV4 verification (:mod:`.sigv4`), credentials and
the three modes (:mod:`.credentials`, :mod:`.modes`), the answers per protocol
(:mod:`.errors`), and the policy language (:mod:`.policy`).

Pure where it can be: :mod:`.sigv4` and :mod:`.policy` take everything they need as arguments
(no HTTP objects, no clock, no store); :mod:`.modes` wires them to the app.
"""
