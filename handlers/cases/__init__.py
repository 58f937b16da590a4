"""Consultations in chat: intake (a resident submits), mine (their own cases, follow-ups,
rating), queue (the advisers), notify (messages about a case), payloads (shared buttons)."""
