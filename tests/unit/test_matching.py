from followup.inbound.matching import (
    REPLY_HEADERS,
    SENDER,
    SUBJECT_TAG,
    TOKEN,
    SentMessage,
    decide,
    narrow,
    sent_messages,
)

MERGED = SentMessage(notification_id=7, assignment_ids=(11, 12, 13))
SINGLE = SentMessage(notification_id=9, assignment_ids=(21,))


def test_token_wins_over_everything() -> None:
    m = decide(by_token=SINGLE, by_headers=MERGED, tagged=[], sender_open=[99])
    assert (m.assignment_ids, m.method, m.notification_id, m.ambiguous) == ((21,), TOKEN, 9, False)


def test_headers_when_no_token() -> None:
    m = decide(by_token=None, by_headers=SINGLE, tagged=[], sender_open=[])
    assert (m.assignment_ids, m.method) == ((21,), REPLY_HEADERS)


def test_merged_reply_names_its_items_else_all_for_review() -> None:
    named = decide(by_token=MERGED, by_headers=None, tagged=[12], sender_open=[])
    assert (named.assignment_ids, named.ambiguous) == ((12,), False)
    unnamed = decide(by_token=MERGED, by_headers=None, tagged=[], sender_open=[])
    assert (unnamed.assignment_ids, unnamed.ambiguous) == ((11, 12, 13), True)
    # A tag that is not one of the email's items does not narrow it.
    assert narrow((11, 12, 13), [99]) == ((11, 12, 13), True)


def test_subject_tag_then_sender_fallbacks() -> None:
    tag = decide(by_token=None, by_headers=None, tagged=[5, 5, 6], sender_open=[1])
    assert (tag.assignment_ids, tag.method, tag.ambiguous) == ((5, 6), SUBJECT_TAG, True)
    one = decide(by_token=None, by_headers=None, tagged=[], sender_open=[1])
    assert (one.assignment_ids, one.method) == ((1,), SENDER)
    several = decide(by_token=None, by_headers=None, tagged=[], sender_open=[1, 2])
    assert not several.matched and several.method == ""


def test_reply_to_a_digest_without_items() -> None:
    digest = SentMessage(notification_id=3, assignment_ids=())
    m = decide(by_token=digest, by_headers=None, tagged=[], sender_open=[])
    assert not m.matched and m.notification_id == 3
    tagged = decide(by_token=digest, by_headers=None, tagged=[4], sender_open=[])
    assert tagged.assignment_ids == (4,)


def test_sent_messages_groups_rows_by_message_id() -> None:
    grouped = sent_messages([(3, "<a@x>", 12), (2, "<a@x>", 11), (4, "<b@x>", None), (5, None, 1)])
    assert grouped["<a@x>"] == SentMessage(2, (11, 12))
    assert grouped["<b@x>"] == SentMessage(4, ())
    assert len(grouped) == 2


def test_subject_tags_never_narrow_a_merged_email() -> None:
    # The subject repeats the first tags of the email answered: not evidence of what was sent.
    m = decide(by_token=MERGED, by_headers=None, tagged=[], subject_tagged=[11, 12], sender_open=[])
    assert (m.assignment_ids, m.ambiguous) == ((11, 12, 13), True)
    named = decide(by_token=MERGED, by_headers=None, tagged=[], subject_tagged=[11, 12], named=[13], sender_open=[])
    assert (named.assignment_ids, named.ambiguous) == ((13,), False)
    everything = decide(by_token=MERGED, by_headers=None, tagged=[], everything=True, sender_open=[])
    assert (everything.assignment_ids, everything.ambiguous) == ((11, 12, 13), False)


def test_items_named_by_words_titles_and_attachments() -> None:
    from followup.inbound.naming import named_by_words, says_all

    titles = {
        1: ("Integration matrix", "Matriz sobre integración"),
        2: ("Common format on smuggling and trafficking cases", "Formato común sobre casos de tráfico ilícito y trata"),
        3: ("Comparative matrix of migration legislation", "Matriz comparativa de legislación migratoria"),
    }
    assert named_by_words("attached are the integration matrix and the common format", [], titles) == [1, 2]
    assert named_by_words("Adjunto la matriz.", [], titles) == []  # which matrix?
    assert named_by_words("Adjunto.", ["matriz_integracion_HN.pdf"], titles) == [1]
    assert named_by_words("Adjunto la matriz comparativa de legislación", [], titles) == [3]
    assert says_all("Adjunto todos los documentos") and says_all("attached are all of them")
    assert not says_all("Saludos a todos") and not says_all("attached is the matrix")
