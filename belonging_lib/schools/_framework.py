"""The culture audit's framework file and its four rating levels.

A leaf module: the audit (:mod:`belonging_lib.schools.audit`) and its figure
(:mod:`belonging_lib.schools.plots`) both read the levels from here, so neither imports the other
for them.
"""

from __future__ import annotations

from pathlib import Path

import yaml

_FRAMEWORK = Path(__file__).resolve().parent / "audit_framework.yaml"


def load_framework() -> dict:
    """The audit framework as written in ``audit_framework.yaml``."""
    return yaml.safe_load(_FRAMEWORK.read_text(encoding="utf-8"))


#: (code, label) of the four levels.
#: An area rated by fewer raters than this shows no range or split of ratings (it would show each person's).
MIN_RATERS_FOR_RANGE = 3

LEVELS = tuple((int(k), v["label"]) for k, v in load_framework()["levels"].items())
