"""Real peers on loopback for the delivery tests: an SFTP server (asyncssh) run in a thread."""

from __future__ import annotations

import asyncio
import errno
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh


@dataclass
class SftpPeer:
    port: int
    root: Path
    host_key_line: str
    client_key_file: Path
    logins: list[str] = field(default_factory=list)
    full_disk: bool = False
    fail_writes: int = 0  # drop the connection on this many writes (a flaky peer)


def _make_server(peer: SftpPeer, allowed: asyncssh.SSHKey) -> type[asyncssh.SSHServer]:
    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def public_key_auth_supported(self) -> bool:
            return True

        def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
            return username == "bob" and key.public_data == allowed.public_data

        def auth_completed(self) -> None:
            peer.logins.append("bob")

    return Server


def _make_sftp(peer: SftpPeer) -> type[asyncssh.SFTPServer]:
    class Sftp(asyncssh.SFTPServer):
        def __init__(self, chan: Any) -> None:
            super().__init__(chan, chroot=str(peer.root).encode())

        def write(self, file_obj: Any, offset: int, data: bytes) -> Any:
            if peer.full_disk:
                raise OSError(errno.ENOSPC, "No space left on device")
            if peer.fail_writes > 0:
                peer.fail_writes -= 1
                self._chan.get_connection().abort()  # type: ignore[attr-defined]
                raise OSError(errno.EIO, "connection dropped")
            return super().write(file_obj, offset, data)

    return Sftp


@contextmanager
def sftp_peer(tmp: Path) -> Iterator[SftpPeer]:
    root = tmp / "sftp-root"
    (root / "inbox").mkdir(parents=True)
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp / "client_ed25519"
    client_key.write_private_key(str(key_file))
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}
    peer = SftpPeer(0, root, host_key.export_public_key().decode().strip(), key_file)

    async def start() -> None:
        server = await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            server_factory=_make_server(peer, client_key),
            sftp_factory=_make_sftp(peer),
            allow_scp=False,
        )
        holder["server"] = server
        peer.port = server.sockets[0].getsockname()[1]
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    ready.wait(10)
    try:
        yield peer
    finally:

        async def stop() -> None:
            holder["server"].close()
            await holder["server"].wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# --- an HTTPS-push receiver (plain HTTP on 127.0.0.1), served by uvicorn in a thread -----------


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port; yields its base URL."""
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
        threading.Event().wait(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
