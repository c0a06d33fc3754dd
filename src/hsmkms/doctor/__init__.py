"""``hsmkms doctor``: the AWS guide "Troubleshooting a custom key store" as a program.

* :mod:`~hsmkms.doctor.fetch` reads the world through public AWS APIs (the only I/O, with
  :mod:`~hsmkms.doctor.hsmcli` for the opt-in ``cloudhsm-cli`` checks) into
  :mod:`~hsmkms.doctor.facts`;
* :mod:`~hsmkms.doctor.checks` turns facts into findings, in the guide's order (the checks
  themselves: :mod:`~hsmkms.doctor.key_checks`, :mod:`~hsmkms.doctor.store_checks`,
  :mod:`~hsmkms.doctor.cluster_checks`), naming the cause (:mod:`~hsmkms.doctor.causes`) and
  the guide's fix (:mod:`~hsmkms.doctor.fixes`);
* :mod:`~hsmkms.doctor.report` prints them; :mod:`~hsmkms.doctor.command` is the command line.
"""
