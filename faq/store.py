"""The live knowledge base: loaded once, swapped atomically on reload.

A reload builds a complete new matcher first; if any file is broken the old one stays in
service and the errors are returned, so staff never take the FAQ down by a typo.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from faq.kb import DATA_DIR, MAX_RELOAD_DROP, KBError, KnowledgeBase, ReloadRefused, load_kb
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

    def reload(self, force: bool = False) -> list[str]:
        """Reload from disk; return the problems found ([] when the new KB is in service).
        A knowledge base that would drop more than MAX_RELOAD_DROP of the entries in
        service is refused unless `force` is given."""
        with self._lock:
            try:
                kb = load_kb(self.data_dir)
                if not force:
                    check_drop(self.kb, kb)
                matcher = Matcher(kb)
            except KBError as exc:
                log.error("knowledge base reload refused: %s", exc)
                return exc.errors
            except Exception as exc:  # a bad scope file, an unreadable folder …
                log.exception("knowledge base reload failed")
                return [str(exc)]
            self.matcher = matcher
            log.info("knowledge base reloaded: %d entries", len(matcher.kb))
            return []


def check_drop(old: KnowledgeBase, new: KnowledgeBase, limit: float = MAX_RELOAD_DROP) -> None:
    """Raise ReloadRefused when `new` lacks more than `limit` of `old`'s entries."""
    dropped = len({e.id for e in old.entries} - {e.id for e in new.entries})
    if old.entries and dropped / len(old.entries) > limit:
        raise ReloadRefused(
            [
                f"新问答库少了 {dropped} 条（原有 {len(old)} 条，超过 {limit:.0%}），未替换；"
                "确认无误请用 /reload force"
            ]
        )
