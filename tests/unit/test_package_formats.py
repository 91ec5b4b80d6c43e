"""The full package: every format, datapackage.json, the report, golden bytes, signatures."""

from __future__ import annotations

import json
import os
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from ferry.crypto.signing import SIGNATURE_FILE, Signer, parse_public_key, public_pem
from ferry.domain.models import DatasetRows
from ferry.export.package import PackageMeta, verify_package, write_package

GOLDEN = Path(__file__).parent / "golden"
CREATED = datetime(2024, 5, 1, 13, 45, 12, tzinfo=UTC)
ALL = ("csv", "html", "ical", "json", "vcard", "xml")
META = PackageMeta(tenant="Acme <Retail> & Co", request_id="req-42", created=CREATED, formats=ALL)
KEY = Signer.from_raw(bytes(range(32)))


def datasets() -> list[DatasetRows]:
    customers = DatasetRows(
        "shop",
        "customers",
        {
            "id": "user.unique_id",
            "first_name": "user.name.first",
            "last_name": "user.name.last",
            "email": "user.contact.email",
            "score": "user.derived.identifiable.profiling",
        },
        [
            {
                "id": 1,
                "first_name": "Ana",
                "last_name": "Silva",
                "email": "ana@example.org",
                "score": Decimal("0.75"),
            },
        ],
        timestamp=None,
    )
    tickets = DatasetRows(
        "shop",
        "support_tickets",
        {
            "id": "user.content.private",
            "opened_at": "user.content.private",
            "body": "user.content.private",
        },
        [
            {
                "id": 10,
                "opened_at": datetime(2024, 3, 2, 9, 0, tzinfo=UTC),
                "body": '=HYPERLINK("http://evil")\x00 <b>bold</b>',
            },
            {"id": 11, "opened_at": date(2024, 3, 3), "body": "thanks"},
        ],
        timestamp="opened_at",
    )
    empty = DatasetRows("billing", "invoices", {"amount": "user.financial"})
    return [customers, tickets, empty]


def entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


@pytest.fixture
def package(tmp_path: Path) -> Path:
    path = tmp_path / "pkg.zip"
    write_package(path, datasets(), META, KEY)
    return path


def test_every_format_is_written_where_it_fits(package: Path) -> None:
    names = set(entries(package))
    for ext in ("json", "csv", "xml", "xsd"):
        assert f"data/shop/customers.{ext}" in names and f"data/billing/invoices.{ext}" in names
    assert "data/shop/customers.vcf" in names and "data/shop/support_tickets.vcf" not in names
    assert "data/shop/support_tickets.ics" in names and "data/shop/customers.ics" not in names
    assert {"data/index.html", "data/README.txt", "data/datapackage.json"} <= names
    assert SIGNATURE_FILE in names
    report = verify_package(package, key=KEY.public_raw)
    assert report.ok, report.problems
    assert report.signed_by == KEY.key_id


def test_datapackage_describes_every_payload_file(package: Path) -> None:
    files = entries(package)
    doc = json.loads(files["data/datapackage.json"])
    assert doc["$schema"] == "https://datapackage.org/profiles/2.0/datapackage.json"
    paths = {r["path"] for r in doc["resources"]}
    payload = {n.removeprefix("data/") for n in files if n.startswith("data/")}
    assert paths == payload - {"index.html", "README.txt", "datapackage.json"}
    assert len({r["name"] for r in doc["resources"]}) == len(doc["resources"])
    csv_res = next(r for r in doc["resources"] if r["path"] == "shop/customers.csv")
    assert csv_res["type"] == "table" and csv_res["ferry:system"] == "shop"
    fields = {f["name"]: f for f in csv_res["schema"]["fields"]}
    assert fields["id"]["type"] == "integer" and fields["score"]["type"] == "number"
    assert fields["score"]["ferry:provenance"] == "derived"
    assert fields["email"]["ferry:category"] == "user.contact.email"
    import hashlib

    for res in doc["resources"]:
        raw = files["data/" + res["path"]]
        assert (
            res["bytes"] == len(raw) and res["hash"] == "sha256:" + hashlib.sha256(raw).hexdigest()
        )


def test_report_is_self_contained_grouped_and_escaped(package: Path) -> None:
    page = entries(package)["data/index.html"].decode("utf-8")
    root = etree.fromstring(page.encode(), etree.HTMLParser())
    assert root.find(".//nav") is not None and root.find(".//main") is not None
    assert 'name="viewport"' in page and "@media print" in page
    for tag, attr in (("script", None), ("link", "href"), ("img", "src")):
        assert not root.findall(f".//{tag}"), tag
    assert "http://evil" not in page.replace("=HYPERLINK(&quot;http://evil&quot;)", "")
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "Acme &lt;Retail&gt; &amp; Co" in page
    assert page.index("From billing") < page.index("From shop")  # grouped by system
    assert "Contact details" in page and "Things you wrote or sent" in page
    assert "no records" in page


def test_without_html_the_index_is_a_guide_only(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    meta = PackageMeta(tenant="acme", request_id="r", created=CREATED, formats=("json",))
    write_package(path, datasets(), meta)
    files = entries(path)
    assert "thanks" not in files["data/index.html"].decode()
    assert "data/shop/customers.csv" not in files and SIGNATURE_FILE not in files
    report = verify_package(path)
    assert report.ok and "the package is not signed" in report.notes
    assert not verify_package(path, key=KEY.public_raw).ok


def test_golden_bytes(package: Path) -> None:
    """Same data, meta and key: the same bytes, pinned by a golden manifest and hash."""
    files = entries(package)
    import hashlib

    got = (
        files["manifest-sha256.txt"].decode()
        + files["tagmanifest-sha256.txt"].decode()
        + files[SIGNATURE_FILE].decode()
        + "package "
        + hashlib.sha256(package.read_bytes()).hexdigest()
        + "\n"
    )
    golden = GOLDEN / "package.txt"
    if os.environ.get("FERRY_UPDATE_GOLDEN") == "1":
        golden.write_text(got)
    assert got == golden.read_text()


def test_signature_detects_tampering(package: Path, tmp_path: Path) -> None:
    files = entries(package)
    other = Signer.from_raw(bytes(32))

    def rewritten(change: dict[str, bytes]) -> Path:
        out = tmp_path / f"bad{len(list(tmp_path.iterdir()))}.zip"
        with zipfile.ZipFile(out, "w") as zf:
            for name, content in files.items():
                zf.writestr(name, change.get(name, content))
        return out

    # a data file changed and every manifest rewritten to match: only the signature catches it
    import hashlib

    body = files["data/shop/customers.json"].replace(b"Ana", b"Eve")
    manifest = files["manifest-sha256.txt"].replace(
        hashlib.sha256(files["data/shop/customers.json"]).hexdigest().encode(),
        hashlib.sha256(body).hexdigest().encode(),
    )
    tag = files["tagmanifest-sha256.txt"].replace(
        hashlib.sha256(files["manifest-sha256.txt"]).hexdigest().encode(),
        hashlib.sha256(manifest).hexdigest().encode(),
    )
    forged = rewritten(
        {
            "data/shop/customers.json": body,
            "manifest-sha256.txt": manifest,
            "tagmanifest-sha256.txt": tag,
        }
    )
    problems = verify_package(forged).problems
    assert problems == [
        "signature: the signature does not match tagmanifest-sha256.txt: the package was changed"
    ]
    # re-signed by someone else: fine on its own, wrong against the company's key
    resigned = rewritten(
        {
            "data/shop/customers.json": body,
            "manifest-sha256.txt": manifest,
            "tagmanifest-sha256.txt": tag,
            SIGNATURE_FILE: other.signature_file(tag),
        }
    )
    assert verify_package(resigned).ok
    problems = verify_package(resigned, key=KEY.public_raw).problems
    assert len(problems) == 1 and "not the key you gave" in problems[0]
    # a garbled signature file
    garbled = rewritten({SIGNATURE_FILE: b"Algorithm: Ed25519\nSigned-File: x\n"})
    assert any("malformed" in p for p in verify_package(garbled).problems)


def test_public_key_forms() -> None:
    raw = KEY.public_raw
    assert parse_public_key(public_pem(raw)) == raw
    assert parse_public_key(raw.hex()) == raw
    import base64

    assert parse_public_key(base64.b64encode(raw).decode()) == raw
    with pytest.raises(ValueError, match="32 bytes"):
        parse_public_key(base64.b64encode(b"short").decode())
    with pytest.raises(ValueError):
        parse_public_key("not a key!")


@pytest.mark.parametrize("name", ["../../etc/passwd", "CON", "a\\b", "nul.txt", "..", "\x00x"])
def test_hostile_names_are_safe_in_every_format(tmp_path: Path, name: str) -> None:
    from ferry.export.verify import unsafe_reason

    data = DatasetRows(
        name,
        name,
        {"first": "user.name.first", "email": "user.contact.email", "at": None},
        [{"first": "Ana", "email": "a@b.org", "at": datetime(2024, 1, 1, tzinfo=UTC)}],
        timestamp="at",
        model="contact",
    )
    path = tmp_path / "p.zip"
    write_package(path, [data], META, KEY)
    for entry in entries(path):
        assert unsafe_reason(entry) is None, entry
        parts = entry.split("/")
        assert all(p and p not in (".", "..") for p in parts)
        assert parts[-1].split(".")[0].upper() not in {"CON", "NUL", "PRN", "AUX"}
    assert verify_package(path, key=KEY.public_raw).ok


def test_ten_megabyte_cell_in_every_format(tmp_path: Path) -> None:
    big = "é" * (5 * 2**20)  # 10 MB of UTF-8
    data = DatasetRows(
        "desk",
        "notes",
        {"body": "user.content.private", "at": None},
        [{"body": big, "at": date(2024, 1, 2)}],
        timestamp="at",
    )
    path = tmp_path / "big.zip"
    write_package(path, [data], META, KEY)
    files = entries(path)
    assert json.loads(files["data/desk/notes.json"])["rows"][0]["body"] == big
    assert big.encode() in files["data/desk/notes.csv"]
    assert big.encode() in files["data/desk/notes.xml"]
    assert len(files["data/index.html"]) < 100_000  # shortened in the readable report
    assert verify_package(path, key=KEY.public_raw).ok


@pytest.mark.parametrize("system", ["Tienda Luís", "lone \ud800 surrogate"])
def test_datapackage_json_keeps_odd_names_readable(tmp_path: Path, system: str) -> None:
    """Real characters where UTF-8 can hold them; a lone surrogate (no UTF-8 form) as a
    ``\\u`` escape: either way the file is valid JSON giving back the name."""
    data = DatasetRows(system, "clientes", {"nombre": "user.name"}, [{"nombre": "Ana"}])
    path = tmp_path / "p.zip"
    write_package(path, [data], META)
    raw = entries(path)["data/datapackage.json"]
    doc = json.loads(raw)
    assert doc["resources"][0]["ferry:system"] == system
    assert ("Luís".encode() in raw) == ("Luís" in system)
    assert verify_package(path).ok
