"""Registry of feature subcommands, so bot.cli stays small as features add commands."""

from __future__ import annotations

REGISTRARS: list = []
