"""Channels translate platform input into `Incoming` and render `Reply` back. No decisions."""
