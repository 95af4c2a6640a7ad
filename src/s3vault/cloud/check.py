"""The record of one posture check (doctor), kept apart from bucket.py so that reading it
imports no boto3."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARNING, WRONG = "ok", "warning", "wrong"  # the states of a check


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One item of the posture check: its state, what was found, and the fix."""

    item: str
    state: str  # OK, WARNING or WRONG
    detail: str
    fix: str = ""
