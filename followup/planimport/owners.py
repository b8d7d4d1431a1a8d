"""Who a plan sentence names: member countries, named countries, organisations.

"COUNTRIES", "MEMBER COUNTRIES" and "STATES" mean every member; "EL SALVADOR
AND IOM" means those two; "INTERESTED COUNTRIES" means some members nobody
listed, which a person has to settle. Names are matched in English and
Spanish, with or without accents, and parentheses are ignored ("TECHNICAL
SECRETARIAT (TS)", "THE PPT (PANAMA)" name one party each).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MEMBER_CODES = ("BZ", "CA", "CR", "DO", "SV", "GT", "HN", "MX", "NI", "PA", "US")
ORGANISATION_CODES = ("IOM", "UNHCR", "UNICEF", "ILO", "TS", "PPT")

COUNTRY_NAMES: dict[str, tuple[str, ...]] = {
    "BZ": ("BELIZE", "BELICE"),
    "CA": ("CANADA",),
    "CR": ("COSTA RICA",),
    "DO": ("DOMINICAN REPUBLIC", "REPUBLICA DOMINICANA"),
    "SV": ("EL SALVADOR",),
    "GT": ("GUATEMALA",),
    "HN": ("HONDURAS",),
    "MX": ("MEXICO",),
    "NI": ("NICARAGUA",),
    "PA": ("PANAMA",),
    "US": ("UNITED STATES OF AMERICA", "UNITED STATES", "ESTADOS UNIDOS"),
}
ORGANISATION_NAMES: dict[str, tuple[str, ...]] = {
    "IOM": ("INTERNATIONAL ORGANIZATION FOR MIGRATION", "IOM", "OIM"),
    "UNHCR": ("UNITED NATIONS HIGH COMMISSIONER FOR REFUGEES", "UNHCR", "ACNUR"),
    "UNICEF": ("UNICEF",),
    "ILO": ("INTERNATIONAL LABOUR ORGANIZATION", "INTERNATIONAL LABOR ORGANIZATION", "ILO/IPEC", "ILO", "OIT"),
    "TS": ("RCM TECHNICAL SECRETARIAT", "TECHNICAL SECRETARIAT", "SECRETARIA TECNICA", "TS"),
    "PPT": ("PRESIDENCY PRO TEMPORE", "PRO TEMPORE PRESIDENCY", "PRESIDENCIA PRO TEMPORE", "PPT"),
}
#: Written only in capitals and case-sensitively, so that the pronoun "us" is never a country.
_CASE_SENSITIVE = {"US": r"(?-i:U\.S\.A\.?|U\.S\.?|USA\b|US\b|EE\.\s?UU\.?|EEUU\b)"}

ALL_MEMBERS = "*"


def _words(text: str) -> frozenset[str]:
    """A word list written as one string, for readability."""
    return frozenset(text.split())


_ACCENTS = {"A": "[AÁ]", "E": "[EÉ]", "I": "[IÍ]", "O": "[OÓ]", "U": "[UÚÜ]", "N": "[NÑ]"}
_FILLER = _words(
    "THE AND OR ALL OF Y E LA EL LOS LAS AS WELL ALSO BOTH RESPECTIVELY TOGETHER JOINTLY WITH IN COOPERATION "
    "COLLABORATION COORDINATION SUPPORT CONJUNCTION CON EN"
)
_PREPOSITIONS = _words("BY TO WITH FOR OF FROM AMONG BETWEEN ON AT IN INTO ABOUT THROUGH VIA POR PARA CON DE")


def _pattern(name: str) -> str:
    """A name as a pattern: accents optional, spaces and hyphens interchangeable."""
    out = []
    for ch in name:
        if ch == " ":
            out.append(r"[\s-]+")
        elif ch in _ACCENTS:
            out.append(_ACCENTS[ch])
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _names(table: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    return [(code, _pattern(name)) for code, names in table.items() for name in names]


_PARTIAL = (
    r"(?:(?:SOME|SEVERAL|OTHER|INTERESTED|PARTICIPATING|RELEVANT|CONCERNED|DONOR|RECEIVING|SENDING|TRANSIT"
    r"|NEIGHBOU?RING|CENTRAL[\s-]+AMERICAN|SOUTH[\s-]+AMERICAN|CARIBBEAN)\s+)+(?:MEMBER\s+)?(?:COUNTRIES|STATES|GOVERNMENTS)"
    r"|PA[IÍ]SES\s+INTERESADOS|COUNTRY\b|STATE\b"
)
_ALL = (
    r"(?:(?:ALL|EACH|EVERY)\s+(?:OF\s+)?(?:THE\s+)?)?(?:RCM\s+)?(?:MEMBER\s+)?(?:COUNTRIES|STATES|GOVERNMENTS)"
    r"|(?:EACH|EVERY)\s+(?:MEMBER\s+)?(?:COUNTRY|STATE)|MEMBER\s+(?:COUNTRY|STATE)"
    r"|PA[IÍ]SES(?:\s+MIEMBROS)?|ESTADOS(?:\s+MIEMBROS)?"
)


def _alternatives() -> list[tuple[str, str]]:
    """(code, pattern), longest names first so that "UNITED STATES" wins over "STATES"."""
    items = _names(COUNTRY_NAMES) + _names(ORGANISATION_NAMES)
    items.sort(key=lambda item: len(item[1]), reverse=True)
    items.append(("US", _CASE_SENSITIVE["US"]))
    items.append(("?", _PARTIAL))
    items.append((ALL_MEMBERS, _ALL))
    return items


_ALTERNATIVES = _alternatives()
_ONE = re.compile(
    r"\b(?:THE\s+|LA\s+|EL\s+|LOS\s+|LAS\s+)?(?:" + "|".join(f"(?:{p})" for _, p in _ALTERNATIVES) + r")(?!\w)", re.I
)
ACTOR = _ONE.pattern
_SEP = r"(?:\s*,\s*(?:AND\s+|Y\s+)?|\s+(?:AND|Y|E|&)\s+)"
_LIST_AT_END = re.compile(rf"(?:{ACTOR})(?:{_SEP}(?:{ACTOR}))*\s*$", re.I)
_PAREN = re.compile(r"\([^()]*\)")
_FIRST_SEP = re.compile(_SEP, re.I)


@dataclass(frozen=True)
class OwnerGuess:
    """Who a phrase names; ``unclear`` holds the words a person must interpret."""

    all_members: bool = False
    codes: tuple[str, ...] = ()
    unclear: tuple[str, ...] = ()

    @property
    def named(self) -> bool:
        return self.all_members or bool(self.codes)

    @property
    def stated(self) -> bool:
        return self.named or bool(self.unclear)

    def label(self) -> str:
        parts = (["all members"] if self.all_members else []) + list(self.codes)
        parts += [f"?{u.lower()}" for u in self.unclear]
        return ", ".join(parts) if parts else "(not stated)"


@dataclass(frozen=True)
class ActorList:
    start: int
    end: int
    owners: OwnerGuess


def _identify(piece: str) -> str:
    for code, pattern in _ALTERNATIVES:
        if re.fullmatch(rf"(?:THE\s+|LA\s+|EL\s+|LOS\s+|LAS\s+)?(?:{pattern})", piece.strip(), re.I):
            return code
    return "?"


def _blank_parentheses(text: str) -> str:
    previous = None
    while previous != text:
        previous = text
        text = _PAREN.sub(lambda m: " " * len(m.group(0)), text)
    return text


def parse_owners(text: str) -> OwnerGuess:
    """Who ``text`` (a subject phrase such as "EL SALVADOR AND IOM") names."""
    plain = _blank_parentheses(text)
    codes: list[str] = []
    unclear: list[str] = []
    all_members = False
    leftover = plain
    for m in _ONE.finditer(plain):
        code = _identify(m.group(0))
        if code == ALL_MEMBERS:
            all_members = True
        elif code == "?":
            unclear.append(_squash(m.group(0)))
        elif code not in codes:
            codes.append(code)
        leftover = leftover[: m.start()] + " " * (m.end() - m.start()) + leftover[m.end() :]
    rest = [w for w in re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", leftover) if w.upper() not in _FILLER]
    if rest:
        unclear.append(_squash(_span_of(plain, leftover)))
    return OwnerGuess(all_members, tuple(codes), tuple(dict.fromkeys(unclear)))


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip(" ,;:–-").upper()


def _span_of(plain: str, leftover: str) -> str:
    """The leftover words, in order, as one phrase (fillers at the edges dropped)."""
    words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", leftover)
    while words and words[0].upper() in _FILLER:
        words.pop(0)
    while words and words[-1].upper() in _FILLER:
        words.pop()
    return " ".join(words)


def actor_list_before(text: str, end: int, floor: int = 0) -> ActorList | None:
    """The list of parties that ends right before ``end`` (the subject of a verb).

    A list preceded by a preposition ("SENT BY THE TS AND MEMBER COUNTRIES
    WILL") begins with someone else's agent: its first member is dropped.
    """
    prefix = text[:end]
    trailing = re.search(r"\s*\([^()]*\)\s*$", prefix)
    if trailing:
        prefix = prefix[: trailing.start()]
    window = _blank_parentheses(prefix)
    m = _LIST_AT_END.search(window, floor)
    if m is None:
        return None
    start = m.start()
    before = re.findall(r"[^\W\d_]+", window[max(floor, start - 30) : start])
    if before and before[-1].upper() in _PREPOSITIONS:
        sep = _FIRST_SEP.search(window, start, m.end())
        if sep is None:
            return None
        start = sep.end()
        again = _LIST_AT_END.match(window, start)
        if again is None:
            return None
    phrase = text[start:end]
    return ActorList(start, end, parse_owners(phrase))


def actor_at(text: str, start: int) -> ActorList | None:
    """A list of parties that begins at ``start`` (the agent after "BY")."""
    window = _blank_parentheses(text)
    m = re.compile(rf"(?:{ACTOR})(?:{_SEP}(?:{ACTOR}))*", re.I).match(window, start)
    if m is None:
        return None
    return ActorList(m.start(), m.end(), parse_owners(text[m.start() : m.end()]))


def is_actor_word(word: str) -> bool:
    """Whether a single word names a party or the members ("IOM", "COUNTRIES")."""
    return _identify(word) != "?" or word.upper() in ("COUNTRIES", "STATES", "GOVERNMENTS")
