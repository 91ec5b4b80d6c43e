"""The transfer interface on the command line: recipient add, submit --recipient, deliver."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ferry.cli.main import app
from ferry.services import jobs
from tests.delivery.peers import SftpPeer, sftp_peer

runner = CliRunner()


def ferry(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_transfer_by_cli_end_to_end(shop: str, tmp_path: Path) -> None:
    with sftp_peer(tmp_path) as peer:
        _run(shop, peer)


def _run(shop: str, peer: SftpPeer) -> None:
    code, out = ferry(
        "recipient",
        "add",
        "acme",
        "bank",
        "--sftp",
        f"sftp://bob@127.0.0.1:{peer.port}/inbox",
        "--host-key",
        peer.host_key_line,
        "--key-file",
        str(peer.client_key_file),
        "--country",
        "fr",
    )
    assert code == 0, out
    code, out = ferry("recipient", "list", "acme", "--json")
    assert json.loads(out)[0]["country"] == "FR"
    code, out = ferry(
        "request",
        "submit",
        "acme",
        "--kind",
        "transfer",
        "--identity",
        f"email={shop}",
        "--jurisdiction",
        "EU-FR",
        "--recipient",
        "bank",
        "--json",
    )
    assert code == 0, out
    rid = json.loads(out)["id"]
    assert ferry("request", "verify", rid, "--method", "agent", "--note", "called back")[0] == 0
    assert ferry("request", "run", rid)[0] == 0
    jobs.shutdown(wait=True)
    code, out = ferry("request", "deliver", rid, "--json")
    assert code == 0, out
    answer = json.loads(out)
    assert answer["state"] == "delivered" and answer["attempts"] == 1
    assert len(list((peer.root / "inbox").iterdir())) == 1


def test_cli_refuses_bad_input(shop: str) -> None:
    code, out = ferry("recipient", "add", "acme", "x", "--https", "https://r.example/in")
    assert code == 1 and "--age-recipient" in out
    code, out = ferry("recipient", "add", "acme", "x")
    assert code == 1 and "exactly one" in out
    code, out = ferry(
        "request",
        "submit",
        "acme",
        "--kind",
        "transfer",
        "--identity",
        f"email={shop}",
        "--recipient",
        "nobody",
    )
    assert code == 1 and "no recipient 'nobody'" in out
    assert json.loads(ferry("request", "list", "acme", "--json")[1]) == []  # nothing half-made
    code, out = ferry("tenant", "delivery", "acme", "--max-downloads", "0")
    assert code == 1
    code, out = ferry("tenant", "delivery", "acme", "--retention-days", "14", "--json")
    assert code == 0 and json.loads(out)["retention_days"] == 14
    code, out = ferry("package", "purge", "--json")
    assert code == 0 and json.loads(out) == []
