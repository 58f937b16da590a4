"""YAML parsing for the knowledge base, the scope and the safety rules.

PyYAML's pure-Python loader takes over a second for the knowledge base (about 20,000 lines)
on every start and every /reload; the libyaml-backed loader builds the same objects ten times
faster. It is used when PyYAML was built with libyaml (the PyPI wheels are) and the
pure-Python loader otherwise — both are safe loaders and raise the same yaml.YAMLError.
"""

from __future__ import annotations

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(text: str) -> object:
    """The document in `text`, with only plain YAML types (as yaml.safe_load)."""
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 — a safe loader
