"""The Maildir transport: real files, read back with the standard library's mailbox module."""

from __future__ import annotations

import asyncio
import email.policy
import mailbox
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from followup.errors import TransientDeliveryError
from followup.outbound.compose import Composer, Mailbox
from followup.outbound.render import Rendered
from followup.outbound.transports import make_transport
from followup.outbound.transports.maildir import MaildirTransport
from followup.settings import MailSettings, Settings

NOW = datetime(2026, 8, 3, 14, 0, tzinfo=UTC)
SENDER = "ts@rcm.example.org"


def compose(n: int) -> bytes:
    rendered = Rendered(
        subject=f"Recordatorio {n}", text=f"Estimada/o Ana:\nmensaje {n}\n", html=f"<p>{n}</p>", language="es"
    )
    composer = Composer(MailSettings(), secret=b"s" * 32, tag="RCM")
    return composer.compose(
        rendered, kind="reminder", to=[Mailbox("ana@example.bz", "Ana Pérez")], now=NOW, notification_id=n
    ).data


def subjects(path: Path) -> list[str]:
    box = mailbox.Maildir(path, factory=None, create=False)
    parsed = [email.message_from_bytes(box.get_bytes(key), policy=email.policy.default) for key in box.iterkeys()]
    return sorted(str(message["Subject"]) for message in parsed)


async def test_message_lands_in_new_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "var" / "maildir"  # does not exist yet
    data = compose(1)
    async with MaildirTransport(path) as transport:
        refused = await transport.send(SENDER, ["ana@example.bz", "luis@example.bz"], data)
    assert refused == {}
    assert sorted(p.name for p in path.iterdir()) == ["cur", "new", "tmp"]
    assert list((path / "tmp").iterdir()) == []
    [stored] = list((path / "new").iterdir())
    raw = stored.read_bytes()
    assert b"\r\n" not in raw
    box = mailbox.Maildir(path, create=False)
    [key] = box.keys()
    message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
    assert message["Return-Path"] == "<ts@rcm.example.org>"
    assert message.get_all("Delivered-To") == ["ana@example.bz", "luis@example.bz"]
    assert message["Subject"] == "Recordatorio 1"
    assert message["To"] == "Ana Pérez <ana@example.bz>"
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content() == "Estimada/o Ana:\nmensaje 1\n"
    # Apart from the envelope lines, the file is the message with LF line ends.
    assert raw.endswith(data.replace(b"\r\n", b"\n"))


async def test_concurrent_writers_never_collide(tmp_path: Path) -> None:
    path = tmp_path / "maildir"
    one, two = MaildirTransport(path), MaildirTransport(path, fsync=False)
    sends = [t.send(SENDER, ["ana@example.bz"], compose(n)) for n in range(30) for t in (one, two)]
    await asyncio.gather(*sends)
    assert len(subjects(path)) == 60
    assert list((path / "tmp").iterdir()) == []


def _deliver_many(path: str, start: int) -> int:
    transport = MaildirTransport(Path(path), fsync=False)
    for n in range(start, start + 20):
        transport.deliver(SENDER, ["ana@example.bz"], compose(n))
    return 20


def test_writers_in_several_processes(tmp_path: Path) -> None:
    path = tmp_path / "maildir"
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        done = list(pool.map(_deliver_many, [str(path)] * 3, [0, 20, 40]))
    assert done == [20, 20, 20]
    assert subjects(path) == sorted(f"Recordatorio {n}" for n in range(60))


async def test_maildir_removed_while_running_is_made_again(tmp_path: Path) -> None:
    path = tmp_path / "maildir"
    transport = MaildirTransport(path, fsync=False)
    await transport.send(SENDER, ["ana@example.bz"], compose(1))
    for sub in ("new", "cur", "tmp"):
        for file in (path / sub).iterdir():
            file.unlink()
        (path / sub).rmdir()
    path.rmdir()
    await transport.send(SENDER, ["ana@example.bz"], compose(2))
    assert subjects(path) == ["Recordatorio 2"]


async def test_unwritable_maildir_is_a_transient_error(tmp_path: Path) -> None:
    blocker = tmp_path / "maildir"
    blocker.write_text("a file where the maildir should be")
    transport = MaildirTransport(blocker)
    with pytest.raises(TransientDeliveryError, match="cannot write to maildir"):
        await transport.send(SENDER, ["ana@example.bz"], compose(1))


def test_default_transport_is_the_maildir(tmp_path: Path) -> None:
    transport = make_transport(Settings(mail=MailSettings(maildir=tmp_path / "md")))
    assert isinstance(transport, MaildirTransport)
    assert transport.path == tmp_path / "md"
