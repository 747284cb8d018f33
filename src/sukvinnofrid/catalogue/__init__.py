"""The variable catalogue: the 29 common variables and the wide upload layout derived from them.

Everything that depends on the variables (reader, raw table, quality suites, dbt seeds, upload
template, docs) asks this module instead of repeating names or codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources

import yaml

VARIABLE_TYPES = {"date", "code", "codes", "integer", "text", "kommun", "risk_assessments"}
REQUIREMENTS = {"key", "always", "closed", "never"}


@dataclass(frozen=True)
class Variable:
    suv: int
    key: str
    name: str
    question: str
    phase: str
    type: str
    required: str
    codes: dict[int, str] = field(default_factory=dict)
    has_comment: bool = False
    project_specific: bool = False
    identifier: bool = False
    min: int | None = None
    max: int | None = None
    out_of_scope_below: int | None = None  # a smaller value means the row is not a case in scope
    extra: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How a kommun sees the variable in feedback: 'Kön (14)'."""
        return f"{self.name} ({self.suv})"

    @property
    def column(self) -> str:
        """The base column name: v14_kon."""
        return f"v{self.suv}_{self.key}"


@dataclass(frozen=True)
class Column:
    """One column of the wide upload layout."""

    name: str
    suv: int
    kind: str  # value | choice | comment | risk_time_point | risk_instrument | risk_score
    code: int | None = None  # the answer code a 'choice' column marks
    slot: int | None = None  # the assessment slot of a risk column


@dataclass(frozen=True)
class Catalogue:
    variables: tuple[Variable, ...]
    phases: dict[str, str]  # phase key -> Swedish name, in case order
    phase_triggers: dict[str, tuple[str, ...]]  # phase -> keys of the variables that open it
    # phase -> the date that, when before the key date, means the phase is not reached
    phase_not_before_key: dict[str, str]
    earliest_date: str  # ÅÅÅÅ-MM-DD: no date of a case is earlier

    def variable(self, suv: int) -> Variable:
        for variable in self.variables:
            if variable.suv == suv:
                return variable
        raise KeyError(f"no variable with SUV number {suv}")

    def by_key(self, key: str) -> Variable:
        for variable in self.variables:
            if variable.key == key:
                return variable
        raise KeyError(f"no variable with key {key!r}")

    # Computed once per catalogue: the rule builders ask for them thousands of times.
    @cached_property
    def columns(self) -> tuple[Column, ...]:
        return tuple(c for v in self.variables for c in _variable_columns(v))

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @cached_property
    def _columns_by_suv(self) -> dict[int, tuple[Column, ...]]:
        return {v.suv: tuple(c for c in self.columns if c.suv == v.suv) for v in self.variables}

    def columns_of(self, suv: int) -> tuple[Column, ...]:
        return self._columns_by_suv.get(suv, ())

    def required_columns(self) -> tuple[str, ...]:
        """Columns that must be present in the header of every upload: the case key. Any other
        column missing from a file is read as blank (a missing registration)."""
        return tuple(v.column for v in self.case_key())

    def case_key(self) -> tuple[Variable, ...]:
        """The variables that identify a case (ärende): kommun, klient, datum för aktualisering."""
        return tuple(v for v in self.variables if v.required == "key")

    def risk_slots(self) -> int:
        return self.by_key("riskbedomning").extra["slots"]


def risk_column(slot: int, part: str) -> str:
    return f"v90_{slot}_{part}"


def _variable_columns(variable: Variable) -> list[Column]:
    if variable.type == "codes":
        columns = [
            Column(f"{variable.column}_{code}", variable.suv, "choice", code=code)
            for code in variable.codes
        ]
    elif variable.type == "risk_assessments":
        columns = []
        for slot in range(1, variable.extra["slots"] + 1):
            columns += [
                Column(risk_column(slot, "tidpunkt"), variable.suv, "risk_time_point", slot=slot),
                Column(risk_column(slot, "instrument"), variable.suv, "risk_instrument", slot=slot),
                Column(risk_column(slot, "skattning"), variable.suv, "risk_score", slot=slot),
            ]
    else:
        columns = [Column(variable.column, variable.suv, "value")]
    if variable.has_comment:
        columns.append(Column(f"{variable.column}_kommentar", variable.suv, "comment"))
    return columns


def _parse(entry: dict) -> Variable:
    known = {
        "suv",
        "key",
        "name",
        "question",
        "phase",
        "type",
        "required",
        "codes",
        "comment",
        "project",
        "identifier",
        "min",
        "max",
        "out_of_scope_below",
    }
    variable = Variable(
        suv=entry["suv"],
        key=entry["key"],
        name=entry["name"],
        question=" ".join(entry["question"].split()),
        phase=entry["phase"],
        type=entry["type"],
        required=entry["required"],
        codes={int(k): str(v) for k, v in (entry.get("codes") or {}).items()},
        has_comment=bool(entry.get("comment", False)),
        project_specific=bool(entry.get("project", False)),
        identifier=bool(entry.get("identifier", False)),
        min=entry.get("min"),
        max=entry.get("max"),
        out_of_scope_below=entry.get("out_of_scope_below"),
        extra={k: v for k, v in entry.items() if k not in known},
    )
    if variable.type not in VARIABLE_TYPES:
        raise ValueError(f"variable {variable.suv}: unknown type {variable.type!r}")
    if variable.required not in REQUIREMENTS:
        raise ValueError(f"variable {variable.suv}: unknown requirement {variable.required!r}")
    if variable.type in {"code", "codes", "risk_assessments"} and not variable.codes:
        raise ValueError(f"variable {variable.suv}: a {variable.type} variable needs codes")
    return variable


@cache
def load_catalogue() -> Catalogue:
    text = resources.files(__package__).joinpath("variables.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    variables = tuple(_parse(entry) for entry in document["variables"])
    phases = {key: entry["name"] for key, entry in document["phases"].items()}
    triggers = {
        key: tuple(entry.get("reached_when_any") or ()) for key, entry in document["phases"].items()
    }
    not_before_key = {
        key: entry["not_reached_when_before_key"]
        for key, entry in document["phases"].items()
        if "not_reached_when_before_key" in entry
    }
    keys = {v.key for v in variables}
    for variable in variables:
        if variable.phase not in phases:
            raise ValueError(f"variable {variable.suv}: unknown phase {variable.phase!r}")
    if len({v.suv for v in variables}) != len(variables):
        raise ValueError("duplicate SUV numbers in the catalogue")
    unknown = {key for keys_ in triggers.values() for key in keys_} - keys
    if unknown:
        raise ValueError(f"phase triggers name unknown variables: {sorted(unknown)}")
    dates = {v.key for v in variables if v.type == "date"}
    if set(not_before_key.values()) - dates:
        raise ValueError("not_reached_when_before_key must name a date variable")
    return Catalogue(
        variables=variables,
        phases=phases,
        phase_triggers=triggers,
        phase_not_before_key=not_before_key,
        earliest_date=str(document["earliest_date"]),
    )
