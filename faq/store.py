"""The live knowledge base: loaded once, swapped atomically on reload.

A reload builds a complete new matcher first; if any file is broken the old one stays in
service and the errors are returned, so staff never take the FAQ down by a typo.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from faq.kb import DATA_DIR, KBError, KnowledgeBase, load_kb
from faq.matcher import Matcher

log = logging.getLogger(__name__)


class FaqStore:
    def __init__(self, data_dir: Path | str = DATA_DIR) -> None:
        self.data_dir = Path(data_dir)
        self._lock = threading.Lock()
        self.matcher = Matcher(load_kb(self.data_dir))

    @property
    def kb(self) -> KnowledgeBase:
        return self.matcher.kb

    def reload(self) -> list[str]:
        """Reload from disk; return the problems found ([] when the new KB is in service)."""
        with self._lock:
            try:
                matcher = Matcher(load_kb(self.data_dir))
            except KBError as exc:
                log.error("knowledge base reload refused: %s", exc)
                return exc.errors
            except Exception as exc:  # a bad scope file, an unreadable folder …
                log.exception("knowledge base reload failed")
                return [str(exc)]
            self.matcher = matcher
            log.info("knowledge base reloaded: %d entries", len(matcher.kb))
            return []
