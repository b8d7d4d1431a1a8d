"""A fast SMTP sink in its own process, so the server never competes with the sender for the GIL.

The sink speaks just enough ESMTP for any client (EHLO/HELO, MAIL, RCPT,
DATA, RSET, NOOP, QUIT; PIPELINING-safe because it parses a byte stream, not
one command per read), discards what it receives and counts it. aiosmtpd
would do, but it costs several times more per message than this raw
``asyncio.Protocol``, and a slow sink would make every sender look slow.

``XSTAT`` (our own command) answers ``250 <messages> <recipients> <bytes>``
so a benchmark can prove that every message it claims to have sent arrived.

``--latency SECONDS`` makes it answer the end of each message that much
later (without blocking other connections), as a relay on the other side of
the internet does: that is what the connection pool has to cover.

Run alone: ``python -m bench.sink --port 2525``. The process prints ``PORT n``
once listening and exits when its standard input closes (so it never
outlives the benchmark that started it) or on SIGTERM/SIGINT.

:class:`SinkProcess` starts it as a subprocess on a free loopback port;
:class:`PostfixSink` does the same with Postfix's ``smtp-sink`` when installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

HOST = "127.0.0.1"
POSTFIX_SMTP_SINK = "/usr/sbin/smtp-sink"
_ROOT = Path(__file__).resolve().parent.parent
_TERMINATOR = b"\r\n.\r\n"
_EHLO = b"250-bench-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 104857600\r\n"


@dataclass
class SinkStats:
    messages: int = 0
    recipients: int = 0
    bytes: int = 0


class SinkProtocol(asyncio.Protocol):
    """One SMTP session: commands line by line, DATA scanned for its terminator."""

    def __init__(self, stats: SinkStats, latency: float = 0.0) -> None:
        self.stats = stats
        self.latency = latency
        #: Waiting to answer a message (``latency``): commands that arrive meanwhile wait in the buffer.
        self.busy = False
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.in_data = False
        #: The last bytes of DATA seen, so a terminator split across reads is found.
        self.tail = b""
        self.size = 0
        self.rcpts = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 bench-sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        if self.in_data:
            self._data(data)
        else:
            self.buffer += data
            self._commands()

    def _data(self, data: bytes) -> None:
        joined = self.tail + data
        end = joined.find(_TERMINATOR)
        if end < 0:
            self.size += len(data)
            self.tail = joined[-4:]
            return
        self.size += max(0, end - len(self.tail)) + 2
        self.in_data = False
        self.stats.messages += 1
        self.stats.recipients += self.rcpts
        self.stats.bytes += self.size
        self.rcpts = 0
        self.buffer += joined[end + len(_TERMINATOR) :]
        if self.latency > 0:
            self.busy = True
            asyncio.get_running_loop().call_later(self.latency, self._queued)
            return
        self._write(b"250 2.0.0 Ok: queued\r\n")
        self._commands()

    def _queued(self) -> None:
        self.busy = False
        self._write(b"250 2.0.0 Ok: queued\r\n")
        self._commands()

    def _commands(self) -> None:
        while not self.in_data and not self.busy:
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 2]
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self._write(_EHLO if verb == b"EHLO" else b"250 bench-sink\r\n")
            elif verb == b"MAIL":
                self.rcpts = 0
                self._write(b"250 2.1.0 Ok\r\n")
            elif verb == b"RCPT":
                self.rcpts += 1
                self._write(b"250 2.1.5 Ok\r\n")
            elif verb == b"DATA":
                self._write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                self.in_data = True
                # The CRLF that ended the DATA line may be the first half of an empty message's terminator.
                self.tail = b"\r\n"
                self.size = 0
                rest, self.buffer = bytes(self.buffer), bytearray()
                if rest:
                    self._data(rest)
                return
            elif verb in (b"RSET", b"NOOP"):
                self.rcpts = 0 if verb == b"RSET" else self.rcpts
                self._write(b"250 2.0.0 Ok\r\n")
            elif verb == b"QUIT":
                self._write(b"221 2.0.0 Bye\r\n")
                if self.transport is not None:
                    self.transport.close()
                return
            elif line[:5].upper() == b"XSTAT":
                s = self.stats
                self._write(f"250 {s.messages} {s.recipients} {s.bytes}\r\n".encode("ascii"))
            else:
                self._write(b"502 5.5.2 Command not recognised\r\n")

    def _write(self, reply: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply)


async def serve(host: str, port: int, latency: float = 0.0) -> None:
    """Listen until cancelled, printing ``PORT n`` once bound."""
    stats = SinkStats()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SinkProtocol(stats, latency), host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def watch_stdin() -> None:
        # The parent holds our stdin; when it closes (or dies), we go too.
        with contextlib.suppress(OSError, ValueError):
            sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    async with server:
        await stop.wait()


def query_stats(port: int, host: str = HOST, timeout: float = 5.0) -> SinkStats:
    """Ask a running sink what it has received so far."""
    with socket.create_connection((host, port), timeout=timeout) as sock, sock.makefile("rwb") as stream:
        stream.readline()  # greeting
        stream.write(b"XSTAT\r\n")
        stream.flush()
        reply = stream.readline().decode("ascii").split()
        stream.write(b"QUIT\r\n")
        stream.flush()
    if len(reply) != 4 or reply[0] != "250":
        raise RuntimeError(f"the sink answered XSTAT with {' '.join(reply)!r}")
    return SinkStats(int(reply[1]), int(reply[2]), int(reply[3]))


@contextlib.contextmanager
def wire_commands(
    port: int, host: str = HOST, timeout: float = 5.0
) -> Iterator[tuple[Callable[[bytes], None], Callable[[], bytes]]]:
    """A raw connection to an SMTP server: ``write(bytes)`` and ``read()`` (one whole reply), greeting read."""
    with socket.create_connection((host, port), timeout=timeout) as sock, sock.makefile("rwb") as stream:

        def write(data: bytes) -> None:
            stream.write(data)
            stream.flush()

        def read() -> bytes:
            reply = b""
            while True:
                line = stream.readline()
                reply += line
                if len(line) < 4 or line[3:4] != b"-":
                    return reply

        read()
        yield write, read


class SinkProcess:
    """``python -m bench.sink`` as a subprocess on a free loopback port."""

    name = "asyncio sink (bench.sink)"
    counts = True

    def __init__(self, start_timeout: float = 15.0, latency: float = 0.0) -> None:
        self.port = 0
        self._start_timeout = start_timeout
        self.latency = latency
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.sink", "--host", HOST, "--port", "0", "--latency", str(self.latency)],
            cwd=_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        line = _readline_with_timeout(self._proc.stdout, self._start_timeout)
        if not line.startswith(b"PORT "):
            self.stop()
            raise RuntimeError(f"the SMTP sink did not start (said {line!r})")
        self.port = int(line.split()[1])
        return self

    def stats(self) -> SinkStats | None:
        return query_stats(self.port)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class PostfixSink(SinkProcess):
    """Postfix's ``smtp-sink`` (C, very fast) when it is installed; it cannot report counts."""

    name = "Postfix smtp-sink"
    counts = False

    @staticmethod
    def available() -> bool:
        return Path(POSTFIX_SMTP_SINK).is_file() or shutil.which("smtp-sink") is not None

    def start(self) -> Self:
        binary = POSTFIX_SMTP_SINK if Path(POSTFIX_SMTP_SINK).is_file() else shutil.which("smtp-sink")
        if binary is None:
            raise RuntimeError("Postfix smtp-sink is not installed")
        self.port = free_port()
        self._proc = subprocess.Popen(
            [binary, f"{HOST}:{self.port}", "1024"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self._start_timeout
        while True:
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("Postfix smtp-sink did not start") from None
                time.sleep(0.05)

    def stats(self) -> SinkStats | None:
        return None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def make_sink(kind: str) -> SinkProcess:
    """``asyncio`` (the default, needs only the venv) or ``postfix``."""
    if kind == "postfix":
        return PostfixSink()
    if kind == "asyncio":
        return SinkProcess()
    raise ValueError(f"unknown sink {kind!r}: expected asyncio or postfix")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _readline_with_timeout(stream: object, timeout: float) -> bytes:
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)  # type: ignore[attr-defined]
    reader.start()
    reader.join(timeout)
    return result[0] if result else b""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sink", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before answering each message")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.latency))


if __name__ == "__main__":
    main()
