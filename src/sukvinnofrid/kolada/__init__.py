"""Publication of the SU-Kvinnofrid key figures to Kolada (API v3 files).

- `kpis.yaml` / `definitions.py`: KPI ids, texts, catalogue metadata, publish settings.
- `disclosure.py`: primary and secondary suppression (pure functions).
- `publish.py`: mart -> reference-data gate -> disclosure -> versioned, immutable files.
"""

from .definitions import Definitions, KpiDefinition, PublishSettings, load_definitions
from .disclosure import Cell, CellDecision, DisclosureResult, apply_disclosure
from .publish import (
    MissingPopulation,
    MissingPopulationError,
    Publication,
    PublicationError,
    ReferenceDataError,
    publish,
)

__all__ = [
    "Cell",
    "CellDecision",
    "Definitions",
    "DisclosureResult",
    "KpiDefinition",
    "MissingPopulation",
    "MissingPopulationError",
    "Publication",
    "PublicationError",
    "PublishSettings",
    "ReferenceDataError",
    "apply_disclosure",
    "load_definitions",
    "publish",
]
