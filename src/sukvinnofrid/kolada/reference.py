"""Reference data the publication step reads: the kommun list (dbt seed, read lazily)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..config import get_settings


@dataclass(frozen=True)
class Kommun:
    kod: str
    namn: str
    lan_kod: str


def kommuner_path() -> Path:
    return get_settings().dbt_project_dir / "seeds" / "reference" / "kommuner.csv"


def load_kommuner(path: Path | None = None) -> dict[str, Kommun] | None:
    """Kommun code -> Kommun from kommuner.csv (kommun_kod,kommun_namn,lan_kod).

    Returns None when the file does not exist (yet); callers then fall back to the first two
    digits of the kommun code as län code and to no name.
    """
    path = path or kommuner_path()
    if not path.exists():
        return None
    with path.open(encoding="utf-8-sig", newline="") as fh:
        kommuner = {}
        for row in csv.DictReader(fh):
            kod = (row.get("kommun_kod") or "").strip().zfill(4)
            if not kod.strip("0"):
                continue
            lan = (row.get("lan_kod") or "").strip()
            kommuner[kod] = Kommun(
                kod=kod,
                namn=(row.get("kommun_namn") or "").strip(),
                lan_kod=lan.zfill(2) if lan else kod[:2],
            )
    return kommuner
