"""device requests: only the datasets the map marks as device data, exported as ferry-device/1
(validated against the shipped JSON Schema)."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path

import jsonschema
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ferry.app import create_app
from ferry.cli.main import app as cli
from ferry.domain.errors import FerryError
from ferry.domain.models import Identity
from ferry.export.device import schema
from ferry.services import collection, device, requests, systems, tenants, verification

MAP = """
system: watch
datasets:
  users:
    table: users
    primary_key: id
    identities: {email: email}
    fields: {id: user.unique_id, email: user.contact.email}
  settings:
    table: settings
    primary_key: id
    device: settings
    references: [{field: user_id, to: users.id}]
    fields: {id: system.operations, user_id: user.unique_id, theme: user.device.settings,
             language: user.device.settings}
  activity:
    table: activity
    primary_key: id
    device: activity
    timestamp: at
    references: [{field: user_id, to: users.id}]
    fields: {id: system.operations, user_id: user.unique_id, at: user.behavior,
             steps: user.behavior}
"""


@pytest.fixture
def watch(ferry_env: Path) -> str:
    db = ferry_env / "watch.db"
    con = sqlite3.connect(db)
    con.executescript("""
        create table users(id integer primary key, email text);
        create table settings(id integer primary key, user_id int, theme text, language text);
        create table activity(id integer primary key, user_id int, at text, steps int);
        insert into users values (1, 'ana@example.org'), (2, 'bo@example.org');
        insert into settings values (1, 1, 'dark', 'de'), (2, 2, 'light', 'en');
        insert into activity values (1, 1, '2026-11-01T07:00:00', 4200),
                                    (2, 1, '2026-11-02T07:00:00', 5100),
                                    (3, 2, '2026-11-02T08:00:00', 10);
    """)
    con.commit()
    con.close()
    tenants.create_tenant("fit", "Fit Ltd", ["EU-DE"])
    systems.add_system("fit", "watch", f"sqlite:///{db}", MAP)
    view = requests.submit("fit", "device", [Identity.parse("email", "ana@example.org")])
    verification.attest(view.id, "tester", "called the person back")
    assert collection.run(view.id, "agent").state == "ready"
    return view.id


def test_device_package_and_export(watch: str) -> None:
    shown = requests.show(watch)
    with zipfile.ZipFile(Path(requests_path(watch))) as zf:
        names = [n for n in zf.namelist() if n.count("/") == 2 and n.endswith(".json")]
    assert sorted(names) == ["data/watch/activity.json", "data/watch/settings.json"]
    doc = device.export(watch, "agent")
    jsonschema.validate(doc, schema())
    assert doc["format"] == "ferry-device/1"
    assert [s["values"]["theme"] for s in doc["settings"]] == ["dark"]
    assert [a["at"] for a in doc["activity"]] == ["2026-11-01T07:00:00", "2026-11-02T07:00:00"]
    assert doc["activity"][0]["categories"]["steps"] == "user.behavior"
    assert "bo@example.org" not in json.dumps(doc) and "light" not in json.dumps(doc)
    assert shown.package is not None


def requests_path(request_id: str) -> str:
    """The package as the person receives it (the stored copy is encrypted at rest)."""
    from ferry.services import packages
    from ferry.settings import get_settings

    dest = get_settings().var_dir / f"{request_id}-plain.zip"
    return str(packages.fetch(request_id, dest, "test"))


def test_device_export_by_api_and_cli(watch: str, tmp_path: Path) -> None:
    key = tenants.create_api_key("fit", "app")
    with TestClient(create_app()) as client:
        got = client.get(
            f"/api/v1/requests/{watch}/device.json", headers={"Authorization": f"Bearer {key}"}
        )
        assert got.status_code == 200 and got.json()["format"] == "ferry-device/1"
    out = tmp_path / "device.json"
    result = CliRunner().invoke(cli, ["package", "device", watch, "-o", str(out)])
    assert result.exit_code == 0, result.output
    jsonschema.validate(json.loads(out.read_text()), schema())


def test_schema_rejects_a_malformed_document() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"format": "ferry-device/1", "settings": "nope"}, schema())


def test_no_device_datasets_is_a_clear_error(shop: str) -> None:
    view = requests.submit("acme", "device", [Identity.parse("email", shop)], jurisdiction="GB")
    verification.attest(view.id, "tester", "called the person back")
    collection.run(view.id, "agent")
    with pytest.raises(FerryError) as err:
        device.export(view.id, "agent")
    assert err.value.code == "no_device_data"
