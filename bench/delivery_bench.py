"""Delivery throughput on loopback, against baselines measured in the same run.

    .venv/bin/python -m bench.delivery_bench [--mb 32]

SFTP push (upload, read-back SHA-256 check, rename) against a plain local file copy; HTTPS push
(age encryption, RFC 9421 signature, POST to a verifying receiver) against a plain POST of the
same bytes to the same receiver without encryption or signature.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.delivery.peers import serve_app, sftp_peer
from tests.delivery.receiver import Receiver

from ferry.crypto import httpsig
from ferry.delivery.base import Shipment
from ferry.delivery.https import HttpsChannel, HttpsConfig
from ferry.delivery.sftp import SftpChannel, SftpConfig


def timed(fn: Callable[[], object], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def shipment(path: Path, n: int) -> Shipment:
    data = path.read_bytes()
    return Shipment(
        "r" * 32,
        "bench",
        path,
        hashlib.sha256(data).hexdigest(),
        len(data),
        f"bench-{n}-{time.monotonic_ns()}.zip",
        f"key-{time.monotonic_ns()}",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        package = tmp / "package.zip"
        package.write_bytes(os.urandom(args.mb * 1024 * 1024))
        mb = args.mb
        copy_s = timed(lambda: shutil.copyfile(package, tmp / "copy.zip"))
        with sftp_peer(tmp) as peer:
            channel = SftpChannel(
                SftpConfig(
                    url=f"sftp://bob@127.0.0.1:{peer.port}/inbox",
                    host_key=peer.host_key_line,
                    key_file=str(peer.client_key_file),
                )
            )
            sftp_s = timed(lambda: channel.deliver(shipment(package, 1)))
        rcv = Receiver()
        key = httpsig.SigningKey("bench-key", Ed25519PrivateKey.generate())
        rcv.trusted[key.key_id] = key.private.public_key()
        with serve_app(rcv.app()) as base:
            push = HttpsChannel(
                HttpsConfig(url=f"{base}/inbox", age_recipient=rcv.age_recipient),
                key_source=lambda _t: key,
            )
            https_s = timed(lambda: push.deliver(shipment(package, 2)))
            plain = package.read_bytes()
            post_s = timed(lambda: httpx.post(f"{base}/plain", content=plain, timeout=60))
    print(f"package {mb} MiB (best of 3)")
    print(f"  local copy (baseline)   {copy_s:8.3f} s  {mb / copy_s:8.1f} MiB/s")
    print(
        f"  SFTP push, checked      {sftp_s:8.3f} s  {mb / sftp_s:8.1f} MiB/s"
        f"  x{sftp_s / copy_s:.1f} the copy"
    )
    print(f"  plain POST (baseline)   {post_s:8.3f} s  {mb / post_s:8.1f} MiB/s")
    print(
        f"  HTTPS push, age+signed  {https_s:8.3f} s  {mb / https_s:8.1f} MiB/s"
        f"  x{https_s / post_s:.1f} the plain POST"
    )


if __name__ == "__main__":
    main()
