"""Which of the items an email listed a reply names by their words (pure).

A reply to a merged reminder keeps the subject of the email it answers, and
that subject repeats the first tags of the email, not what the reply is
about. What the person wrote is the evidence: a tag in the text, a title or
its key words ("la matriz de integración"), an attachment's name
(``matriz_integracion_HN.pdf``), or "all of them". Words are compared
without accents and by their first letters, so "integration", "integración"
and "integracion" all count, in either language.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence

#: Words that say nothing about which item: articles, prepositions, and the domain's everyday words.
_COMMON_WORDS = (
    "a al and as at by con de del el en for from in la las los of on or para por sobre the to un una y "
    "with within other otros otras "
    "rcm crm ts st migration migratoria migratorio migratorias migratorios migrant migrants migrante migrantes "
    "regional report reports informe informes document documents documento documentos"
)
_STOPWORDS = frozenset(_COMMON_WORDS.split())
_PREFIX = 5
_ALL = re.compile(
    r"\b(?:all\s+(?:of\s+them|the\s+(?:items|documents|commitments|requested)|items|documents|three|four|five)"
    r"|both\s+(?:of\s+them|items|documents)|everything\s+(?:requested|you\s+asked)"
    r"|tod[oa]s\s+(?:ell[oa]s|l[oa]s\s+(?:compromisos|documentos|puntos|elementos|archivos|informes|solicitados))"
    r"|ambos|ambas|todo\s+lo\s+solicitado)\b",
    re.IGNORECASE,
)


class _FoldTable(dict[int, str]):
    """``str.translate`` table of :func:`fold` (one character's decomposition less its accents), filled as met."""

    def __missing__(self, code: int) -> str:
        decomposed = unicodedata.normalize("NFKD", chr(code))
        folded = self[code] = "".join(c for c in decomposed if not unicodedata.combining(c))
        return folded


_FOLD = _FoldTable()
_WORD = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lowercase without accents, so both languages' spellings compare equal.

    Character by character (decomposition only reorders the accents it drops), through a table.
    """
    lowered = text.lower()
    return lowered if lowered.isascii() else lowered.translate(_FOLD)


def _stems(text: str) -> list[str]:
    words = _WORD.findall(fold(text))
    return [w[:_PREFIX] for w in words if len(w) >= 3 and w not in _STOPWORDS]


@functools.lru_cache(maxsize=4096)
def _title_keys(title: str) -> tuple[str, ...]:
    """A title's key words, each once (titles repeat from reply to reply)."""
    return tuple(dict.fromkeys(_stems(title)))


def says_all(text: str) -> bool:
    """The reply says it covers every item ("all of them", "ambos", "todos los documentos")."""
    return bool(_ALL.search(text))


def named_by_words(
    text: str,
    attachment_names: Sequence[str],
    titles: Mapping[int, Sequence[str]],
) -> list[int]:
    """Items whose title (in any language) the text or an attachment name evokes.

    An item counts when two of its key words appear (its only key word, for a
    one-word title), so "matrix" alone does not name "Integration matrix"
    when another matrix is also listed.
    """
    seen = set(_stems(text))
    for name in attachment_names:
        seen.update(_stems(re.sub(r"[_\-.]+", " ", name)))
    named: list[int] = []
    for item, variants in titles.items():
        for title in variants:
            keys = _title_keys(title)
            if not keys:
                continue
            hits = sum(1 for k in keys if k in seen)
            if hits >= min(2, len(keys)):
                named.append(item)
                break
    return named
