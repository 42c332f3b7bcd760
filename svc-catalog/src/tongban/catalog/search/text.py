"""Search keys computed when a record is written: CJK unigrams and bigrams, lower-cased ASCII
words, pinyin initials, and pairs of pinyin syllables of the title (full-pinyin search); and what
a query term is also read as (its pinyin, synonyms, corrected wrong characters: forgiving.json).

Why not trigrams for the Chinese text: pg_trgm only takes "alphanumeric" characters into its
trigrams, and a database whose LC_CTYPE is C (what the platform's PostgreSQL is initialised
with) treats every multibyte character as a separator, so `show_trgm('身份证')` is empty and a
trigram index cannot narrow a Chinese query. Overlapping bigrams (what Lucene's CJK analyser
does) need no dictionary and find every substring of two or more characters; pg_trgm still
indexes the ASCII side (pinyin initials, codes), where it works.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

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


# --- forgiving search: full pinyin, pinyin of known words, synonyms and wrong characters ----------

# A pinyin syllable (no tones, ü as v): an optional initial and a final.
_SYLLABLE = re.compile(r"(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
                       r"(?:iang|iong|uang|ueng|ang|eng|ing|ong|uai|iao|ian|uan|van|ai|ei|ao|ou|an|en|er|in|un|vn"
                       r"|ia|ie|iu|ua|uo|ue|ve|ui|a|o|e|i|u|v)")
_LATIN = re.compile(r"[a-z]+")
PINYIN_KEY = "py:"  # search keys of consecutive pinyin syllables: no ASCII word token has a colon


def syllables(word: str) -> list[str] | None:
    """`word` (lower-case latin) cut into pinyin syllables, longest first with backtracking
    (`yingyezhizhao` → ying ye zhi zhao); None when it is not pinyin."""
    if not _LATIN.fullmatch(word):
        return None

    @lru_cache(maxsize=None)
    def cut(at: int) -> tuple[str, ...] | None:
        if at == len(word):
            return ()
        for end in range(min(len(word), at + 6), at, -1):  # a syllable has at most six letters
            if _SYLLABLE.fullmatch(word, at, end) and (rest := cut(end)) is not None:
                return (word[at:end], *rest)
        return None

    found = cut(0)
    return list(found) if found else None


@lru_cache(maxsize=65536)
def _pinyin(run: str) -> tuple[str, ...]:
    """The syllables of a CJK run (names share their runs: remembered)."""
    return tuple(p for p in lazy_pinyin(run, errors="ignore") if p.isalpha())


def _syllable_pairs(sounds: Sequence[str]) -> set[str]:
    return {PINYIN_KEY + sounds[i] + sounds[i + 1] for i in range(len(sounds) - 1)}


def pinyin_keys(texts: Iterable[str]) -> list[str]:
    """Keys for full-pinyin search: each pair of consecutive syllables of every CJK run
    (营业执照 → py:yingye, py:yezhi, py:zhizhao)."""
    out: set[str] = set()
    for text in texts:
        for run in _CJK.findall(normalise(text)):
            out |= _syllable_pairs(_pinyin(run))
    return sorted(out)


def title_keys(texts: list[str]) -> list[str]:
    """The keys of a title (name and aliases): its tokens and its pinyin keys."""
    return sorted({*tokens(texts), *pinyin_keys(texts)})


@lru_cache(maxsize=1)
def _forgiving() -> tuple[list[list[str]], dict[str, str], dict[str, str]]:
    """The data: synonym groups, corrections, and every known word by its full pinyin and its
    initials (`yyzz` and `yingyezhizhao` → 营业执照)."""
    data = json.loads((Path(__file__).with_name("forgiving.json")).read_text(encoding="utf-8"))
    # each group longest member first (a term holding 居民身份证 is read as that, not as 身份证)
    groups = [sorted((normalise(w) for w in group), key=len, reverse=True) for group in data["synonyms"]]
    corrections = {normalise(k): normalise(v) for k, v in data["corrections"].items()}
    by_sound: dict[str, str] = {}
    for word in [w for g in groups for w in g] + list(corrections.values()):
        by_sound.setdefault("".join(_pinyin(word)), word)
        by_sound.setdefault(initials([word]), word)
    return groups, corrections, by_sound


def variants(term: str) -> list[str]:
    """Other spellings of `term` searched beside it: the word its pinyin or initials spell, the
    term with a wrong word corrected, and with a synonym in place of each group member it holds
    (longest member first; at most one replacement per group)."""
    groups, corrections, by_sound = _forgiving()
    t = normalise(term)
    base = [t]
    if (word := by_sound.get(t)) is not None:
        base.append(word)
    for wrong, right in corrections.items():
        if wrong in t:
            base.append(t.replace(wrong, right))
    out: list[str] = []
    for b in base:
        out.append(b)
        for group in groups:
            member = next((m for m in group if m in b), None)
            if member is not None:
                out += [b.replace(member, other, 1) for other in group if other != member]
    seen = dict.fromkeys(o for o in out if o != t)
    return list(seen)[:8]


@lru_cache(maxsize=4096)
def alternatives(term: str) -> tuple[tuple[str, ...], ...]:
    """The key sets that each find `term`: a record holding every key of one of them is a
    candidate. Its own keys, those of its variants, and, for a latin run that is pinyin of two or
    more syllables, the pairs of its syllables."""
    out = [tuple(query_tokens(term))]
    out += [tuple(query_tokens(v)) for v in variants(term)]
    sounds = syllables(normalise(term))
    if sounds and len(sounds) >= 2:
        out.append(tuple(sorted(_syllable_pairs(sounds))))
    return tuple(dict.fromkeys(keys for keys in out if keys))


def joined_pinyin(words: list[str]) -> list[str]:
    """Search terms with runs of pinyin words joined (`ying ye zhi zhao` → `yingyezhizhao`): a
    resident typing pinyin with spaces means one word."""
    out: list[str] = []
    run: list[str] = []
    for w in [*words, ""]:
        if w and syllables(w) is not None:
            run.append(w)
            continue
        if run:
            out.append("".join(run) if len(run) > 1 else run[0])
            run = []
        if w:
            out.append(w)
    return out
