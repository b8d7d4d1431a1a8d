"""Cut quoted text and signatures from a reply, leaving what the sender wrote.

A reply to a reminder usually carries the whole reminder below it. Intent
detection must only read the new text: the reminder itself says "submit",
"deadline" and "attached", and would make every reply look like a
confirmation.

The approach: label each line (text, blank, ``>`` quote, attribution such as
"On ... wrote:" / "El ... escribió:" / "-----Original Message-----", a
quoted-header line such as "From:" / "De:", a signature separator, a
"Enviado desde mi iPhone" line), then cut at the first attribution,
quoted-header block, signature separator or mobile footer that follows some
text of the sender's own (a mobile footer ends the reply: some phones put the
original below it without quoting). Quoted lines at the end are dropped,
quoted lines between the sender's own are kept (inline answers). When the
message opens with the quote (bottom-posting), the text after the quoted
block is the reply. Attributions wrapped over several lines (long names,
Gmail's ``<\naddress>``) and header blocks with wrapped values are
recognised as one unit. Only as many lines are labelled as it takes to be
sure of the cut: the quoted reminder below a reply is not read.
"""

from __future__ import annotations

import re

_TEXT, _EMPTY, _QUOTE, _ATTRIBUTION, _HEADER, _SIG_SEPARATOR, _MOBILE, _DELIMITER = (
    "t",
    "e",
    "q",
    "b",
    "h",
    "s",
    "m",
    "d",
)

_LEAD = r"^[ \t>*_-]*"
_TAIL = r"[ \t.:>*_-]*$"

# "On <date>, <name> wrote:" and its equivalents; the opener comes first, the verb last.
_ATTRIBUTION_PATTERNS = [
    _LEAD + r"(?:On|At)\s.{3,400}?\b(?:wrote|writes|said|says)\s*:?" + _TAIL,
    _LEAD + r"In message\s.{3,400}?\bwrites\s*:?" + _TAIL,
    _LEAD + r"El\s.{3,400}?\bescribi[óo]\s*:?" + _TAIL,
    _LEAD + r"Em\s.{3,400}?\bescreveu\s*:?" + _TAIL,
    _LEAD + r"Le\s.{3,400}?\b(?:a\s+écrit|nous\s+a\s+dit)\s*:?" + _TAIL,
    _LEAD + r"Am\s.{3,400}?\b(?:schrieb|geschrieben|schrieben\s+Sie)\b.{0,200}?:?" + _TAIL,
    _LEAD + r"Op\s.{3,400}?\b(?:schreef|het\s+volgende\s+geschreven)\b.{0,200}?:?" + _TAIL,
    _LEAD + r"(?:Il|In data)\s.{3,400}?\bha\s+scritto\s*:?" + _TAIL,
    r"^.{3,300}\bkirjoitti\s*:" + _TAIL,
    _LEAD + r"(?:Dnia|Dňa|W\s+dniu)\s.{3,400}?\bnapisał(?:\(a\))?\s*:?" + _TAIL,
    _LEAD + r"(?:Den|På|søn\.|man\.|tir\.|ons\.|tor\.|fre\.|lør\.)\s.{3,400}?\bskrev\b.{0,200}?:" + _TAIL,
    _LEAD + r"在.{3,200}?写道[：:]?" + _TAIL,
    # "<name> <address> wrote:", "<name> escribió:", "<name> schrieb am <date>:"
    r"^.{0,200}[\w.+-]+@[\w.-]+\.\w{2,}.{0,200}?\b(?:wrote|escribi[óo]|schrieb|a\s+écrit|escreveu|napisał(?:\(a\))?)\s*:"
    + _TAIL,
    r"^[^:>]{1,120}\b(?:wrote|escribi[óo]|escreveu)\s*:\s*$",
    r"^.{1,200}\b(?:wrote\s+on|schrieb\s+am)\b.{1,200}:\s*$",
    r"^.{1,120}\s+via\s+.{1,120}\s+(?:wrote|schrieb|escribió)\s*:?\s*$",
    r"^.{0,120}(?:пользователь|користувач).{0,120}(?:написал|написав|пише)[а-я()]*\s*:?" + _TAIL,
    r"^.{0,200}\d{4}.{1,120}(?:написал[а-я()]*|пише|napisał\(a\))\s*:\s*$",
    # "2016-10-24 15:36 GMT+02:00 Name <address>:" and "2013/7/20 Name <address>"
    r"^[ \t>]*(?:19|20)\d\d[-/.]\d{1,2}[-/.]\d{1,2}\b.{0,120}<[^<>@\s]+@[^<>\s]+>:?\s*$",
    r"^[ \t>]*(?:19|20)\d\d-\d\d-\d\d \d{1,2}:\d\d GMT[+-]\d\d:\d\d\b.{0,120}$",
    r"^.{0,60}\d{4}.{1,80}\s<[^<>@\s]+@[^<>@\s.]+\.[^<>\s]+>:\s*$",
    r"^[ \t>]*Posted by .{1,80} on \d{1,2}/\d{1,2}/\d{4}\s*$",
]

# Separators that introduce an original or forwarded message.
_SEPARATOR_PATTERNS = [
    r"^[ \t>*]*-{2,}[ \t]*(?:Original Message|Forwarded message|Forwarded Message|Reply Message|Mensaje original"
    r"|Mensaje reenviado|Message d'origine|Message transféré|Ursprüngliche Nachricht|Weitergeleitete Nachricht"
    r"|Originalnachricht|Oorspronkelijk bericht|Doorgestuurd bericht|Messaggio originale|Messaggio inoltrato"
    r"|Mensagem original|Mensagem encaminhada|Oryginalna wiadomość|Původní zpráva|Opprinnelig melding"
    r"|Oprindelig meddelelse|Oprindelig besked|Videresendt meddelelse"
    r"|Ursprungligt meddelande|Vidarebefordrat meddelande|Alkuperäinen viesti|原始邮件|転送メッセージ"
    r"|Исходное сообщение|Пересылаемое сообщение)[ \t]*-*[ \t*]*$",
    # Any "-----Something-----" line: the same separator in languages not listed above.
    r"^[ \t>*]*-{4,}[ \t]*[^\W\d_][\w '’.]{2,40}[ \t]*-{4,}[ \t*]*$",
    r"^[ \t>]*(?:Begin forwarded message|Inicio del mensaje reenviado|Comienzo del mensaje reenviado"
    r"|Début du message (?:transféré|réexpédié)|Anfang der weitergeleiteten Nachricht|Início da mensagem reencaminhada)"
    r"[ \t]*:",
]

_ATTRIBUTION_RE = re.compile("|".join(f"(?:{p})" for p in _ATTRIBUTION_PATTERNS + _SEPARATOR_PATTERNS), re.IGNORECASE)
# A line that may start an attribution whose verb is on a later line.
_OPENER_RE = re.compile(
    r"^[ \t>*-]*(?:On|El|Le|Am|Op|Il|Em|At|Den|Dnia|W dniu|In data|在)\s|@|<$|\d{4}",
    re.IGNORECASE,
)
# Cheap pre-checks: a line without any of these words cannot match the big patterns.
_ATTRIBUTION_HINT_WORDS = (
    "wrote",
    "writes",
    "said",
    "says",
    "escribi",
    "écrit",
    "a dit",
    "schrieb",
    "geschrieben",
    "schreef",
    "scritto",
    "escreveu",
    "napisa",
    "skrev",
    "写道",
    "kirjoitti",
    "напис",
    "пише",
    "@",
    "--",
    "forward",
    "reenviad",
    "réexpédi",
    "transféré",
    "weitergeleitet",
    "reencaminhad",
    "posted by",
)
_ISO_DATE_HINT_RE = re.compile(r"\d{4}[-/.]\d")
_OPENER_START_RE = re.compile(
    r"[ \t>*_-]*(?:On|At|In|El|Em|Le|Am|Op|Il|Dnia|Dňa|W|Den|På|søn|man|tir|ons|tor|fre|lør|Posted|19\d\d|20\d\d)\b"
    r"|[ \t>*_-]*在|.{0,120}(?:пользовател|користувач)",
    re.IGNORECASE,
)
_MOBILE_HINT_RE = re.compile(
    r"^[ \t(<]*(?:sent|enviad|obt|get\b|download|descarg|envoy|von\b|diese|inviato|enviado|sendt|skickat|fr[aå]n"
    r"|verzonden|verstuurd|from my|gesendet|從|\w+ from mobile)",
    re.IGNORECASE,
)

_FROM_WORDS = r"From|De|Von|Van|Da|Från|Fra|Od|Expéditeur|Remitente|От|发件人"
_OTHER_HEADER_WORDS = (
    r"Sent|Date|To|Cc|Bcc|Subject|Reply-To|Enviado el|Enviado|Enviada|Enviada em|Fecha|Para|CC|CCO|Asunto|Responder a"
    r"|Objet|À|Envoyé|Destinataire|Répondre à|Sujet|Copie à|Message du|Gesendet|An|Betreff|Datum|Inviato|Data|A"
    r"|Oggetto|Risposta"
    r"|Verzonden|Aan|Onderwerp|Skickat|Till|Ämne|Sendt|Til|Emne|Wysłano|Do|Temat|Assunto|Отправлено|Кому|Тема|Копия"
    r"|Дата|发送时间|收件人|主题"
)
_FROM_HEADER_RE = re.compile(rf"^[ \t>*]*(?:{_FROM_WORDS})[ \t*]*:[ \t*]*\S", re.IGNORECASE)
_HEADER_RE = re.compile(rf"^[ \t>*]*(?:{_FROM_WORDS}|{_OTHER_HEADER_WORDS})[ \t*]*:[ \t*]*\S", re.IGNORECASE)

_DELIMITER_RE = re.compile(r"^[ \t]*[-_=+~#*ᐧ—]{3,}[ \t]*$|^[ \t]*ᐧ[ \t]*$")
_SIG_SEPARATORS = frozenset({"--", "-- ", "__"})
_DELIMITER_CHARS = frozenset("-_=+~#*ᐧ—")
_DEVICE_WORDS = (
    r"iphone|ipad|ipod|android|blackberry|mobile|m[oó]vil|celular|tel[eé]fono|phone|smartphone|cell|samsung|galaxy"
    r"|huawei|xiaomi|pixel|nokia|motorola|htc|sony|lg|windows|outlook|yahoo|gmail|mail|correo|airmail|mailbox"
    r"|sparrow|tablet|device|dispositivo|ti-\d+|alcatel|oneplus|redmi|honor|oppo"
)
_MOBILE_PATTERNS = [
    # English: "Sent from my iPhone", "Sent from Outlook for iOS", "Sent via mobile", "(Sent from a phone)"
    rf"^[ \t]*[(<]*sent (?:from|via|with|by|using) (?:my |a |an )?(?:\S+ ){{0,3}}?(?:{_DEVICE_WORDS})\b.{{0,60}}$",
    r"^[ \t]*[(<]*sent (?:from|via|with|by|using) (?:my |a |an )?[\w.-]+(?: [\w.-]+){0,3}[)>.]*"
    r"(?:[ \t]*[<(]\S+[>)])?[ \t]*$",
    r"^[ \t]*\w+ from mobile[ \t]*$",
    r"^[ \t]*from my (?:iphone|ipad|android|mobile|phone|blackberry|samsung)\b.{0,20}$",
    r"^[ \t]*get (?:outlook|the outlook app) for\b.{0,120}$",
    r"^[ \t]*download (?:outlook|the outlook app) for\b.{0,120}$",
    # Spanish: "Enviado desde mi iPhone", "Enviado desde Outlook para Android", "Obtener Outlook para iOS"
    r"^[ \t]*[(<]*enviad[oa] (?:desde|con|a trav[eé]s de|por) .{1,80}$",
    r"^[ \t]*obt(?:ener|én|en) outlook para\b.{0,120}$",
    r"^[ \t]*descargue? outlook para\b.{0,120}$",
    # Others seen in the wild
    r"^[ \t]*envoyé (?:depuis|de|à partir de) (?:mon|ma|yahoo|outlook).{0,80}$",
    r"^[ \t]*von meinem .{1,60} gesendet\.?[ \t]*$",
    r"^[ \t]*gesendet (?:von|mit) (?:meinem |outlook|yahoo|gmx|web\.de).{0,80}$",
    r"^[ \t]*diese nachricht wurde von .{1,120} gesendet\.?[ \t]*$",
    r"^[ \t]*inviato da .{1,80}$",
    r"^[ \t]*enviado do meu .{1,80}$",
    r"^[ \t]*(?:sendt|skickat) fr[aå]n? min .{1,60}$",
    r"^[ \t]*från min .{1,60}$",
    r"^[ \t]*verzonden (?:met|vanaf) .{1,80}$",
    r"^[ \t]*verstuurd vanaf mijn .{1,80}$",
    r"^[ \t]*從我的 iPhone 傳送",
]
_MOBILE_RE = re.compile("|".join(f"(?:{p})" for p in _MOBILE_PATTERNS), re.IGNORECASE)
_MARKDOWN_LINK_RE = re.compile(r"\[([^\]]+)\]\([^)]+\)")

_MAX_LINES = 20_000
_CHUNK = 24
#: How far the multi-line rules (wrapped attributions, header blocks) look ahead.
_LOOKAHEAD = 12
_MAX_LINE_CHARS = 2_000


def visible_text(body: str) -> str:
    """The part of ``body`` the sender wrote: no quoted reply chain, no signature."""
    return split_reply(body)[0]


def split_reply(body: str) -> tuple[str, str]:
    """Return ``(visible, elided)``: the sender's own text and what was cut."""
    if not body or not body.strip():
        return "", ""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if len(lines) > _MAX_LINES:
        lines = lines[:_MAX_LINES]
    labels = _label(lines)
    labelled = len(labels)

    first_text = next((i for i, lab in enumerate(labels) if lab == _TEXT), None)
    if first_text is None:
        # Only quotes, markers or signatures. A quoted mail (it has an attribution or
        # headers) says nothing new; a bare quote is kept as what the sender sent.
        if any(lab in (_ATTRIBUTION, _HEADER) for lab in labels):
            return "", "\n".join(ln for ln in lines if ln.strip())
        kept = [ln for ln, lab in zip(lines, labels, strict=False) if lab in (_QUOTE, _EMPTY)]
        return "\n".join(kept).strip("\n"), ""

    start = 0
    markers = {_ATTRIBUTION, _HEADER}
    head = labels[:first_text]
    if any(lab in markers for lab in head):
        # Bottom-posting: the message opens with the quoted mail; the reply follows it.
        start = first_text
    cut = labelled
    for i in range(start, labelled):
        lab = labels[i]
        if lab in markers or lab in (_SIG_SEPARATOR, _MOBILE):
            cut = i
            break

    kept_idx = [i for i in range(start, cut) if labels[i] not in (_MOBILE, _ATTRIBUTION, _HEADER)]
    # Drop the quoted tail (the reminder we sent) and trailing separators.
    while kept_idx and labels[kept_idx[-1]] in (_QUOTE, _EMPTY, _DELIMITER):
        kept_idx.pop()
    while kept_idx and labels[kept_idx[0]] in (_EMPTY, _DELIMITER):
        kept_idx.pop(0)
    visible = "\n".join(lines[i] for i in kept_idx).strip("\n")
    kept_set = set(kept_idx)
    elided = "\n".join(lines[i] for i in range(len(lines)) if i not in kept_set and lines[i].strip())
    return visible.rstrip(), elided.strip("\n")


def _label(lines: list[str]) -> list[str]:
    """Label lines, chunk by chunk, stopping once the cut is certain.

    The quoted reminder below a reply is often longer than the reply; there
    is no need to label it. The result may thus be shorter than ``lines``.
    """
    labels: list[str] = []
    done = 0
    while len(labels) < len(lines):
        end = min(len(lines), len(labels) + _CHUNK)
        labels.extend(_classify_line(line[:_MAX_LINE_CHARS]) for line in lines[len(labels) : end])
        # Re-examine a margin before the new lines: a wrapped attribution or a
        # header block may straddle the chunk boundary.
        start = max(0, done - _LOOKAHEAD)
        _join_split_attributions(lines, labels, start)
        _mark_header_blocks(lines, labels, start)
        done = len(labels)
        if done < len(lines) and _cut_is_certain(labels):
            break
    return labels


def _cut_is_certain(labels: list[str]) -> bool:
    """Some text, then a marker far enough from the end that look-ahead cannot change it."""
    limit = len(labels) - _LOOKAHEAD
    seen_text = False
    for i in range(limit):
        lab = labels[i]
        if lab == _TEXT:
            seen_text = True
        elif seen_text and lab in (_ATTRIBUTION, _HEADER, _SIG_SEPARATOR, _MOBILE):
            return True
    return False


def _classify_line(line: str) -> str:
    stripped = line.strip()
    if not stripped:
        return _EMPTY
    if line in _SIG_SEPARATORS:
        return _SIG_SEPARATOR
    if stripped[0] in _DELIMITER_CHARS and _DELIMITER_RE.match(line):
        return _DELIMITER
    if len(stripped) < 400 and _MOBILE_HINT_RE.match(stripped):
        plain = _MARKDOWN_LINK_RE.sub(r"\1", stripped) if "](" in stripped else stripped
        if len(plain) < 160 and _MOBILE_RE.match(plain):
            return _MOBILE
    if _attribution_hint(line) and _ATTRIBUTION_RE.match(line):
        return _ATTRIBUTION
    if stripped.startswith(">"):
        return _QUOTE
    return _TEXT


def _attribution_hint(line: str) -> bool:
    """Cheap pre-check: a line without any of these cannot match the attribution patterns.

    Patterns without a colon, an address or a dashed separator all start with
    an opener word ("On", "El", "Le"...), so most lines are dismissed by the
    first test.
    """
    if not (
        ":" in line or "@" in line or "--" in line or "：" in line or " via " in line or _OPENER_START_RE.match(line)
    ):
        return False
    low = line.lower()
    if any(word in low for word in _ATTRIBUTION_HINT_WORDS):
        return True
    return ("20" in line or "19" in line) and bool(_ISO_DATE_HINT_RE.search(line))


def _join_split_attributions(lines: list[str], labels: list[str], start: int = 0) -> None:
    """Label "On ..., Name <\\naddress> wrote:" spread over up to four lines as one attribution."""
    n = len(labels)
    for i in range(start, n):
        lab = labels[i]
        if lab != _TEXT or not _OPENER_RE.search(lines[i][:_MAX_LINE_CHARS]):
            continue
        joined = lines[i].strip()
        taken = blanks = 0
        for j in range(i + 1, min(i + 7, n)):
            nxt = lines[j].strip()
            if labels[j] == _EMPTY:
                # Some clients leave a blank line inside a wrapped attribution.
                blanks += 1
                if blanks > 1:
                    break
                continue
            taken += 1
            if taken > 4:
                break
            joined = f"{joined} {nxt.lstrip('> ').strip()}"
            if len(joined) > 500:
                break
            if _ends_like_attribution(nxt) and _attribution_hint(joined) and _ATTRIBUTION_RE.match(joined):
                for k in range(i, j + 1):
                    labels[k] = _ATTRIBUTION
                break
            if labels[j] == _ATTRIBUTION:
                break


def _ends_like_attribution(line: str) -> bool:
    return line.rstrip(" -*>").endswith((":", "：", "wrote", "writes", "escribió", "geschreven")) or line.endswith(">")


def _mark_header_blocks(lines: list[str], labels: list[str], start: int = 0) -> None:
    """Label quoted header blocks ("From: / Sent: / To: / Subject:", "De: / Enviado: / Para: / Asunto:").

    A block is three or more header lines close together, allowing wrapped
    values ("Para: a@x;\\n b@y") in between, one of them naming the sender.
    """
    n = len(labels)
    i = start
    while i < n:
        if labels[i] in (_TEXT, _QUOTE) and _maybe_header(lines[i]):
            headers = [i]
            j = i + 1
            gap = 0
            while j < n and j <= i + 10:
                if labels[j] in (_TEXT, _QUOTE) and _maybe_header(lines[j]):
                    headers.append(j)
                    gap = 0
                elif labels[j] == _EMPTY:
                    if len(headers) >= 3:
                        break
                    gap += 1
                else:
                    gap += 1
                if gap > 2:
                    break
                j += 1
            if len(headers) >= 3 and _looks_like_header_block([lines[k] for k in headers]):
                for k in range(i, headers[-1] + 1):
                    if labels[k] != _EMPTY:
                        labels[k] = _HEADER
                i = headers[-1] + 1
                continue
        i += 1


def _looks_like_header_block(lines: list[str]) -> bool:
    return any(_FROM_HEADER_RE.match(line) for line in lines)


def _maybe_header(line: str) -> bool:
    head = line[:60]
    return (":" in head or "：" in head) and bool(_HEADER_RE.match(line[:_MAX_LINE_CHARS]))
