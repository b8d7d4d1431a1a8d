"""Reading the receiving server's Authentication-Results (RFC 8601) about the From domain."""

from __future__ import annotations

import pytest

from followup.inbound.authresults import failures, parse

FROM = "alopez@migracion.gob.hn.example"


def test_parse_methods_results_and_properties_ignoring_comments() -> None:
    header = parse(
        "mx.ts.example (Postfix 3.7); dkim=pass (2048-bit key) header.d=migracion.gob.hn.example "
        'header.i=@migracion.gob.hn.example; spf=softfail (domain of "x" does not designate) '
        "smtp.mailfrom=alopez@migracion.gob.hn.example; dmarc=fail (p=quarantine) header.from=migracion.gob.hn.example"
    )
    assert header is not None and header.authserv_id == "mx.ts.example"
    assert [(r.method, r.result) for r in header.results] == [("dkim", "pass"), ("spf", "softfail"), ("dmarc", "fail")]
    assert header.results[2].prop("header.from") == "migracion.gob.hn.example"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["mx.ts.example; dmarc=fail header.from=migracion.gob.hn.example"], ("dmarc=fail header.from=",)),
        (["mx.ts.example; spf=fail smtp.mailfrom=bounce@migracion.gob.hn.example"], ("spf=fail domain=",)),
        (["mx.ts.example; spf=fail smtp.mailfrom=mail.gob.hn.example.lists.example"], ()),  # another domain's SPF
        (["mx.ts.example; dmarc=pass; spf=pass"], ()),
        (["mx.ts.example; none"], ()),
        (["mx.ts.example 1; spf=fail"], ("spf=fail",)),
        ([], ()),
        (["mx.ts.example; dmarc=pass", "mx.ts.example; dmarc=fail"], ()),  # only the topmost counts
        (["mx.ts.example; DMARC=FAIL (p=reject) Header.From=MIGRACION.gob.hn.example"], ("dmarc=fail header.from=",)),
        (["mx.ts.example; dmarc=fail header.from=hn.example"], ("dmarc=fail header.from=",)),  # parent domain
    ],
)
def test_failures_about_the_from_domain(headers: list[str], expected: tuple[str, ...]) -> None:
    found = failures(headers, FROM)
    assert len(found) == len(expected)
    for got, prefix in zip(found, expected, strict=True):
        assert got.startswith(prefix)


def test_configured_authserv_id_picks_our_servers_header() -> None:
    headers = ["forger.example; dmarc=pass", "mx.ts.example; dmarc=fail", "mx.ts.example; dmarc=pass"]
    assert failures(headers, FROM, "MX.ts.example") == ("dmarc=fail",)
    assert failures(headers, FROM) == ()  # the topmost, written by whoever sent it
    assert failures(["forger.example; dmarc=fail"], FROM, "mx.ts.example") == ()


def test_quoted_values_and_garbage_never_raise() -> None:
    assert failures(['mx; spf=fail smtp.mailfrom="a;b@migracion.gob.hn.example"'], FROM) != ()
    for junk in ["", ";;;", "(((", "mx; =", "mx; dmarc", '"unterminated; dmarc=fail']:
        failures([junk], FROM)
