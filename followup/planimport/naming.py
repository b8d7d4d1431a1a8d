"""Stable ids and readable titles for imported commitments.

An id must survive the next edition of the plan, which usually moves a date,
drops the italics or fixes a typo, so it is built from what does not change:
the subject's initials, the objective's number and the first words of the
action, spelled canonically ("ANALIZE" and "ANALYZE" give the same id), with
dates, owners and small words left out. The plan is written in capitals;
titles are put in sentence case with acronyms and country names restored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from followup.planimport.dates import MONTH_NAMES_EN
from followup.planimport.obligations import canonical
from followup.planimport.owners import COUNTRY_NAMES, ORGANISATION_CODES

ID_WORDS = 5
TITLE_LENGTH = 90
STOPWORDS = frozenset(
    re.findall(
        r"\S+",
        """A AN THE OF TO IN ON FOR AND OR BY WITH AT FROM INTO ITS THEIR IT THEM THIS THESE THAT THOSE ANY EACH ALL AS
    WILL SHALL MUST BE BEEN IS ARE WAS WERE OUT UP ABOUT REGARDING ON OVER UNDER WHILE WITHIN ALSO SUCH OTHER
    DE LA EL LOS LAS Y E DEL EN PARA POR CON""",
    )
)
KNOWN_ACRONYMS = frozenset({*ORGANISATION_CODES, "RCGM", "RCM", "UN", "MOU", "US", "U.S.", "NGO", "OAS", "SICA", "VS"})
_WORD = re.compile(r"[^\W_]+(?:['.-][^\W_]+)*\.?")


def subject_code(subject: str) -> str:
    """ "MIGRATION POLICIES AND MANAGEMENT" -> "mpm"."""
    words = [w for w in re.findall(r"[^\W\d_]+", subject.upper()) if w not in STOPWORDS]
    return "".join(w[0] for w in words).lower()[:6]


def _ascii(word: str) -> str:
    table = str.maketrans("ÁÉÍÓÚÜÑáéíóúüñ", "AEIOUUNaeiouun")
    return re.sub(r"[^a-z0-9]", "", word.translate(table).lower())


def id_words(action: str) -> list[str]:
    """The significant words of an action, canonically spelled, in lower case."""
    out = []
    for word in re.findall(r"[^\W_]+", action.upper()):
        if word in STOPWORDS or word.isdigit():
            continue
        slug = _ascii(canonical(word))
        if slug:
            out.append(slug)
    return out


def make_id(subject: str, objective: str, action: str, taken: set[str]) -> str:
    """A readable id unique within ``taken`` (which it joins)."""
    prefix = "-".join(p for p in (subject_code(subject) or "plan", objective) if p)
    words = id_words(action) or ["item"]
    base = "-".join([prefix, *words[:ID_WORDS]])[:100].rstrip("-")
    candidate = base
    extra = ID_WORDS
    while candidate in taken and extra < len(words):
        candidate = f"{candidate}-{words[extra]}"[:120]
        extra += 1
    counter = 2
    unique = candidate
    while unique in taken:
        unique = f"{candidate}-{counter}"
        counter += 1
    taken.add(unique)
    return unique


def acronyms_in(texts: Iterable[str]) -> frozenset[str]:
    """Acronyms a document defines in parentheses: "(ISMO)", "(CICTE)"."""
    found: set[str] = set()
    for text in texts:
        found.update(m.group(1).upper() for m in re.finditer(r"\(([A-Z]{2,8})\)", text))
    return frozenset(found)


def _names_by_word() -> dict[str, str]:
    names = {month.upper(): month for month in MONTH_NAMES_EN if month}
    for variants in COUNTRY_NAMES.values():
        for variant in variants:
            names[variant.upper()] = variant.title().replace(" Of ", " of ")
    return names


_COUNTRY_TITLE = _names_by_word()


def sentence_case(text: str, acronyms: frozenset[str] = frozenset()) -> str:
    """Sentence case for text written in capitals, keeping acronyms and country names."""
    if not text:
        return text
    if sum(1 for c in text if c.islower()) > sum(1 for c in text if c.isupper()):
        return text[0].upper() + text[1:]
    keep = KNOWN_ACRONYMS | acronyms

    def word(m: re.Match[str]) -> str:
        raw = m.group(0)
        bare = raw.rstrip(".")
        fixed = canonical(bare)
        if fixed != bare.upper() and "-" not in bare:
            raw = bare = fixed
        if raw in keep or bare in keep or (len(bare) >= 2 and bare.isalpha() and not re.search(r"[AEIOUY]", bare)):
            return raw
        return raw.lower()

    out = _WORD.sub(word, text)
    for upper, titled in _COUNTRY_TITLE.items():
        out = re.sub(rf"\b{re.escape(upper.lower())}\b", titled, out)
    return out[0].upper() + out[1:]


def shorten(text: str, limit: int = TITLE_LENGTH) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:–-")
    return cut + "…"
