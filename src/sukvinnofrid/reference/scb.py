"""Refresh the population seeds from Statistics Sweden (SCB).

The only code in the package that goes to the network, and only when run explicitly
(``sukvinnofrid refresh-population``). It queries SCB's PxWeb API v1 for table BE0101N1
(folkmängd on 31 December by region, age and kön), sums ages 18 and over per kommun, kön and
year (``population_18plus.csv``, the denominator of the Kolada key figures) and every age per
kommun and year (``population_total.csv``, the size of the kommun for its size groups), marks
the fetched rows ``scb`` (the shipped ones are ``approximation``: publication refuses them unless
allowed) and rewrites the source note.

The parsing of SCB's answer is the pure function :func:`parse_pxweb_json`, testable offline.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import clear_cache, kommuner, reference_dir

API_URL = "https://api.scb.se/OV0104/v1/doris/sv/ssd/BE/BE0101/BE0101A/BefolkningNy"
CONTENTS_CODE = "BE0101N1"  # Folkmängd
ADULT_AGE = 18
AGES = [str(age) for age in range(100)] + ["100+"]
KON_FROM_SCB = {"1": "M", "2": "K"}
TIMEOUT_SECONDS = 60
FIRST_YEAR = 1968

POPULATION_FILE = "population_18plus.csv"
TOTAL_FILE = "population_total.csv"
HEADER = ("kommun_kod", "year", "kon", "population", "source")
TOTAL_HEADER = ("kommun_kod", "year", "population", "source")


class ScbError(RuntimeError):
    """SCB answered, but not with what was asked for."""


class ScbUnavailableError(ScbError):
    """SCB could not be reached (no network, DNS failure, timeout)."""


def build_query(region_codes: Sequence[str], years: Sequence[int]) -> dict:
    """The PxWeb v1 query: given kommuner, every age 0..100+, both sexes, folkmängd, years."""

    def item(code: str, values: Iterable[str]) -> dict:
        return {"code": code, "selection": {"filter": "item", "values": list(values)}}

    return {
        "query": [
            item("Region", region_codes),
            item("Alder", AGES),
            item("Kon", KON_FROM_SCB),
            item("ContentsCode", [CONTENTS_CODE]),
            item("Tid", [str(y) for y in years]),
        ],
        "response": {"format": "json"},
    }


def _age(value: str) -> int | None:
    value = value.strip().rstrip("+")
    return int(value) if value.isdigit() else None  # "tot" and the like: not an age


def _count(value: str) -> int | None:
    value = value.strip().replace(" ", "")
    return int(value) if value.lstrip("-").isdigit() else None  # "..", "." = not available


def parse_pxweb_json(payload: dict, min_age: int = ADULT_AGE) -> list[tuple[str, int, str, int]]:
    """Sum a PxWeb "json" answer into ``(kommun_kod, year, kon, population)`` rows, the
    population of ages ``min_age`` and over.

    ``payload`` is ``{"columns": [{"code": "Region", "type": "d"}, ...], "data": [{"key":
    [region, age, sex, year], "values": ["123"]}, ...]}``. The key holds one value per
    non-content column, in the order of ``columns``; the values one per content column. Ages
    below ``min_age`` and non-age totals are ignored, kön 1/2 becomes ``M``/``K``. Rows are
    sorted.
    """
    columns = payload.get("columns")
    data = payload.get("data")
    if not isinstance(columns, list) or not isinstance(data, list):
        raise ScbError("not a PxWeb json answer: 'columns' and 'data' expected")
    key_codes = [c["code"] for c in columns if c.get("type") != "c"]
    content_codes = [c["code"] for c in columns if c.get("type") == "c"]
    try:
        i_region, i_age, i_kon, i_year = (
            key_codes.index(code) for code in ("Region", "Alder", "Kon", "Tid")
        )
    except ValueError as exc:
        raise ScbError(f"PxWeb answer lacks a column: {key_codes}") from exc
    i_value = content_codes.index(CONTENTS_CODE) if CONTENTS_CODE in content_codes else 0

    sums: dict[tuple[str, int, str], int] = defaultdict(int)
    for record in data:
        key, values = record["key"], record["values"]
        age = _age(key[i_age])
        if age is None or age < min_age:
            continue
        kon = KON_FROM_SCB.get(key[i_kon])
        if kon is None:
            continue  # "1+2" totals
        count = _count(values[i_value])
        cell = (key[i_region], int(key[i_year]), kon)
        sums[cell] += count or 0
    return sorted((kommun, year, kon, n) for (kommun, year, kon), n in sums.items())


def _post_json(url: str, query: dict, timeout: float = TIMEOUT_SECONDS) -> dict:
    """POST a PxWeb query and decode the JSON answer (SCB prefixes it with a BOM)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(query).encode("utf-8"),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        raise ScbError(f"SCB answered HTTP {exc.code} for {url}: {detail}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ScbUnavailableError(
            f"cannot reach SCB at {url} ({exc}). refresh-population needs network access to "
            "api.scb.se; the shipped approximate seed is left unchanged."
        ) from exc
    try:
        return json.loads(body.decode("utf-8-sig"))
    except ValueError as exc:
        raise ScbError(f"SCB's answer is not JSON: {body[:200]!r}") from exc


def _read_rows(path: Path, header: tuple[str, ...] = HEADER) -> list[tuple]:
    """The rows of a population seed, typed (year and population as int); a seed written
    before it had a source column reads as 'approximation'."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [
            tuple(
                int(r[c]) if c in ("year", "population") else (r.get(c) or "approximation")
                for c in header
            )
            for r in csv.DictReader(f)
        ]


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _csv_text(rows: Iterable[tuple], header: tuple[str, ...] = HEADER) -> str:
    lines = [",".join(header)] + [",".join(str(value) for value in row) for row in rows]
    return "\n".join(lines) + "\n"


def source_note(
    fetched_years: Sequence[int], approximate_years: Sequence[int], day: dt.date
) -> str:
    fetched = ", ".join(str(y) for y in sorted(fetched_years))
    lines = [
        "# population_18plus.csv: source",
        "",
        "- **Source:** Statistics Sweden (SCB), Statistikdatabasen table BE0101N1",
        '  "Folkmängden efter region, civilstånd, ålder och kön. År 1968–" (subject BE0101, table',
        "  `BE0101A/BefolkningNy`, content code `BE0101N1` Folkmängd), population on 31 December.",
        "- **Contents:** `population_18plus.csv`: inhabitants aged 18 and over, per kommun (290),",
        "  kön (`K` kvinnor, `M` män) and year (ages 18, 19, …, 100+ summed);",
        "  `population_total.csv`: every inhabitant per kommun and year (the size groups).",
        f"- **Fetched from SCB on {day.isoformat()}** (PxWeb API v1, {API_URL}) by",
        f"  `sukvinnofrid refresh-population`: years {fetched} are SCB's exact figures",
        "  (source `scb` in the seeds).",
    ]
    if approximate_years:
        approx = ", ".join(str(y) for y in sorted(approximate_years))
        lines += [
            f"- **Years {approx} are still the shipped approximations** prepared offline (rounded",
            "  estimates, not SCB's figures; source `approximation`): publication refuses them",
            "  unless SUKF_ALLOW_APPROXIMATE_POPULATION is set; refresh them once SCB has",
            "  published them.",
        ]
    return "\n".join(lines) + "\n"


def refresh_population(years: list[int], out_path: Path | None = None) -> Path:
    """Fetch SCB's population for ``years`` and rewrite the adult and total population seeds
    (the total seed sits beside ``out_path``); returns the adult seed's path.

    Rows of other years already in the file are kept. Raises :class:`ScbUnavailableError`
    without a network and :class:`ScbError` if SCB's answer is incomplete; the seed is only
    rewritten once every requested year has been fetched completely.
    """
    this_year = dt.date.today().year
    years = sorted({int(y) for y in years})
    if not years:
        raise ValueError("no years to refresh")
    if years[0] < FIRST_YEAR or years[-1] >= this_year:
        raise ValueError(
            f"years must be within {FIRST_YEAR}..{this_year - 1} (31 December must have passed)"
        )
    out_path = Path(out_path) if out_path is not None else reference_dir() / POPULATION_FILE
    regions = sorted(kommuner())

    fetched: list[tuple] = []
    totals: dict[tuple[str, int], int] = {}
    for n, year in enumerate(years):  # one year per call: 290 x 101 x 2 cells, under SCB's limit
        if n:
            time.sleep(0.5)  # SCB allows 30 calls per 10 seconds
        payload = _post_json(API_URL, build_query(regions, [year]))
        rows = parse_pxweb_json(payload)
        got = {(kommun, kon) for kommun, y, kon, _ in rows if y == year}
        missing = {(k, kon) for k in regions for kon in ("K", "M")} - got
        if missing:
            raise ScbError(f"SCB's answer for {year} lacks {len(missing)} kommun/kön cells")
        fetched += [(*r, "scb") for r in rows if r[1] == year and r[0] in kommuner()]
        for kommun, y, _, count in parse_pxweb_json(payload, min_age=0):
            if y == year and kommun in kommuner():
                totals[(kommun, y)] = totals.get((kommun, y), 0) + count

    kept = [r for r in _read_rows(out_path) if r[1] not in years]
    _write_atomic(out_path, _csv_text(sorted(kept + fetched)))
    total_path = out_path.with_name(TOTAL_FILE)
    kept_totals = [r for r in _read_rows(total_path, TOTAL_HEADER) if r[1] not in years]
    _write_atomic(
        total_path,
        _csv_text(
            sorted(kept_totals + [(k, y, n, "scb") for (k, y), n in totals.items()]), TOTAL_HEADER
        ),
    )
    approximate = sorted({r[1] for r in kept if r[-1] != "scb"})
    note = out_path.with_name(f"{out_path.stem}.source.md")
    _write_atomic(note, source_note(years, approximate, dt.date.today()))
    clear_cache()
    return out_path


def main(argv: Sequence[str] | None = None) -> int:
    """``sukvinnofrid refresh-population [--years Y ...] [--out PATH]``."""
    parser = argparse.ArgumentParser(
        prog="sukvinnofrid refresh-population",
        description="Replace the adult population seed with SCB's figures (needs network).",
    )
    parser.add_argument(
        "--years", type=int, nargs="+", help="years to fetch (default: the years in the seed)"
    )
    parser.add_argument("--out", type=Path, help="seed file to rewrite (default: the shipped one)")
    args = parser.parse_args(argv)
    target = args.out or reference_dir() / POPULATION_FILE
    years = args.years or sorted({r[1] for r in _read_rows(target)})
    try:
        path = refresh_population(years, target)
    except (ScbError, ValueError) as exc:
        print(f"refresh-population: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({', '.join(map(str, years))})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
