#!/usr/bin/env python3
"""Regenerate one region's rows of the price table from the AWS Price List offer files.

    python3 functions/core/prices/generate.py --region ap-northeast-2
    python3 functions/core/prices/generate.py --region eu-west-1 \
        --ec2 /tmp/ec2-eu-west-1.json --rds /tmp/rds-eu-west-1.json

`make prices REGION=...` runs the first form: it downloads the region's public
offer files (no credentials needed; the EC2 one is large, it is read as a
stream) and rewrites the rows of that region for the EC2 and RDS types below
in `prices.tsv`, which `functions/core/src/cost.rs` compiles in. Every other
row (other regions, the orchestrator's own prices) is kept as it is.

Only the standard library: this runs on a bare Python 3.11.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

HERE = Path(__file__).resolve().parent
TABLE_PATH = HERE / "prices.tsv"
OFFER_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/{offer}/current/{region}/index.json"

# The families the table covers; a type outside them is left to PRICE_OVERRIDES.
EC2_FAMILIES = ("t3", "t4g", "m5", "m6g", "m7g")
RDS_FAMILIES = ("db.t3", "db.t4g", "db.m5", "db.m6g", "db.r6g")

# One on-demand hour of a Linux instance on shared hardware, as EC2 bills the
# worker: no pre-installed software, not a capacity reservation's unused slot.
EC2_MATCH = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
}
# RDS for PostgreSQL (not Aurora); "Multi-AZ (readable standbys)" is a Multi-AZ
# DB cluster, another product.
RDS_ENGINE = "PostgreSQL"
RDS_DEPLOYMENTS = {"Single-AZ": "single-az", "Multi-AZ": "multi-az"}

COLUMNS = ("region", "service", "type", "deployment", "unit", "usd", "source", "date")
GENERATED_SERVICES = ("ec2", "rds")


class OfferError(Exception):
    """The offer file is not what this script understands; nothing is written."""


@dataclass(frozen=True, order=True)
class Row:
    region: str
    service: str
    type: str
    deployment: str
    unit: str
    usd: str
    source: str
    date: str

    def line(self) -> str:
        return "\t".join(getattr(self, c) for c in COLUMNS)


# --- reading a large JSON offer file as a stream ------------------------------------


class JsonStream:
    """Reads one JSON document piece by piece: the keys of an object, and each of
    its values either whole (`value`) or opened in turn (`members`), so the EC2
    offer file (gigabytes) never has to fit in memory."""

    CHUNK = 1 << 20

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.buffer = ""
        self.pos = 0
        self.eof = False
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(self.CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buffer = self.buffer[self.pos:] + chunk
        self.pos = 0
        return True

    def _peek(self) -> str:
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._fill():
                raise OfferError("the offer file ends too early")

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            raise OfferError(f"expected {char!r} at character {self.pos} of the current piece, found {self._peek()!r}")
        self.pos += 1

    def value(self) -> Any:
        """The next whole JSON value."""
        self._peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError:
                if self._fill():
                    continue
                raise OfferError("the offer file holds malformed JSON") from None
            # A number can stop at the end of the buffer while it goes on in the next chunk.
            if end == len(self.buffer) and not self.eof and self._fill():
                continue
            self.pos = end
            return value

    def members(self) -> Iterator[str]:
        """The keys of the object that comes next; after each key the caller reads
        its value (`value`) or opens it (`members`) before asking for the next."""
        self._expect("{")
        if self._peek() == "}":
            self.pos += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise OfferError("an object key is not a string")
            self._expect(":")
            yield key
            if self._peek() == ",":
                self.pos += 1
                continue
            self._expect("}")
            return


# --- picking the prices ---------------------------------------------------------------


@dataclass
class Offer:
    offer_code: str
    publication_date: str
    products: dict[str, dict[str, Any]]
    on_demand: dict[str, dict[str, Any]]


def read_offer(stream: TextIO, wanted: Any) -> Offer:
    """The offer file's header, the products `wanted(product)` accepts, and the
    OnDemand terms of those products (the Reserved terms are skipped unread)."""
    reader = JsonStream(stream)
    header: dict[str, Any] = {}
    products: dict[str, dict[str, Any]] = {}
    on_demand: dict[str, dict[str, Any]] = {}
    products_read = False
    for key in reader.members():
        if key == "products":
            for sku in reader.members():
                product = reader.value()
                if wanted(product):
                    products[sku] = product
            products_read = True
        elif key == "terms":
            for term_type in reader.members():
                for sku in reader.members():
                    terms = reader.value()
                    # Terms before products (the format does not fix the order): keep them all until then.
                    if term_type == "OnDemand" and (sku in products or not products_read):
                        on_demand[sku] = terms
        else:
            header[key] = reader.value()
    for required in ("offerCode", "publicationDate"):
        if required not in header:
            raise OfferError(f"the offer file has no {required}")
    return Offer(header["offerCode"], header["publicationDate"], products,
                 {sku: t for sku, t in on_demand.items() if sku in products})


def hourly_usd(offer: Offer, sku: str) -> str:
    """The one USD price per hour of a product's OnDemand term."""
    dimensions = [d for term in offer.on_demand.get(sku, {}).values()
                  for d in term.get("priceDimensions", {}).values()]
    if len(dimensions) != 1:
        raise OfferError(f"SKU {sku}: expected one OnDemand price dimension, found {len(dimensions)}")
    dimension = dimensions[0]
    if dimension.get("unit") != "Hrs":
        raise OfferError(f"SKU {sku}: the price is per {dimension.get('unit')!r}, not per hour (Hrs)")
    usd = dimension.get("pricePerUnit", {}).get("USD")
    if usd is None:
        raise OfferError(f"SKU {sku}: no USD price")
    return f"{float(usd):.10f}".rstrip("0").rstrip(".")


def in_families(instance_type: str, families: tuple[str, ...]) -> bool:
    return instance_type.rsplit(".", 1)[0] in families


def _attributes(product: dict[str, Any]) -> dict[str, str]:
    return product.get("attributes", {}) or {}


def wants_ec2(region: str):
    def wanted(product: dict[str, Any]) -> bool:
        a = _attributes(product)
        return (product.get("productFamily") == "Compute Instance"
                and a.get("regionCode") == region
                and a.get("locationType", "AWS Region") == "AWS Region"
                and a.get("marketoption", "OnDemand") == "OnDemand"
                and all(a.get(k) == v for k, v in EC2_MATCH.items())
                and in_families(a.get("instanceType", ""), EC2_FAMILIES))
    return wanted


def wants_rds(region: str):
    def wanted(product: dict[str, Any]) -> bool:
        a = _attributes(product)
        return (product.get("productFamily") == "Database Instance"
                and a.get("regionCode") == region
                and a.get("locationType", "AWS Region") == "AWS Region"
                and a.get("databaseEngine") == RDS_ENGINE
                and a.get("deploymentOption") in RDS_DEPLOYMENTS
                and in_families(a.get("instanceType", ""), RDS_FAMILIES))
    return wanted


def rows_from_offer(offer: Offer, region: str, service: str, source: str) -> list[Row]:
    """One row per type (and deployment); two SKUs with different prices for the
    same row make the file ambiguous, and nothing is written."""
    prices: dict[tuple[str, str], set[str]] = {}
    for sku, product in offer.products.items():
        a = _attributes(product)
        deployment = RDS_DEPLOYMENTS[a["deploymentOption"]] if service == "rds" else "-"
        prices.setdefault((a["instanceType"], deployment), set()).add(hourly_usd(offer, sku))
    date = offer.publication_date[:10]
    described = f"{source} (AWS Price List {offer.offer_code}, publicationDate {offer.publication_date})"
    rows = []
    for (instance_type, deployment), usd in sorted(prices.items()):
        if len(usd) > 1:
            raise OfferError(f"{instance_type} {deployment}: several prices {sorted(usd)}; refusing to guess")
        rows.append(Row(region, service, instance_type, deployment, "hour", usd.pop(), described, date))
    if not rows:
        raise OfferError(f"no {service} price for {region} in the offer file: wrong region or file?")
    return rows


# --- the table -------------------------------------------------------------------------


def read_table(path: Path) -> tuple[list[str], list[Row]]:
    """The header comment lines and the rows."""
    header: list[str] = []
    rows: list[Row] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("#") or not line.strip():
            if not rows:
                header.append(line)
            continue
        fields = line.split("\t")
        if fields == list(COLUMNS):
            continue
        if len(fields) != len(COLUMNS):
            raise OfferError(f"{path}:{number}: expected {len(COLUMNS)} tab-separated fields, found {len(fields)}")
        rows.append(Row(*fields))
    return header, rows


def write_table(path: Path, header: list[str], rows: list[Row]) -> None:
    text = "\n".join([*header, "\t".join(COLUMNS), *(r.line() for r in sorted(set(rows)))]) + "\n"
    path.write_text(text, encoding="utf-8")


def replace_region(rows: list[Row], region: str, fresh: list[Row]) -> list[Row]:
    services = {r.service for r in fresh}
    return [r for r in rows if not (r.region == region and r.service in services)] + fresh


# --- command line ----------------------------------------------------------------------


def open_source(location: str) -> tuple[TextIO, str]:
    """A path or an http(s) URL, as text, with the name the table records."""
    if location.startswith(("https://", "http://")):
        response: BinaryIO = urllib.request.urlopen(location, timeout=120)  # noqa: S310 (the public offer files)
        return io.TextIOWrapper(response, encoding="utf-8"), location
    path = Path(location)
    return path.open(encoding="utf-8"), path.name


def generate(region: str, ec2: str, rds: str, table: Path) -> list[Row]:
    fresh: list[Row] = []
    for service, location, wanted in (("ec2", ec2, wants_ec2(region)), ("rds", rds, wants_rds(region))):
        stream, name = open_source(location)
        with stream:
            offer = read_offer(stream, wanted)
        fresh += rows_from_offer(offer, region, service, name)
    header, rows = read_table(table)
    write_table(table, header, replace_region(rows, region, fresh))
    return fresh


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", required=True, help="AWS region code, e.g. ap-northeast-2")
    parser.add_argument("--ec2", help="AmazonEC2 offer file (path or URL); default: the public one for the region")
    parser.add_argument("--rds", help="AmazonRDS offer file (path or URL); default: the public one for the region")
    parser.add_argument("--table", type=Path, default=TABLE_PATH, help=f"the table to update (default {TABLE_PATH})")
    args = parser.parse_args(argv)
    ec2 = args.ec2 or OFFER_URL.format(offer="AmazonEC2", region=args.region)
    rds = args.rds or OFFER_URL.format(offer="AmazonRDS", region=args.region)
    try:
        fresh = generate(args.region, ec2, rds, args.table)
    except (OfferError, OSError) as error:
        print(f"prices: {error}", file=sys.stderr)
        return 1
    counts = {s: sum(1 for r in fresh if r.service == s) for s in GENERATED_SERVICES}
    print(f"prices: {args.region}: {counts['ec2']} EC2 and {counts['rds']} RDS rows written to {args.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
