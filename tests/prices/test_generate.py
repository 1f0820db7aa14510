"""The price table generator (functions/core/prices/generate.py) on the small
offer-file fixture shipped beside it, and the committed table's own shape.

No network: the fixture stands for the public offer files `make prices` reads.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

PRICES = Path(__file__).resolve().parents[2] / "functions" / "core" / "prices"
FIXTURE_EC2 = PRICES / "fixture" / "AmazonEC2-eu-west-1.json"
FIXTURE_RDS = PRICES / "fixture" / "AmazonRDS-eu-west-1.json"

_spec = importlib.util.spec_from_file_location("generate", PRICES / "generate.py")
generate = importlib.util.module_from_spec(_spec)
sys.modules["generate"] = generate
_spec.loader.exec_module(generate)

HEADER = "# a header line kept as it is\n"
COLUMNS = "\t".join(generate.COLUMNS) + "\n"
# Rows that a regeneration of eu-west-1 must keep or replace.
OTHER_REGION = "us-east-1\tec2\tt3.medium\t-\thour\t0.0416\tsome page\t2026-07-20\n"
ORCHESTRATOR = "eu-west-1\tstepfunctions\tstandard-transition\t-\ttransition\t0.000025\tsome page\t2026-12-01\n"
STALE = "eu-west-1\tec2\tt3.nano\t-\thour\t0.5\tan older offer file\t2025-01-01\n"


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "prices.tsv"
    path.write_text(HEADER + COLUMNS + OTHER_REGION + ORCHESTRATOR + STALE, encoding="utf-8")
    return path


def rows_of(path: Path, region: str, services: tuple[str, ...] = ("ec2", "rds")) -> dict[tuple[str, str, str], str]:
    _, rows = generate.read_table(path)
    return {(r.service, r.type, r.deployment): r.usd for r in rows if r.region == region and r.service in services}


def test_the_fixture_gives_exactly_the_matching_products(table: Path) -> None:
    generate.generate("eu-west-1", str(FIXTURE_EC2), str(FIXTURE_RDS), table)
    # Left out: Windows, dedicated tenancy, an unused capacity reservation,
    # pre-installed SQL Server, bring-your-own-license, a family the table does
    # not cover (c5, db.m7g), a Local Zone, CPU credits, bare metal, a capacity
    # block, MySQL, Aurora, a Multi-AZ DB cluster, storage; and the reserved term.
    assert rows_of(table, "eu-west-1") == {
        ("ec2", "m7g.large", "-"): "0.3333",
        ("ec2", "t3.medium", "-"): "0.1111",
        ("ec2", "t4g.small", "-"): "0.0222",
        ("rds", "db.r6g.large", "multi-az"): "1.111",
        ("rds", "db.r6g.large", "single-az"): "0.5555",
        ("rds", "db.t4g.micro", "multi-az"): "0.0888",
        ("rds", "db.t4g.micro", "single-az"): "0.0444",
    }


def test_the_rows_name_their_offer_file_and_its_date(table: Path) -> None:
    fresh = generate.generate("eu-west-1", str(FIXTURE_EC2), str(FIXTURE_RDS), table)
    by_service = {r.service: r for r in fresh}
    assert by_service["ec2"].date == "2026-11-20" and by_service["rds"].date == "2026-11-21"
    assert "AmazonEC2-eu-west-1.json" in by_service["ec2"].source
    assert "publicationDate 2026-11-20T00:00:00Z" in by_service["ec2"].source
    assert all(r.unit == "hour" for r in fresh)


def test_other_regions_and_the_orchestrator_rows_are_kept_and_stale_rows_go(table: Path) -> None:
    generate.generate("eu-west-1", str(FIXTURE_EC2), str(FIXTURE_RDS), table)
    text = table.read_text(encoding="utf-8")
    assert text.startswith(HEADER + COLUMNS)
    assert OTHER_REGION in text and ORCHESTRATOR in text
    assert STALE not in text
    # Written once more from what it reads, the table does not change: sorted and canonical.
    header, rows = generate.read_table(table)
    generate.write_table(table, header, rows)
    assert table.read_text(encoding="utf-8") == text


def test_a_region_the_files_do_not_hold_is_refused(table: Path) -> None:
    before = table.read_text(encoding="utf-8")
    with pytest.raises(generate.OfferError, match="no ec2 price for ap-northeast-2"):
        generate.generate("ap-northeast-2", str(FIXTURE_EC2), str(FIXTURE_RDS), table)
    assert table.read_text(encoding="utf-8") == before


def test_two_prices_for_one_type_are_refused(tmp_path: Path, table: Path) -> None:
    offer = json.loads(FIXTURE_EC2.read_text(encoding="utf-8"))
    twin = json.loads(json.dumps(offer["products"]["FIXEC2T3MEDIUM"]).replace("FIXEC2T3MEDIUM", "FIXEC2TWIN"))
    offer["products"]["FIXEC2TWIN"] = twin
    terms = json.dumps(offer["terms"]["OnDemand"]["FIXEC2T3MEDIUM"]).replace("FIXEC2T3MEDIUM", "FIXEC2TWIN")
    offer["terms"]["OnDemand"]["FIXEC2TWIN"] = json.loads(terms.replace("0.1111000000", "0.1200000000"))
    ambiguous = tmp_path / "ec2.json"
    ambiguous.write_text(json.dumps(offer), encoding="utf-8")
    before = table.read_text(encoding="utf-8")
    with pytest.raises(generate.OfferError, match=r"t3.medium -: several prices \['0.1111', '0.12'\]"):
        generate.generate("eu-west-1", str(ambiguous), str(FIXTURE_RDS), table)
    assert table.read_text(encoding="utf-8") == before


def test_the_stream_reader_gives_what_json_load_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tiny chunk makes every value cross chunk boundaries, as in the real multi-GB file.
    monkeypatch.setattr(generate.JsonStream, "CHUNK", 7)
    with FIXTURE_RDS.open(encoding="utf-8") as stream:
        offer = generate.read_offer(stream, lambda product: True)
    whole = json.loads(FIXTURE_RDS.read_text(encoding="utf-8"))
    assert offer.products == whole["products"]
    assert offer.on_demand == whole["terms"]["OnDemand"]
    assert (offer.offer_code, offer.publication_date) == ("AmazonRDS", "2026-11-21T00:00:00Z")


def test_the_command_line_reports_a_missing_file(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = generate.main(["--region", "eu-west-1", "--ec2", "/nonexistent.json", "--rds", str(FIXTURE_RDS),
                          "--table", str(table)])
    assert code == 1
    assert "nonexistent.json" in capsys.readouterr().err


def test_the_command_line_writes_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "prices.tsv"
    shutil.copy(PRICES / "prices.tsv", table)
    code = generate.main(["--region", "eu-west-1", "--ec2", str(FIXTURE_EC2), "--rds", str(FIXTURE_RDS),
                          "--table", str(table)])
    assert code == 0
    assert "eu-west-1: 3 EC2 and 4 RDS rows" in capsys.readouterr().out
    assert rows_of(table, "eu-west-1")[("ec2", "t3.medium", "-")] == "0.1111"


# --- the committed table ---------------------------------------------------------------


def committed_rows() -> list:
    _, rows = generate.read_table(PRICES / "prices.tsv")
    return rows


def test_the_committed_table_is_canonical(tmp_path: Path) -> None:
    copy = tmp_path / "prices.tsv"
    shutil.copy(PRICES / "prices.tsv", copy)
    header, rows = generate.read_table(copy)
    generate.write_table(copy, header, rows)
    assert copy.read_text(encoding="utf-8") == (PRICES / "prices.tsv").read_text(encoding="utf-8")
    assert any("make prices REGION=" in line for line in header)


def test_every_committed_row_has_a_price_a_source_and_a_date() -> None:
    rows = committed_rows()
    assert rows
    keys = [(r.region, r.service, r.type, r.deployment) for r in rows]
    assert len(keys) == len(set(keys)), "one price per region, service, type and deployment"
    units = {"ec2": "hour", "rds": "hour", "stepfunctions": "transition", "lambda": None, "cloudwatch": "request"}
    for r in rows:
        assert float(r.usd) > 0, r
        assert r.service in units, r
        assert units[r.service] in (None, r.unit), r
        assert (r.deployment in ("single-az", "multi-az")) == (r.service == "rds"), r
        assert re.fullmatch(r"20\d\d-\d\d-\d\d", r.date), r
        assert len(r.source) > 20, r
