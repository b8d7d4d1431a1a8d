"""The words of the focal points' pages, in English and Spanish.

Secretariat pages are in English; an item's page and its error pages speak
the contact's language.
"""

from __future__ import annotations

from collections.abc import Mapping

STRINGS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "lang": "en",
        "item_title": "Your submission",
        "reference": "Reference",
        "owner": "Owner",
        "due": "Due",
        "what_to_send": "What to send",
        "state": "Current state",
        "received": "Already received",
        "nothing_received": "Nothing received yet.",
        "sent_heading": "I have sent it",
        "sent_help": "Attach the files here (optional) or tell us how you sent them.",
        "note": "Note (optional)",
        "files": "Files (PDF, Word, Excel, OpenDocument, CSV or ZIP; up to {size} each)",
        "sent_button": "I have sent it",
        "time_heading": "I need more time",
        "until": "Until (date)",
        "time_button": "Ask for more time",
        "question_heading": "I have a question",
        "question": "Your question",
        "question_button": "Send the question",
        "thanks_sent": "Thank you: we have recorded your submission. The Secretariat will review it.",
        "thanks_time": "Thank you: your request for more time until {date} was sent to the Secretariat.",
        "thanks_question": "Thank you: your question was sent to the Secretariat.",
        "back": "Back to the item",
        "tampered_title": "This link is not valid",
        "tampered_text": "The link may be incomplete or altered. Use the link in the latest email, or reply to it.",
        "expired_title": "This link has expired",
        "expired_text": "Links work until some time after the deadline. Please reply to the latest email instead.",
        "revoked_title": "This link no longer works",
        "revoked_text": "The item or your role may have changed. Please reply to the latest email instead.",
        "bad_form_title": "The form could not be accepted",
        "bad_form_text": "Please go back, reload the page and try again.",
        "too_large_title": "The file is too large",
        "too_large_text": "Each file may be at most {size}. Please send a smaller file or reply by email.",
        "bad_kind_title": "This kind of file is not accepted",
        "bad_kind_text": "Accepted: PDF, Word, Excel, OpenDocument, CSV or ZIP files. Not accepted: {name}.",
        "bad_date": "Please give a date after today (YYYY-MM-DD).",
        "empty_question": "Please write your question.",
        "slow_down_title": "Too many requests",
        "slow_down_text": "Please wait a minute and try again.",
        "state_pending": "open",
        "state_extended": "open (extended)",
        "state_submitted": "submitted: the Secretariat will review it",
        "state_confirmed": "confirmed by the Secretariat",
        "state_waived": "waived: nothing more is needed",
        "secretariat": "Secretariat",
    },
    "es": {
        "lang": "es",
        "item_title": "Su entrega",
        "reference": "Referencia",
        "owner": "Responsable",
        "due": "Plazo",
        "what_to_send": "Qué enviar",
        "state": "Estado actual",
        "received": "Ya recibido",
        "nothing_received": "Aún no se ha recibido nada.",
        "sent_heading": "Ya lo envié",
        "sent_help": "Adjunte aquí los archivos (opcional) o indíquenos cómo los envió.",
        "note": "Nota (opcional)",
        "files": "Archivos (PDF, Word, Excel, OpenDocument, CSV o ZIP; hasta {size} cada uno)",
        "sent_button": "Ya lo envié",
        "time_heading": "Necesito más tiempo",
        "until": "Hasta (fecha)",
        "time_button": "Solicitar prórroga",
        "question_heading": "Tengo una pregunta",
        "question": "Su pregunta",
        "question_button": "Enviar la pregunta",
        "thanks_sent": "Gracias: hemos registrado su entrega. La Secretaría la revisará.",
        "thanks_time": "Gracias: su solicitud de prórroga hasta el {date} fue enviada a la Secretaría.",
        "thanks_question": "Gracias: su pregunta fue enviada a la Secretaría.",
        "back": "Volver al compromiso",
        "tampered_title": "Este enlace no es válido",
        "tampered_text": "El enlace puede estar incompleto o alterado. Use el enlace del último correo, o respóndalo.",
        "expired_title": "Este enlace ha caducado",
        "expired_text": "Los enlaces funcionan hasta algún tiempo después del plazo. Responda al último correo.",
        "revoked_title": "Este enlace ya no funciona",
        "revoked_text": "El compromiso o su función pueden haber cambiado. Responda al último correo.",
        "bad_form_title": "No se pudo aceptar el formulario",
        "bad_form_text": "Vuelva atrás, recargue la página e inténtelo de nuevo.",
        "too_large_title": "El archivo es demasiado grande",
        "too_large_text": "Cada archivo puede tener como máximo {size}. Envíe uno más pequeño o responda por correo.",
        "bad_kind_title": "Este tipo de archivo no se acepta",
        "bad_kind_text": "Se aceptan archivos PDF, Word, Excel, OpenDocument, CSV o ZIP. No se acepta: {name}.",
        "bad_date": "Indique una fecha posterior a hoy (AAAA-MM-DD).",
        "empty_question": "Escriba su pregunta.",
        "slow_down_title": "Demasiadas solicitudes",
        "slow_down_text": "Espere un minuto e inténtelo de nuevo.",
        "state_pending": "abierto",
        "state_extended": "abierto (con prórroga)",
        "state_submitted": "entregado: la Secretaría lo revisará",
        "state_confirmed": "confirmado por la Secretaría",
        "state_waived": "dispensado: no se necesita nada más",
        "secretariat": "Secretaría",
    },
}


def strings(language: str | None) -> Mapping[str, str]:
    return STRINGS.get(language or "en", STRINGS["en"])


def language_from_header(accept_language: str) -> str:
    """``es`` when the browser prefers Spanish to English, else ``en`` (for pages that know no contact)."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("es"):
            return "es"
        if tag.startswith("en"):
            return "en"
    return "en"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB"):
        if value < 1024:
            return f"{size} bytes" if unit == "bytes" else f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.0f} GB"
