"""The KPI definition file `kpis.yaml`: Kolada ids, texts, catalogue metadata, publish settings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..catalogue.figures import load_figures
from ..config import get_settings

DEFINITIONS_PATH = Path(__file__).with_name("kpis.yaml")

GENDERS = ("T", "K", "M")
AGGREGATE_LEVELS = ("lan", "riket", "storleksgrupp", "befolkningsgrupp")

# Catalogue fields of a Kolada v3 KPI, in the order of the v3 documentation.
CATALOGUE_FIELDS = (
    "id",
    "title",
    "description",
    "is_divided_by_gender",
    "municipality_type",
    "auspice",
    "operating_area",
    "perspective",
    "prel_publication_date",
    "publication_date",
    "publ_period",
    "has_ou_data",
)
_PIPELINE_FIELDS = ("figure", "published_genders")
_KPI_ID = re.compile(r"^[NU]\d{5}$")


class DefinitionError(ValueError):
    """kpis.yaml is malformed."""


def _year_basis(figure: str, kpi_id: str, where: str) -> dict[str, Any]:
    """Which date puts a case of the KPI's figure in a year: the figure catalogue's."""
    try:
        kolada = load_figures().kolada_figure(figure)
    except KeyError:
        raise DefinitionError(f"{where}: figure {figure} is not in the figure catalogue") from None
    if kolada.kpi != kpi_id:
        raise DefinitionError(f"{where}: the figure catalogue gives {figure} KPI {kolada.kpi}")
    return {"variable": kolada.year_date, "suv": kolada.year_suv}


@dataclass(frozen=True)
class KpiDefinition:
    id: str
    figure: str
    title: str
    description: str
    year_basis: dict[str, Any]
    published_genders: tuple[str, ...]
    catalogue: dict[str, Any]  # every CATALOGUE_FIELDS key, description already filled in

    def catalogue_entry(self) -> dict[str, Any]:
        return {field: self.catalogue[field] for field in CATALOGUE_FIELDS}


@dataclass(frozen=True)
class PublishSettings:
    min_count: int
    withheld_status: str
    not_covered_status: str
    decimals: int
    complete_years_only: bool
    aggregate_levels: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "min_count": self.min_count,
            "withheld_status": self.withheld_status,
            "not_covered_status": self.not_covered_status,
            "decimals": self.decimals,
            "complete_years_only": self.complete_years_only,
            "aggregate_levels": list(self.aggregate_levels),
        }


@dataclass(frozen=True)
class Definitions:
    settings: PublishSettings
    kpis: tuple[KpiDefinition, ...]

    def by_figure(self) -> dict[str, KpiDefinition]:
        return {kpi.figure: kpi for kpi in self.kpis}


def _clean_text(text: Any, where: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise DefinitionError(f"{where}: a non-empty text is required")
    return " ".join(text.split())


def load_definitions(path: Path | None = None) -> Definitions:
    """Read and check kpis.yaml (or another file of the same form)."""
    path = path or DEFINITIONS_PATH
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    raw_settings = doc.get("settings") or {}

    min_count = raw_settings.get("min_count")
    if min_count is None:
        min_count = get_settings().min_publish_count
    if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 1:
        raise DefinitionError(f"settings.min_count must be a positive integer, got {min_count!r}")
    withheld_status = raw_settings.get("withheld_status", "..")
    if not isinstance(withheld_status, str) or not withheld_status:
        raise DefinitionError("settings.withheld_status must be a non-empty text")
    not_covered_status = raw_settings.get("not_covered_status", "-")
    if (
        not isinstance(not_covered_status, str)
        or not not_covered_status
        or not_covered_status == withheld_status
    ):
        raise DefinitionError(
            "settings.not_covered_status must be a non-empty text other than withheld_status"
        )
    decimals = raw_settings.get("decimals", 1)
    if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 6:
        raise DefinitionError(f"settings.decimals must be an integer 0..6, got {decimals!r}")
    levels = tuple(raw_settings.get("aggregate_levels", AGGREGATE_LEVELS))
    if any(level not in AGGREGATE_LEVELS for level in levels):
        raise DefinitionError(f"settings.aggregate_levels must be among {AGGREGATE_LEVELS}")
    settings = PublishSettings(
        min_count=min_count,
        withheld_status=withheld_status,
        not_covered_status=not_covered_status,
        decimals=decimals,
        complete_years_only=bool(raw_settings.get("complete_years_only", True)),
        aggregate_levels=levels,
    )

    kpis: list[KpiDefinition] = []
    for i, entry in enumerate(doc.get("kpis") or []):
        where = f"{path.name}: kpis[{i}]"
        missing = [f for f in CATALOGUE_FIELDS + _PIPELINE_FIELDS if f not in entry]
        if missing:
            raise DefinitionError(f"{where}: missing {', '.join(missing)}")
        kpi_id = entry["id"]
        if not isinstance(kpi_id, str) or not _KPI_ID.match(kpi_id):
            raise DefinitionError(f"{where}: id {kpi_id!r} is not a Kolada KPI id (e.g. U30750)")
        genders = tuple(entry["published_genders"] or ())
        if (
            not genders
            or any(g not in GENDERS for g in genders)
            or len(set(genders)) != len(genders)
        ):
            raise DefinitionError(
                f"{where}: published_genders must be a non-empty subset of T, K, M"
            )
        if entry["is_divided_by_gender"] != (genders != ("T",)):
            raise DefinitionError(
                f"{where}: is_divided_by_gender must be true exactly when K or M is published"
            )
        catalogue = {field: entry[field] for field in CATALOGUE_FIELDS}
        catalogue["title"] = _clean_text(entry["title"], f"{where}.title")
        catalogue["description"] = _clean_text(
            entry["description"], f"{where}.description"
        ).replace("{min_count}", str(min_count))
        catalogue["publ_period"] = str(entry["publ_period"])
        for field in ("is_divided_by_gender", "has_ou_data"):
            if not isinstance(entry[field], bool):
                raise DefinitionError(f"{where}.{field} must be true or false")
        kpis.append(
            KpiDefinition(
                id=kpi_id,
                figure=str(entry["figure"]),
                title=catalogue["title"],
                description=catalogue["description"],
                year_basis=_year_basis(str(entry["figure"]), kpi_id, where),
                published_genders=genders,
                catalogue=catalogue,
            )
        )
    if not kpis:
        raise DefinitionError(f"{path.name}: no KPIs defined")
    for attr in ("id", "figure"):
        values = [getattr(k, attr) for k in kpis]
        if len(set(values)) != len(values):
            raise DefinitionError(f"{path.name}: duplicate KPI {attr}")
    return Definitions(settings=settings, kpis=tuple(sorted(kpis, key=lambda k: k.id)))
