"""What a focal point's reply asks for: confirmation, extension, question, or unknown.

The rules are deliberately plain phrase lists (English and Spanish) with a
negation check, because every decision must be explainable to the
secretariat: ``signals`` names the phrases that decided it. Precedence:

1. extension - "more time", "prórroga", "dos semanas más", or a promise to
   send on a later date ("la enviaremos el 15 de septiembre"). It wins over
   a confirmation because a partial submission with a request for more time
   still needs the secretariat's decision.
2. confirmation - "please find attached", "adjunto", "ya fue enviado"...
   unless negated in the same clause ("aún no hemos enviado", "not yet
   submitted"). A substantive attachment with no other signal counts too,
   except when the text says the work is not done.
3. question - a question mark or a request ("could you", "¿podrían...").
4. unknown - nothing to go on; a person reads it.

Only the sender's own lines count: quoted lines (``>``) are skipped, and the
subject is read only after removing reply prefixes and tags, and only when
the text itself says nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from followup.inbound.dates import FoundDate, find_dates, find_period, find_relative, find_weekday, fold
from followup.inbound.parse import Attachment

CONFIRMATION = "confirmation"
EXTENSION = "extension"
QUESTION = "question"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class IntentResult:
    intent: str
    proposed_date: date | None = None
    #: Why: e.g. ``("confirmation:adjunto", "negated:not yet sent", "attachment:matriz.xlsx")``.
    signals: tuple[str, ...] = ()


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# Patterns run on folded text: lower case, no accents ("prórroga" -> "prorroga").
_CONFIRMATION_RE = _rx(
    # English
    r"\b(?:please\s+)?find\s+(?:herewith\s+)?(?:attached|enclosed)\b",
    r"\battached\s+(?:please\s+)?(?:find|is|are|you\s+will\s+find|herewith|the|our|please)\b",
    r"\b(?:please\s+)?see\s+(?:the\s+)?attached\b",
    r"\b(?:i|we)\s+(?:hereby\s+)?(?:attach|enclose|submit|transmit)\b",
    r"\b(?:i|we)(?:'m|'re|\s+am|\s+are)\s+(?:attaching|enclosing|submitting|sending\s+(?:you\s+)?(?:herewith|attached))\b",
    r"\benclosed\s+(?:is|are|please)\b",
    r"\b(?:has|have|had)\s+(?:already\s+|now\s+|just\s+)?(?:been\s+)?(?:sent|submitted|uploaded|delivered|completed|shared"
    r"|transmitted|forwarded|filled\s+in|filled\s+out)\b",
    r"\b(?:was|were)\s+(?:already\s+|just\s+)?(?:sent|submitted|uploaded|delivered|transmitted)\b",
    r"\b(?:i|we)\s+(?:already\s+|just\s+)?(?:sent|submitted|uploaded|delivered|completed|transmitted|forwarded)\b",
    r"\bsubmitted\b",
    r"\bhere\s+(?:is|are)\s+(?:the|our|my)\b",
    r"\bherewith\b",
    # Spanish ("adjunto" alone is also a job title: "Director Adjunto", so it needs an object)
    r"\badjunt(?:amos|an)\b",
    r"\badjunt(?:o|a|e)\s+(?:a\s+(?:la\s+presente|este\s+correo|continuacion)\s+)?(?:la|el|los|las|un|una|unos|unas|mi|mis"
    r"|nuestra|nuestro|nuestras|nuestros|su|sus|copia|documento|archivo|informe|matriz|nota|oficio|formulario"
    r"|respuesta|a\s+continuacion|lo\s+solicitado)\b",
    r"\badjunto\s*:",
    r"\b(?:va|van|envio|enviamos|remito|remitimos|encontrara|encontraran|encuentra|encuentran|remite|envia)\s+"
    r"(?:\w+\s+){0,2}adjunt[oa]s?\b",
    r"\bse\s+adjunta(?:n)?\b",
    r"\ble(?:s)?\s+(?:adjunto|remito|envio|enviamos|remitimos|comparto|compartimos)\b",
    r"\b(?:envio|enviamos|remito|remitimos|compartimos|trasladamos|transmitimos)\b",
    r"\b(?:ya\s+)?(?:fue|fueron|ha\s+sido|han\s+sido|se\s+ha|se\s+han)\s+(?:enviad|remitid|entregad|completad|cargad|subid"
    r"|compartid|trasladad)[oa]s?\b",
    r"\b(?:ya\s+)?se\s+(?:envio|enviaron|remitio|remitieron|entrego|entregaron|cargo|subio)\b",
    r"\b(?:hemos|he|habiamos|ya)\s+(?:enviado|remitido|entregado|completado|cargado|subido|compartido|trasladado"
    r"|transmitido)\b",
    r"\bya\s+(?:lo|la|los|las)?\s*(?:enviamos|remitimos|entregamos|enviaron|envie|mandamos|mande)\b",
    r"\ble(?:s)?\s+(?:hago|hacemos)\s+llegar\b",
    r"\b(?:sirvase|sirvanse)\s+encontrar\b",
    r"\bencontrar[aá]n?\s+(?:adjunt|anex)",
    r"\ba\s+continuacion\s+(?:le|les)?\s*(?:remito|enviamos|remitimos|comparto|compartimos)\b",
    r"\banexamos\b|\ble(?:s)?\s+anexo\b",
)
_EXTENSION_RE = _rx(
    # English
    r"\bmore\s+time\b",
    # not the "extensión 123" of a telephone number in a signature
    r"\b(?:an?\s+)?extension\b(?!\s*(?:n[o.º°]?|number|num\.?|#|:)?\s*\d)",
    r"\bextend(?:ed|ing)?\s+(?:the\s+)?(?:deadline|due\s+date|date|term|period)\b",
    r"\b(?:additional|extra|further)\s+(?:time|days?|weeks?|months?)\b",
    r"\b(?:\d+|one|two|three|four|a\s+few|a\s+couple\s+of|few)\s+(?:more|additional|extra)\s+(?:days?|weeks?|months?)\b",
    r"\banother\s+(?:few\s+)?(?:days?|weeks?|months?)\b",
    r"\bpostpone\b",
    r"\bnew\s+(?:deadline|due\s+date)\b",
    r"\b(?:later|revised)\s+deadline\b",
    # Spanish
    r"\bprorroga\b",
    r"\b(?:plazo|tiempo)\s+(?:adicional|extra|mayor)\b",
    r"\bmas\s+tiempo\b",
    r"\b(?:extender|ampliar|extiendan|amplien|extienda|amplie|extension|ampliacion|prorrogar)\s+(?:de\s+|del\s+|el\s+)?plazo\b",
    r"\b(?:semanas?|dias?|meses?|mes)\s+(?:mas|adicionales?|extra)\b",
    r"\b(?:otra|otro|unas?\s+pocas?|unos\s+pocos)\s+(?:semanas?|dias?|mes|meses)\s+(?:mas|adicionales?)?",
    r"\b(?:posponer|aplazar|postergar|prorrogar)\b",
    r"\b(?:nueva\s+fecha|nuevo\s+plazo)\b",
)
# Said about a future action: "we will send", "la enviaremos", "next week".
_PROMISE_RE = _rx(
    r"\b(?:will|shall|going\s+to|plan\s+to|expect\s+to|intend\s+to)\s+(?:\w+\s+){0,2}(?:send|submit|share|deliver"
    r"|provide|forward|complete|finali[sz]e)\b",
    r"\b(?:i|we)'ll\s+(?:\w+\s+){0,2}(?:send|submit|share|deliver|provide|forward|complete)\b",
    r"\b(?:enviaremos|remitiremos|entregaremos|compartiremos|haremos\s+llegar|enviare|remitire|entregare|completaremos"
    r"|estar(?:e|emos)\s+(?:enviando|remitiendo|entregando|compartiendo))\b",
    r"\b(?:vamos|voy)\s+a\s+(?:enviar|remitir|entregar|compartir|completar)\b",
)
_MODAL_RE = re.compile(
    r"\b(?:to|be|must|should|will|shall|would|could|need|needs|can|may|debe|deben|debera|seran?)\s*$"
)
_FUTURE_WORDS_RE = _rx(
    r"\b(?:next\s+week|next\s+month|tomorrow|soon|later\s+this\s+week|in\s+the\s+coming\s+days)\b",
    r"\b(?:proxima\s+semana|proximo\s+mes|manana|pronto|proximos\s+dias|en\s+los\s+proximos)\b",
)
_NOT_DONE_RE = _rx(
    r"\bnot\s+yet\b",
    r"\b(?:have|has|had)\s*(?:not|n't)\s+(?:yet\s+)?(?:been\s+)?(?:sent|submitted|completed|finished|uploaded)\b",
    r"\byet\s+to\s+(?:be\s+)?(?:send|sent|submit|submitted|complete|completed|finish|finished)\b",
    r"\bno\s+(?:lo\s+|la\s+|los\s+|las\s+)?(?:hemos|he|han|ha)\s+(?:enviado|remitido|completado|terminado|podido)\b",
    r"\bstill\s+(?:working|preparing|collecting|waiting|pending|in\s+progress)\b",
    r"\b(?:is|are)\s+(?:still\s+)?in\s+progress\b",
    r"\b(?:aun|todavia)\s+no\b",
    r"\b(?:seguimos|estamos)\s+(?:trabajando|preparando|recopilando|elaborando|esperando|en\s+proceso)\b",
    r"\ben\s+proceso\s+de\b",
)
_NEGATION_RE = re.compile(
    r"\b(?:not|no|never|cannot|can't|cant|haven't|havent|hasn't|hasnt|didn't|didnt|won't|wont|unable|yet\s+to|nunca"
    r"|tampoco|ni|sin|aun\s+no|todavia\s+no)\b|n't\b"
)
_QUESTION_RE = _rx(
    r"[?¿]",
    r"\b(?:could|can|would|will)\s+you\b",
    r"\bplease\s+(?:confirm|clarify|advise|let\s+(?:me|us)\s+know|explain|indicate)\b",
    r"\b(?:i|we)\s+(?:would\s+like\s+to\s+know|wonder|have\s+a\s+question)\b",
    r"\b(?:quisiera|quisieramos|quiero|queremos)\s+(?:saber|consultar|preguntar)\b",
    r"\b(?:podrian|podria|pueden|puede|podrias)\s+(?:usted(?:es)?\s+)?(?:confirmar|indicar|aclarar|enviar|informar"
    r"|explicar|ayudar|decir)",
    r"\b(?:tengo|tenemos)\s+(?:una\s+)?(?:duda|consulta|pregunta)s?\b",
    r"\bfavor\s+(?:confirmar|indicar|aclarar|informar)\b",
)
_DATE_CUE_RE = re.compile(
    r"\b(?:until|till|by|before|on|to|through|hasta(?:\s+el)?|para\s+el|antes\s+del?|a\s+mas\s+tardar(?:\s+el)?|el)\s*$"
)
_REPLY_PREFIX_RE = re.compile(r"^\s*(?:(?:re|rv|fw|fwd|tr|aw|wg|rta|resp|res|ref|r)\s*(?:\[\d+\])?\s*:\s*)+", re.I)
_TAG_RE = re.compile(r"\[[^\]]{1,40}\]")
_CLAUSE_SPLIT_RE = re.compile(r"[.;!?\n¿¡]+|,\s*(?:but|pero|sin\s+embargo|however)\b")

#: Attachment types that are never a submission (signatures, cards, invitations).
_NON_SUBMISSION_TYPES = frozenset(
    {
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
        "application/pgp-signature",
        "application/pgp-keys",
        "text/vcard",
        "text/x-vcard",
        "text/directory",
        "text/calendar",
        "application/ms-tnef",
    }
)


def classify_intent(
    visible_text: str,
    attachments: Sequence[Attachment],
    subject: str,
    reference: date,
) -> IntentResult:
    """Classify a human reply; ``reference`` anchors "two more weeks" and dates without a year."""
    own = "\n".join(line for line in visible_text.splitlines() if not line.lstrip().startswith(">"))
    result = _classify_text(own, reference)
    if result.intent in (EXTENSION, CONFIRMATION) or (result.intent == QUESTION and own.strip()):
        return _with_attachments(result, attachments, counts=False)
    subject_text = _TAG_RE.sub(" ", _REPLY_PREFIX_RE.sub("", subject or ""))
    from_subject = _classify_text(subject_text, reference) if subject_text.strip() else IntentResult(UNKNOWN)
    if from_subject.intent in (EXTENSION, CONFIRMATION):
        signals = (*result.signals, *(f"subject:{s}" for s in from_subject.signals))
        return _with_attachments(
            IntentResult(from_subject.intent, from_subject.proposed_date, signals), attachments, counts=False
        )
    if "not_done" in result.signals:
        return _with_attachments(result, attachments, counts=False)
    return _with_attachments(result, attachments, counts=True)


def substantive_attachments(attachments: Iterable[Attachment]) -> list[Attachment]:
    """Attachments that could be a submission: not logos, signatures, contact cards or invitations."""
    out = []
    for att in attachments:
        ctype = att.content_type.lower()
        if ctype in _NON_SUBMISSION_TYPES:
            continue
        name = att.filename.lower()
        if name.endswith((".p7s", ".asc", ".sig", ".vcf", ".ics")) or name == "winmail.dat":
            continue
        if ctype.startswith("image/") and (att.inline or att.size < 20_000):
            continue
        if att.size == 0:
            continue
        out.append(att)
    return out


def _with_attachments(result: IntentResult, attachments: Sequence[Attachment], *, counts: bool) -> IntentResult:
    real = substantive_attachments(attachments)
    if not real:
        return result
    names = tuple(f"attachment:{a.filename or a.content_type}" for a in real[:5])
    if counts and result.intent in (UNKNOWN, QUESTION):
        return IntentResult(CONFIRMATION, None, (*result.signals, *names))
    return IntentResult(result.intent, result.proposed_date, (*result.signals, *names))


def _classify_text(text: str, reference: date) -> IntentResult:
    low = fold(text)
    signals: list[str] = []
    clauses = _clauses(low)

    extension = [m.group(0).strip() for m in _EXTENSION_RE.finditer(low)]
    confirmations: list[str] = []
    negated: list[str] = []
    for _start, clause in clauses:
        for m in _CONFIRMATION_RE.finditer(clause):
            phrase = m.group(0).strip()
            if _is_negated(clause, m.start(), m.end()) or _is_future(clause):
                negated.append(phrase)
            else:
                confirmations.append(phrase)
    promises = [m.group(0).strip() for m in _PROMISE_RE.finditer(low)]
    not_done = bool(_NOT_DONE_RE.search(low))
    question = bool(_QUESTION_RE.search(low))

    signals.extend(f"extension:{p}" for p in extension)
    signals.extend(f"confirmation:{p}" for p in confirmations)
    signals.extend(f"negated:{p}" for p in negated)
    signals.extend(f"promise:{p}" for p in promises)
    if not_done:
        signals.append("not_done")
    if question:
        signals.append("question")

    if extension or promises or (not_done and not confirmations):
        proposed = _proposed_date(text, low, reference, allow_period=bool(extension or promises))
        if extension or proposed is not None:
            if proposed is not None:
                signals.append(f"date:{proposed.isoformat()}")
            return IntentResult(EXTENSION, proposed, tuple(signals))
    if confirmations:
        return IntentResult(CONFIRMATION, None, tuple(signals))
    if question:
        return IntentResult(QUESTION, None, tuple(signals))
    return IntentResult(UNKNOWN, None, tuple(signals))


def _clauses(low: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    pos = 0
    for m in _CLAUSE_SPLIT_RE.finditer(low):
        out.append((pos, low[pos : m.start()]))
        pos = m.end()
    out.append((pos, low[pos:]))
    return [(start, clause) for start, clause in out if clause.strip()]


def _is_negated(clause: str, start: int, end: int) -> bool:
    """A negation among the few words before the phrase ("aún no hemos enviado", "have not been
    submitted"), a modal right before it ("to be submitted"), or "not yet" right after it."""
    before = " ".join(clause[:start].split()[-5:])
    if _NEGATION_RE.search(before) or _MODAL_RE.search(before):
        return True
    return bool(re.match(r"\s*[,:]?\s*(?:not\s+yet|todavia\s+no|aun\s+no)\b", clause[end:]))


def _is_future(clause: str) -> bool:
    return bool(_FUTURE_WORDS_RE.search(clause))


def _proposed_date(text: str, low: str, reference: date, *, allow_period: bool) -> date | None:
    """The date the sender proposes: after "until/hasta/by", else the latest future date written."""
    dates = [d for d in find_dates(text, reference, folded=low) if d.value > reference]
    cued = [d for d in dates if _DATE_CUE_RE.search(low[max(0, d.start - 25) : d.start])]
    chosen: FoundDate | None = None
    if cued:
        chosen = cued[0]
    elif dates:
        chosen = max(dates, key=lambda d: d.value)
    if chosen is not None:
        return chosen.value
    if not allow_period:
        return None
    for finder in (find_period, find_relative, find_weekday):
        found = finder(text, reference, folded=low)
        if found is not None and found.value > reference:
            return found.value
    return None
