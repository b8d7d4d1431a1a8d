"""Which sentence promises what, by whom, and by when.

A plan sentence mixes records ("IOM PRESENTED TO RCGM, MARCH 2005") with
promises ("MEMBER COUNTRIES WILL COMPLETE IT BY NOVEMBER, 2006"), often in
one breath. The rule used here: a sentence is a row of *anchors*, the verbs
that open a clause, each either a promise (WILL/SHALL/MUST, "TO BE DONE",
"REQUESTED STATES TO SUBMIT", "UNHCR TO PARTICIPATE", an imperative that
opens an item) or a record (a past tense, "WAS HELD", "HAS BEEN DONE") or
neither (CAN, SHOULD, "WHICH WILL TAKE PLACE"). A date phrase belongs to the
nearest anchor before it, or, when it opens the sentence ("IN EACH RCM
MEETING, ..."), to the first one after it. So "COUNTRIES WILL SEND
COMMENTS AND UNICEF ... SHARED A NEW VERSION – SEPTEMBER, 2006" promises
comments with no date, and "THE QUESTIONNAIRE WAS SENT BY THE TS AND MEMBER
COUNTRIES WILL COMPLETE IT BY NOVEMBER, 2006" promises the questionnaire by
November. The owner of a promise is the list of parties right before its
verb (or after "BY" in a passive); an imperative names nobody.

Exports run items together without punctuation ("... IN PERSONS SHARE
SEMI-ANNUALLY INFORMATION ..."), so an imperative verb after a noun also
opens a clause. Typos in verbs ("ANALIZE") are read through a small
edit-distance match against the verb list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from followup.planimport.dates import DuePhrase, find_due_phrases
from followup.planimport.owners import OwnerGuess, actor_at, actor_list_before, is_actor_word, parse_owners

_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


def _words(text: str) -> frozenset[str]:
    """A word list written as one string, for readability."""
    return frozenset(text.split())


OBLIGATION_MODALS = frozenset({"WILL", "SHALL", "MUST"})
OTHER_MODALS = frozenset({"CAN", "COULD", "MAY", "MIGHT", "WOULD", "SHOULD"})
RELATIVES = frozenset({"WHICH", "WHO", "THAT", "WHOM", "WHOSE"})
AUX_PAST = frozenset({"WAS", "WERE", "HAS", "HAVE", "HAD", "BEEN"})
AUX_PRESENT = frozenset({"IS", "ARE"})
DETERMINERS = _words(
    "THE A AN ITS THEIR THIS THESE THOSE OUR HIS HER ANY EACH ALL OTHER SOME NO MORE MOST WELL NEWLY RECENTLY SUCH "
    "SAID NOT ALREADY DULY FULLY"
)
PREPOSITIONS = _words(
    "IN ON FOR OF WITH BY TO FROM AT INTO ABOUT AGAINST AMONG BETWEEN THROUGH UNDER OVER WITHIN WITHOUT REGARDING "
    "DURING AFTER BEFORE AS PER VIA TOWARDS UPON ACCORDING"
)
CONJUNCTIONS = _words("AND OR BUT NOR SO THAN WHILE IF WHERE WHEN")
PRONOUNS = _words("IT THEY THEM HE SHE WE")
FUNCTION_WORDS = (
    DETERMINERS
    | PREPOSITIONS
    | CONJUNCTIONS
    | OBLIGATION_MODALS
    | OTHER_MODALS
    | AUX_PAST
    | AUX_PRESENT
    | RELATIVES
    | PRONOUNS
    | frozenset({"BE", "BEING", "ALSO", "THEN", "FURTHER"})
)
#: Words that open an item to say how it stands ("ONGOING – ...").
STATUS_WORDS = frozenset({"ONGOING", "CONTINUOUS", "PENDING", "PERMANENT", "CONTINUING"})
#: Past forms that put an obligation on someone when followed by "TO <verb>".
DIRECTIVES = frozenset(
    {
        "REQUESTED",
        "URGED",
        "ASKED",
        "INVITED",
        "ENTRUSTED",
        "INSTRUCTED",
        "CHARGED",
        "MANDATED",
        "TASKED",
        "COMMISSIONED",
    }
)
IRREGULAR_PAST = _words(
    "HELD SENT MET MADE TOOK TAKEN GAVE GIVEN DONE BEGAN BEGUN WROTE WRITTEN BROUGHT SOUGHT SPOKE SPOKEN CHOSE CHOSEN "
    "LED PAID BUILT SPENT FOUND KEPT LEFT TOLD SAID SAW SEEN WENT GONE CAME GOT HAD WAS WERE BEEN DID WON BECAME "
    "UNDERTOOK UNDERTAKEN TAUGHT THOUGHT BOUGHT HEARD KNEW KNOWN LOST MEANT DREW DRAWN SHOWN GREW GROWN"
)
PARTICIPLES = IRREGULAR_PAST | _words("SET PUT READ CUT")
ADJECTIVE_ED = _words(
    "INTERESTED RELATED UNDOCUMENTED UNACCOMPANIED ORGANIZED ORGANISED SPECIALIZED SPECIALISED UNITED ADVANCED "
    "DETAILED INVOLVED CONCERNED SKILLED QUALIFIED LIMITED RESTRICTED AUTHORIZED AUTHORISED INTEGRATED DISABLED "
    "DISPLACED STRANDED REPATRIATED DOCUMENTED RENEWED COMBINED NEED EXCEED PROCEED SUCCEED INDEED FEED SEED "
    "SPEED BREED BLEED"
)
#: Verbs that open an imperative item of a plan ("ANALYZE BEST PRACTICES ...").
VERBS = _words(
    """ACCOMPLISH ACQUIRE ADOPT ANALYSE ANALYZE APPOINT APPROVE ARRANGE ASSESS ASSIST ATTEND CARRY CHARGE CIRCULATE
    COLLECT COMPILE COMPLETE CONDUCT CONSIDER CONSOLIDATE CONTINUE CONTRIBUTE CONVENE COORDINATE CREATE DEFINE DELIVER
    DESIGN DESIGNATE DETERMINE DEVELOP DISCUSS DISSEMINATE DISTRIBUTE DOCUMENT DRAFT ELABORATE EMPHASIZE ENCOURAGE
    ENHANCE ENSURE ESTABLISH EVALUATE EXAMINE EXCHANGE EXPAND EXPLORE FACILITATE FINALIZE FINANCE FOLLOW FORMULATE
    FOSTER GATHER HOLD HOST IDENTIFY IMPLEMENT IMPROVE INCLUDE INCORPORATE INFORM INITIATE INVITE LAUNCH MAINTAIN
    MONITOR NOMINATE ORGANISE ORGANIZE PARTICIPATE PREPARE PRESENT PROMOTE PROPOSE PROVIDE PUBLISH RATIFY RECOMMEND
    REGULARIZE REPORT REQUEST REVIEW REVISE SCHEDULE SEEK SEND SHARE SIGN SPONSOR STRENGTHEN STUDY SUBMIT SUPPORT
    SUPPLY APPLY COMPLY REPLY TRAIN TRANSLATE UNDERTAKE UPDATE URGE USE VALIDATE VERIFY"""
)
_DUE_RANK = ("deadline", "meeting", "paren", "each_meeting", "every", "weak", "meeting_ref")
_BOUNDARY = re.compile(r"[,;:–\"(]|\.\s")


@dataclass(frozen=True)
class Token:
    word: str  # upper case, as written
    start: int
    end: int


@dataclass(frozen=True)
class Obligation:
    """One promise found in a sentence."""

    sentence: str
    text: str  # the promise's own clause
    action: str  # what is to be done, without who and when
    owners: OwnerGuess | None  # None: the text names nobody
    owner_text: str
    due: DuePhrase | None
    form: str
    other_dues: tuple[DuePhrase, ...] = ()


@dataclass
class _Anchor:
    kind: str  # "obligation" | "record" | "other"
    form: str
    head: int  # token index of the first anchor word
    verb: int  # token index where the action begins
    clause_start: int = 0  # character offset where the clause begins
    owners: OwnerGuess | None = None
    owner_text: str = ""
    parent: int | None = None
    cuts: bool = True  # whether it ends the clause before it
    dues: list[DuePhrase] = field(default_factory=list)


def _distance(a: str, b: str) -> int:
    """Levenshtein distance, small strings only."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@lru_cache(maxsize=4096)
def canonical(word: str) -> str:
    """The verb a word stands for, typos forgiven ("ANALIZE" -> "ANALYZE"); else the word."""
    word = word.upper()
    if word in VERBS:
        return word
    last = word.rsplit("-", 1)[-1]
    if last in VERBS and word.startswith(("RE-", "CO-")):
        return last
    if len(word) >= 6:
        for verb in VERBS:
            if verb[0] == word[0] and len(verb) == len(word) and _distance(verb, word) <= 1:
                return verb
    return word


def tokenize(text: str) -> list[Token]:
    return [Token(m.group(0).upper(), m.start(), m.end()) for m in _WORD.finditer(text)]


class _Sentence:
    """The anchors of one sentence and the questions asked about its tokens."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.anchors: list[_Anchor] = []
        self.consumed: set[int] = set()

    def up(self, i: int) -> str:
        return self.toks[i].word if 0 <= i < len(self.toks) else ""

    def gap(self, i: int) -> str:
        """The characters between token ``i - 1`` and token ``i``."""
        if i <= 0:
            return self.text[: self.toks[0].start] if self.toks else ""
        return self.text[self.toks[i - 1].end : self.toks[i].start]

    def clause_start(self, i: int) -> bool:
        if i == 0:
            return True
        if re.search(r"[–;:\"(]|\.\s", self.gap(i)):
            return True
        return self.up(i - 1) in STATUS_WORDS and self.clause_start(i - 1)

    def is_participle(self, i: int) -> bool:
        word = self.up(i)
        return (word.endswith("ED") and len(word) > 3) or word in PARTICIPLES

    def is_record_verb(self, i: int) -> bool:
        word = self.up(i)
        prev = self.up(i - 1)
        if word in IRREGULAR_PAST and word not in AUX_PAST:
            return prev not in ("BE", "BEING", "TO")
        if not word.endswith("ED") or len(word) <= 4 or word in ADJECTIVE_ED:
            return False
        if prev in AUX_PAST:
            return True
        if prev in DETERMINERS or prev in PREPOSITIONS or prev in ("BE", "BEING", "TO") or prev in OTHER_MODALS:
            return False
        if i > 0 and canonical(prev) in VERBS:
            nxt = self.up(i + 1)
            return not nxt or nxt in PREPOSITIONS or nxt in CONJUNCTIONS
        return True

    def is_adverb(self, i: int) -> bool:
        word = self.up(i)
        return word in ("ALSO", "THEN", "FURTHER") or (word.endswith("LY") and canonical(word) not in VERBS)

    def verb_after(self, i: int) -> bool:
        """Whether token ``i`` can be the verb of "TO <verb>"."""
        word = self.up(i)
        return bool(word) and word not in FUNCTION_WORDS and not word[0].isdigit()

    def run_on_imperative(self, i: int) -> bool:
        """An imperative glued to the previous item: "... IN PERSONS SHARE SEMI-ANNUALLY ..."."""
        prev, nxt = self.up(i - 1), self.up(i + 1)
        if not prev or self.gap(i).strip():
            return False
        if prev in FUNCTION_WORDS or prev.endswith(("LY", "ING", "ED")) or prev[0].isdigit() or is_actor_word(prev):
            return False
        if self.up(i - 2) == "TO" or canonical(prev) in VERBS:
            return False
        return bool(nxt) and nxt not in PREPOSITIONS and nxt not in CONJUNCTIONS and not nxt.endswith("ING")

    def imperative_ok(self, i: int) -> bool:
        """An imperative has an object: not "REPORT OF ...", not "DOCUMENT APPROVED DURING ..."."""
        nxt = self.up(i + 1)
        if not nxt or nxt in ("OF", "TO", "FOR", "BY", "IS", "ARE", "WAS", "WERE", "WILL", "AND"):
            return False
        return not self.is_record_verb(i + 1)

    def add(self, kind: str, form: str, head: int, verb: int) -> _Anchor:
        anchor = _Anchor(kind, form, head, verb)
        self.anchors.append(anchor)
        self.consumed.update(range(head, verb + 1))
        return anchor

    def find_anchors(self) -> None:
        n = len(self.toks)
        for i in range(n):
            if i in self.consumed:
                continue
            word = self.up(i)
            if word in OBLIGATION_MODALS:
                self._modal(i)
            elif word in OTHER_MODALS and not re.match(r"\d", self.up(i + 1) or "x"):
                self.add("other", "modal", i, i)
            elif word == "TO" and self.up(i + 1) == "BE" and self.is_participle(i + 2):
                self.add("obligation", "to_be", i, i + 2)
            elif word in AUX_PRESENT and self.up(i + 1) == "TO" and self.verb_after(i + 2):
                named = actor_list_before(self.text, self.toks[i].start, self._floor(i))
                self.add("obligation" if named else "other", "is_to", i, i + 2)
            elif word in AUX_PRESENT and self.up(i + 1).endswith("ING"):
                self.add("other", "present", i, i + 1)
            elif word in DIRECTIVES:
                self._directive(i)
            elif word == "TO" and self.verb_after(i + 1) and canonical(self.up(i + 1)) in VERBS:
                if self.clause_start(i):
                    self.add("obligation", "imperative", i, i + 1)
                else:
                    self._actor_to(i)
            elif self.is_record_verb(i):
                head = i - 1 if self.up(i - 1) in AUX_PAST else i
                if head > 0 and self.up(head - 1) in AUX_PAST:
                    head -= 1
                self.add("record", "past", head, i)
            elif (
                canonical(word) in VERBS
                and self.imperative_ok(i)
                and (self.clause_start(i) or self.run_on_imperative(i))
            ):
                self.add("obligation", "imperative", i, i)

    def _modal(self, i: int) -> None:
        if self.up(i - 1) in RELATIVES:
            self.add("other", "relative", i, i)
            return
        j = i + 1
        while self.up(j) in ("ALSO", "THEN", "FURTHER") or (
            self.up(j).endswith("LY") and canonical(self.up(j)) not in VERBS
        ):
            j += 1
        if self.up(j) == "BE" and self.is_participle(j + 1):
            self.add("obligation", "passive", i, j + 1)
        else:
            self.add("obligation", "modal", i, j)

    def _directive(self, i: int) -> None:
        if self.up(i - 1) in AUX_PAST | AUX_PRESENT and self.up(i + 1) == "TO" and self.verb_after(i + 2):
            anchor = self.add("obligation", "directive_passive", i - 1, i + 2)
            anchor.verb = i + 2
            return
        for j in range(i + 1, min(i + 12, len(self.toks))):
            if self.up(j) == "TO" and self.verb_after(j + 1) and j > i + 1:
                between = self.text[self.toks[i + 1].start : self.toks[j - 1].end]
                if re.search(r"[.;:–]", between):
                    break
                anchor = self.add("obligation", "directive", i, j + 1)
                anchor.owners = parse_owners(between)
                anchor.owner_text = between
                return
            if self.up(j) in OBLIGATION_MODALS or self.is_record_verb(j):
                break
        self.add("record", "past", i, i)

    def _actor_to(self, i: int) -> None:
        listed = actor_list_before(self.text, self.toks[i].start, self._floor(i))
        if listed is None:
            return
        first = next(k for k, t in enumerate(self.toks) if t.end > listed.start)
        if not self.clause_start(first):
            return
        anchor = self.add("obligation", "actor_to", i, i + 1)
        anchor.owners = listed.owners
        anchor.owner_text = self.text[listed.start : self.toks[i].start].strip()
        anchor.clause_start = listed.start

    def _floor(self, i: int) -> int:
        """Where a subject ending at token ``i`` may begin: after the previous anchor."""
        before = [a for a in self.anchors if a.head < i]
        if not before:
            return 0
        return self.toks[max(before[-1].verb, before[-1].head)].end

    def subjects(self) -> None:
        """Owners and clause starts of every anchor."""
        for anchor in self.anchors:
            head_pos = self.toks[anchor.head].start
            floor = self._floor(anchor.head)
            if anchor.form == "actor_to":
                continue
            if anchor.form in ("imperative",):
                anchor.clause_start = head_pos
                anchor.owners = None
                continue
            if anchor.form in ("passive", "to_be"):
                agent = self._agent(anchor.verb)
                anchor.owners = agent.owners if agent else None
                anchor.owner_text = self.text[agent.start : agent.end] if agent else ""
                anchor.clause_start = self._boundary_start(floor, head_pos, coordination=True)
                anchor.cuts = anchor.form == "passive" or self._separated(floor, head_pos)
                continue
            if anchor.form == "directive":
                anchor.clause_start = self._boundary_start(floor, head_pos)
                continue
            listed = actor_list_before(self.text, head_pos, floor)
            if listed is not None:
                start = listed.start
                anchor.clause_start = start
                if anchor.kind != "record" or anchor.form == "directive_passive":
                    anchor.owners = listed.owners
                    anchor.owner_text = self.text[start:head_pos].strip()
                continue
            if anchor.kind == "obligation":
                start = self._boundary_start(floor, head_pos)
                phrase = _strip_status(self.text[start:head_pos]).strip(" ,")
                anchor.owners = parse_owners(phrase) if phrase else None
                anchor.owner_text = phrase
            else:
                start = self._boundary_start(floor, head_pos, coordination=True)
                anchor.cuts = self._separated(floor, head_pos)
            anchor.clause_start = start

    def _boundary_start(self, floor: int, end: int, *, coordination: bool = False) -> int:
        """Where the clause ending at ``end`` begins: after the last punctuation since ``floor``.

        With ``coordination``, a bare "AND" also separates clauses ("... TO THE TS AND
        THE CORRESPONDING NETWORK WILL BE INFORMED").
        """
        segment = self.text[floor:end]
        last = None
        for m in _BOUNDARY.finditer(segment):
            last = m
        if coordination:
            for m in re.finditer(r"\s(?:AND|Y)\s", segment, re.I):
                if last is None or m.end() > last.end():
                    last = m
        start = floor + last.end() if last else floor
        while start < end and self.text[start] in " ,–":
            start += 1
        return start

    def _separated(self, floor: int, end: int) -> bool:
        """Whether punctuation or "AND" stands between the previous anchor and ``end``."""
        segment = self.text[floor:end]
        return bool(_BOUNDARY.search(segment) or re.search(r"\s(?:AND|Y)\s", segment, re.I))

    def _agent(self, verb: int) -> _AgentSpan | None:
        """The "BY <parties>" after a passive participle."""
        j = verb + 1
        if self.up(j) != "BY" or j >= len(self.toks) - 1:
            return None
        after = self.toks[j + 1].start
        listed = actor_at(self.text, after)
        if listed is not None:
            return _AgentSpan(listed.start, listed.end, listed.owners)
        m = re.match(r"[^,;.()–]+", self.text[after:])
        if m is None:
            return None
        phrase = m.group(0).strip()
        return _AgentSpan(after, after + len(phrase), parse_owners(phrase))

    def merge(self) -> None:
        """A "TO BE <done>" after a promise continues that promise; after a record it describes it."""
        saw_record = False
        for index, anchor in enumerate(self.anchors):
            if anchor.kind == "record":
                saw_record = True
            if anchor.form != "to_be":
                continue
            previous = self.anchors[index - 1] if index > 0 else None
            if previous is not None and previous.kind == "obligation":
                root = self.root(index - 1)
                anchor.parent = self.anchors.index(root)
                anchor.cuts = False
                if root.owners is None and anchor.owners is not None:
                    root.owners = anchor.owners
                    root.owner_text = anchor.owner_text
            elif saw_record:
                anchor.kind = "other"
                anchor.cuts = False

    def root(self, index: int) -> _Anchor:
        anchor = self.anchors[index]
        while anchor.parent is not None:
            anchor = self.anchors[anchor.parent]
        return anchor

    def attach(self, phrases: list[DuePhrase]) -> None:
        positions = [self.toks[a.head].start for a in self.anchors]
        for phrase in phrases:
            if not phrase.sets_deadline:
                continue
            before = [k for k, p in enumerate(positions) if p < phrase.start]
            if before:
                index = before[-1]
            else:
                after = [k for k, p in enumerate(positions) if p >= phrase.end]
                if not after:
                    continue
                index = after[0]
            if self.anchors[index].kind != "obligation":
                continue
            self.root(index).dues.append(phrase)

    def clause_end(self, index: int) -> int:
        anchor = self.anchors[index]
        for later in self.anchors[index + 1 :]:
            if later.parent is not None or not later.cuts or later is anchor:
                continue
            if self.toks[later.head].start <= self.toks[anchor.head].start:
                continue
            return self._cut_point(later)
        return len(self.text)

    def _cut_point(self, later: _Anchor) -> int:
        start = later.clause_start
        m = re.search(r"(?:\s+(?:AND|Y)\s*|\s*,\s*)$", self.text[:start], re.I)
        return m.start() if m else start


@dataclass(frozen=True)
class _AgentSpan:
    start: int
    end: int
    owners: OwnerGuess


def _strip_status(text: str) -> str:
    return re.sub(rf"^\s*(?:(?:{'|'.join(STATUS_WORDS)})\b\s*[–:-]?\s*)+", "", text, flags=re.I)


def _without(text: str, offset: int, phrases: list[DuePhrase]) -> str:
    """``text`` (which starts at ``offset`` in the sentence) with the date phrases cut out."""
    out = text
    for phrase in sorted(phrases, key=lambda p: p.start, reverse=True):
        if phrase.kind == "bare":
            continue
        s, e = phrase.start - offset, phrase.end - offset
        if s >= 0 and e <= len(out):
            out = out[:s] + " " + out[e:]
    out = re.sub(r"\(\s*\)", " ", out)
    out = re.sub(r"\s+", " ", out).strip(" ,;:–-")
    if out.endswith(".") and not re.search(r"\b[^\W\d_]\.$", out):
        out = out[:-1].rstrip(" ,;:–-")
    return out


def find_obligations(sentence: str) -> list[Obligation]:
    """Every promise in ``sentence``, with its owner and due phrase when the text gives them."""
    s = _Sentence(sentence)
    if not s.toks:
        return []
    s.find_anchors()
    s.anchors.sort(key=lambda a: a.head)
    s.subjects()
    s.merge()
    phrases = find_due_phrases(sentence)
    s.attach(phrases)
    found: list[Obligation] = []
    for index, anchor in enumerate(s.anchors):
        if anchor.kind != "obligation" or anchor.parent is not None:
            continue
        end = s.clause_end(index)
        start = min(anchor.clause_start, s.toks[anchor.head].start)
        text = sentence[start:end].strip(" ,;–")
        action_start = start if anchor.form in ("passive", "to_be", "is_to") else s.toks[anchor.verb].start
        action = _without(sentence[action_start:end], action_start, phrases)
        action = _strip_status(action)
        action = _resolve_pronoun(s, index, action)
        dues = sorted(anchor.dues, key=lambda p: (_DUE_RANK.index(p.kind), p.start))
        found.append(
            Obligation(
                sentence=sentence,
                text=_strip_status(text),
                action=action,
                owners=anchor.owners,
                owner_text=anchor.owner_text,
                due=dues[0] if dues else None,
                form=anchor.form,
                other_dues=tuple(dues[1:]),
            )
        )
    return found


def _resolve_pronoun(s: _Sentence, index: int, action: str) -> str:
    """ "COMPLETE IT" -> "COMPLETE THE QUESTIONNAIRE" when the sentence began with that noun."""
    if not re.search(r"\bIT\b", action, re.I) or index == 0:
        return action
    first = s.anchors[0]
    noun = s.text[first.clause_start : s.toks[first.head].start].strip(" ,")
    noun = _strip_status(noun)
    if not noun or len(noun.split()) > 6 or parse_owners(noun).named:
        return action
    return re.sub(r"\bIT\b", noun, action, count=1, flags=re.I)
