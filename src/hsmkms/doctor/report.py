"""The doctor's output: a checklist for people, JSON for scripts (docs/doctor.md).

The JSON document (``SCHEMA_VERSION`` 1) is a stable interface: fields are only ever added.

    {"schema_version": 1, "healthy": bool, "exit_status": 0 | 1,
     "region": str, "endpoint_url": str | null,
     "target": {"custom_key_store_id": str | null, "key_id": str | null},
     "checks": [{"check": str, "subject": str, "status": "ok" | "fail" | "warn" | "skip",
                 "summary": str, "cause": str | null, "guide": str | null,
                 "evidence": [str], "fix": [str]}]}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hsmkms.doctor.checks import Finding, Status, healthy
from hsmkms.doctor.facts import Facts
from hsmkms.doctor.fixes import PROMPT

SCHEMA_VERSION = 1
MARKS = {Status.OK: "✓", Status.FAIL: "✗", Status.WARN: "!", Status.SKIP: "-"}
ASCII_MARKS = {Status.OK: "[ok]", Status.FAIL: "[FAIL]", Status.WARN: "[warn]",
               Status.SKIP: "[skip]"}


def exit_status(findings: Sequence[Finding]) -> int:
    return 0 if healthy(list(findings)) else 1


def as_json(facts: Facts, findings: Sequence[Finding], target: dict[str, str | None]) -> str:
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "healthy": healthy(list(findings)),
        "exit_status": exit_status(findings),
        "region": facts.region,
        "endpoint_url": facts.endpoint_url,
        "target": target,
        "checks": [{"check": f.check, "subject": f.subject, "status": f.status.value,
                    "summary": f.summary, "cause": f.cause, "guide": f.guide,
                    "evidence": list(f.evidence), "fix": list(f.fix)} for f in findings],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _command(line: str) -> str:
    """Shell commands get a ``$`` prompt; CloudHSM CLI lines and comments show as they are."""
    return line if line.startswith(("#", PROMPT)) else f"$ {line}"


def as_text(facts: Facts, findings: Sequence[Finding], *, unicode: bool = True) -> str:
    marks = MARKS if unicode else ASCII_MARKS
    where = f" at {facts.endpoint_url}" if facts.endpoint_url else ""
    lines = [f"hsmkms doctor: region {facts.region}{where}", ""]
    if not findings:
        lines.append("no AWS CloudHSM key store in this account and Region: nothing to check")
    for f in findings:
        lines.append(f"{marks[f.status]} {f.check} {f.subject}: {f.summary}")
        lines += [f"    {e}" for e in f.evidence]
        if f.cause and f.status in (Status.FAIL, Status.WARN):
            lines.append(f"    cause: {f.cause}" + (f" (guide: {f.guide})" if f.guide else ""))
        if f.fix and f.status in (Status.FAIL, Status.WARN):
            lines.append("    fix:")
            lines += [f"      {_command(c)}" for c in f.fix]
    failed = sum(f.status is Status.FAIL for f in findings)
    lines += ["", "all is well" if not failed else f"{failed} check(s) failed"]
    return "\n".join(lines) + "\n"
