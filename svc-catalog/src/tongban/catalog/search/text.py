"""Search keys computed when a record is written: CJK unigrams and bigrams, lower-cased ASCII
words, and pinyin initials.

Why not trigrams for the Chinese text: pg_trgm only takes "alphanumeric" characters into its
trigrams, and a database whose LC_CTYPE is C (what the platform's PostgreSQL is initialised
with) treats every multibyte character as a separator, so `show_trgm('身份证')` is empty and a
trigram index cannot narrow a Chinese query. Overlapping bigrams (what Lucene's CJK analyser
does) need no dictionary and find every substring of two or more characters; pg_trgm still
indexes the ASCII side (pinyin initials, codes), where it works.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from pypinyin import Style, lazy_pinyin

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[0-9a-z]+")


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def tokens(texts: Iterable[str]) -> list[str]:
    """Every CJK character and overlapping CJK bigram, and every ASCII word, of the texts."""
    out: set[str] = set()
    for text in texts:
        t = normalise(text)
        for run in _CJK.findall(t):
            out.update(run)
            out.update(run[i:i + 2] for i in range(len(run) - 1))
        out.update(_WORD.findall(t))
    return sorted(out)


def query_tokens(term: str) -> list[str]:
    """The keys a record must all hold to contain `term`: its bigrams (or its one character)
    and its ASCII words. A record holding them all is a candidate; the exact check follows."""
    t = normalise(term)
    out: set[str] = set()
    for run in _CJK.findall(t):
        out.update([run] if len(run) == 1 else (run[i:i + 2] for i in range(len(run) - 1)))
    out.update(_WORD.findall(t))
    return sorted(out)


def initials(texts: Iterable[str]) -> str:
    """Pinyin initials of each text, space-separated: 居民身份证换领 → `jmsfzhl`."""
    parts = []
    for text in texts:
        letters = lazy_pinyin(normalise(text), style=Style.FIRST_LETTER, errors="ignore")
        parts.append("".join(p for p in letters if p.isalnum()))
    return " ".join(p for p in parts if p)


def is_initials_query(term: str) -> bool:
    """A lower-case latin run such as `sfz` is read as pinyin initials."""
    return bool(re.fullmatch(r"[a-zA-Z]{2,20}", term))
