"""The Civil Code knowledge base and its matcher.

A leaf package: it imports nothing of the project, so it can be reviewed, evaluated and
benchmarked on its own. Data files live in `faq/data/`.
"""

from faq.kb import BOOKS, Entry, KBError, KnowledgeBase, load_kb
from faq.matcher import Match, Matcher, MatchResult

__all__ = [
    "BOOKS",
    "Entry",
    "KBError",
    "KnowledgeBase",
    "Match",
    "MatchResult",
    "Matcher",
    "load_kb",
]
