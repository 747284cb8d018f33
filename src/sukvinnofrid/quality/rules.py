"""The quality rules of an upload, all derived from the variable catalogue.

Every rule is a SQL boolean expression that is TRUE for an *unexpected* row. Expressions are
evaluated over the *batch relation* built by :func:`batch_query`: the upload's rows of
`raw.case_records` in which every catalogue column is the raw text trimmed, with a blank value
as NULL (so `"v14_kon" IS NULL` means "blank"), plus two helper columns:

- `_upload_kommun`: the upload's `raw.uploads.kommun_kod`;
- `_round_close`: the last day of the round month (`raw.uploads.round_id` = 'ÅÅÅÅ-MM').

Severity: `block` stops the whole file, `reject` drops the row, `warn` only reports it.
A rule with `sql=None` is table-level (the structure rule) and is checked on the column list.
A rule's SQL may contain the placeholder `:upload_id` (filled by `Rule.render_sql`).

Rules that relate variables to each other name variables by catalogue *key* in the small
tables below (the phase triggers, the case key, the conditional questions); everything else
(codes, ranges, formats, phases, requirements) is read from the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from ..catalogue import Catalogue, Variable, load_catalogue, risk_column

SEVERITIES = ("block", "reject", "warn")
EARLIEST_DATE = "2000-01-01"
DATE_REGEX = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
INTEGER_REGEX = r"^[0-9]+$"
CHOICE_VALUES = ("1", "0")

# A case has reached a phase when the trigger date is given (None: every case has).
PHASE_TRIGGER = {
    "bakgrund": None,
    "fore": None,
    "under": "datum_insats",
    "efter": "datum_avslut",
    "brukaruppfoljning": "datum_avslut",
}
CLOSE_DATE_KEY = "datum_avslut"
# The case key: unique within one upload.
CASE_KEY = ("kommun", "verksamhet", "klient", "datum_aktualisering")
# Variables that are answered together with a date: given iff the date is given.
GIVEN_WITH_DATE = (("insatser", "datum_insats"),)
# Conditional follow-up questions: (key, depends on key, codes of that variable that open it).
# v203 asks "Om problemen med våldsutsatthet har förbättrats ...": it is meant only for cases
# where v202 says the situation has improved (1 Förbättrats mycket, 2 Förbättrats lite).
# A warning, not a rejection: the answer may still be informative.
CONDITIONAL = (("insatsernas_betydelse", "forandring_valdsutsatthet", (1, 2)),)


@dataclass(frozen=True)
class Rule:
    rule_id: str
    suv: int | None
    column: str | None
    severity: str
    sql: str | None  # TRUE for an unexpected row of the batch relation; None: table-level
    message: str  # Swedish: what is wrong
    hint: str  # Swedish: what a correct value looks like
    family: str
    # The Great Expectations form of the rule: a native expectation class name and its
    # arguments, or None: then GX checks the rule's flag column of the batch relation.
    expectation: str | None = None
    expectation_kwargs: dict = field(default_factory=dict, hash=False, compare=False)
    related_suvs: tuple[int, ...] = ()  # other variables the rule looks at
    show_values: bool = False  # examples of the wrong values may be shown to the kommun

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.rule_id}: unknown severity {self.severity!r}")

    @property
    def flag_column(self) -> str:
        """The batch column that is TRUE when the row breaks the rule (flag rules only)."""
        return "x_" + self.rule_id.replace(".", "__")

    def gx_expectation(self) -> tuple[str, dict]:
        if self.expectation is not None:
            return self.expectation, dict(self.expectation_kwargs)
        return "ExpectColumnValuesToBeInSet", {"column": self.flag_column, "value_set": [False]}

    def render_sql(self, upload_id: int) -> str:
        """The rule SQL for one upload (fills the `:upload_id` placeholder of subqueries)."""
        return (self.sql or "").replace(":upload_id", str(int(upload_id)))

    @property
    def suvs(self) -> tuple[int, ...]:
        return ((self.suv,) if self.suv is not None else ()) + self.related_suvs


# --- SQL building blocks (over the batch relation) -------------------------------------------

def q(column: str) -> str:
    return f'"{column}"'


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def given(column: str) -> str:
    return f"{q(column)} IS NOT NULL"


def blank(column: str) -> str:
    return f"{q(column)} IS NULL"


def as_date(column: str) -> str:
    """The column as a date, NULL when blank or not a real ÅÅÅÅ-MM-DD date."""
    c = q(column)
    return (f"(CASE WHEN {c} ~ {lit(DATE_REGEX)} AND pg_input_is_valid({c}, 'date')"
            f" THEN {c}::date END)")


def as_int(column: str) -> str:
    """The column as an integer, NULL when blank or not a plain integer."""
    c = q(column)
    return f"(CASE WHEN {c} ~ '^[0-9]{{1,9}}$' THEN {c}::integer END)"


def any_given(columns: list[str]) -> str:
    return "(" + " OR ".join(given(c) for c in columns) + ")"


def all_blank(columns: list[str]) -> str:
    return "(" + " AND ".join(blank(c) for c in columns) + ")"


def any_chosen(columns: list[str]) -> str:
    return f"COALESCE('1' IN ({', '.join(q(c) for c in columns)}), false)"


def value_columns(variable: Variable, catalogue: Catalogue) -> list[str]:
    """The columns that carry the answer (not the comment)."""
    return [c.name for c in catalogue.columns_of(variable.suv) if c.kind != "comment"]


def is_given(variable: Variable, catalogue: Catalogue) -> str:
    """SQL: the variable is answered (any choice made, any risk slot used, value given)."""
    columns = value_columns(variable, catalogue)
    if variable.type == "codes":
        return any_chosen(columns)
    if variable.type == "risk_assessments":
        return any_given(columns)
    return given(variable.column)


def is_missing(variable: Variable, catalogue: Catalogue) -> str:
    return f"NOT ({is_given(variable, catalogue)})"


def phase_reached(phase: str, catalogue: Catalogue) -> str:
    trigger = PHASE_TRIGGER.get(phase)
    return "TRUE" if trigger is None else given(catalogue.by_key(trigger).column)


# --- Swedish wording ---------------------------------------------------------------------------

def _join_or(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " eller " + parts[-1]


def sentence(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".?!" else text + "."


def code_hint(codes: dict[int, str]) -> str:
    return "Ange " + _join_or([f"{code} ({label})" for code, label in codes.items()]) + "."


def _format_hint(variable: Variable) -> str:
    if variable.type == "code":
        return code_hint(variable.codes)
    if variable.type == "date":
        return "Skriv datumet som ÅÅÅÅ-MM-DD, till exempel 2023-05-17."
    if variable.type == "integer":
        return f"Ange ett heltal mellan {variable.min} och {variable.max}."
    return sentence(variable.question)


# --- rule families -----------------------------------------------------------------------------

def _structure_rule(catalogue: Catalogue) -> Rule:
    return Rule(
        rule_id="structure.columns",
        suv=None,
        column=None,
        severity="block",
        sql=None,
        message="Filen saknar en eller flera kolumner som ska finnas enligt mallen.",
        hint="Använd den senaste uppladdningsmallen och ta inte bort några kolumner.",
        family="structure",
        expectation="ExpectTableColumnsToMatchSet",
        expectation_kwargs={"column_set": list(catalogue.column_names), "exact_match": False},
    )


def _kommun_rules(variable: Variable) -> list[Rule]:
    c = q(variable.column)
    return [Rule(
        rule_id=f"{variable.column}.matches_upload",
        suv=variable.suv,
        column=variable.column,
        severity="block",
        sql=f"upper(COALESCE({c}, '')) <> upper(COALESCE(_upload_kommun, ''))",
        message="Kommunkoden på raden stämmer inte med den kommun filen lämnades in för.",
        hint="Ange samma kommun- eller stadsdelskod på varje rad som i filnamnet, "
             "till exempel 0180 eller 0180-EAV.",
        family="kommun",
        show_values=True,
    )]


def _required_rule(variable: Variable) -> Rule:
    return Rule(
        rule_id=f"{variable.column}.required",
        suv=variable.suv,
        column=variable.column,
        severity="reject",
        sql=blank(variable.column),
        message="Uppgiften saknas men ska alltid fyllas i.",
        hint=_format_hint(variable),
        family="required",
        expectation="ExpectColumnValuesToNotBeNull",
        expectation_kwargs={"column": variable.column},
    )


def _date_rules(variable: Variable) -> list[Rule]:
    col = variable.column
    c = q(col)
    hint = _format_hint(variable)
    return [
        Rule(
            rule_id=f"{col}.date_format",
            suv=variable.suv, column=col, severity="reject",
            sql=f"{c} IS NOT NULL AND {c} !~ {lit(DATE_REGEX)}",
            message="Datumet är inte skrivet som ÅÅÅÅ-MM-DD.",
            hint=hint, family="date_format",
            expectation="ExpectColumnValuesToMatchRegex",
            expectation_kwargs={"column": col, "regex": DATE_REGEX},
            show_values=True,
        ),
        Rule(
            rule_id=f"{col}.real_date",
            suv=variable.suv, column=col, severity="reject",
            sql=f"{c} ~ {lit(DATE_REGEX)} AND NOT pg_input_is_valid({c}, 'date')",
            message="Datumet finns inte i kalendern (till exempel 31 april eller månad 13).",
            hint=hint, family="real_date", show_values=True,
        ),
        Rule(
            rule_id=f"{col}.after_round_close",
            suv=variable.suv, column=col, severity="reject",
            sql=f"{as_date(col)} > _round_close",
            message="Datumet ligger efter insamlingsomgångens sista dag.",
            hint="Ange ett datum som inte är senare än den sista dagen i omgångens månad.",
            family="date_range", show_values=True,
        ),
        Rule(
            rule_id=f"{col}.before_{EARLIEST_DATE[:4]}",
            suv=variable.suv, column=col, severity="reject",
            sql=f"{as_date(col)} < DATE {lit(EARLIEST_DATE)}",
            message=f"Datumet ligger före {EARLIEST_DATE}.",
            hint=f"Ange ett datum från {EARLIEST_DATE} och framåt.",
            family="date_range", show_values=True,
        ),
    ]


def _integer_rules(variable: Variable) -> list[Rule]:
    col = variable.column
    rules = [Rule(
        rule_id=f"{col}.integer",
        suv=variable.suv, column=col, severity="reject",
        sql=f"{q(col)} IS NOT NULL AND {q(col)} !~ {lit(INTEGER_REGEX)}",
        message="Värdet är inte ett heltal.",
        hint=_format_hint(variable) + " Skriv bara siffror, utan decimaler eller text.",
        family="integer",
        expectation="ExpectColumnValuesToMatchRegex",
        expectation_kwargs={"column": col, "regex": INTEGER_REGEX},
        show_values=True,
    )]
    if variable.min is not None or variable.max is not None:
        bounds = []
        if variable.min is not None:
            bounds.append(f"{q(col)}::numeric < {variable.min}")
        if variable.max is not None:
            bounds.append(f"{q(col)}::numeric > {variable.max}")
        rules.append(Rule(
            rule_id=f"{col}.in_range",
            suv=variable.suv, column=col, severity="reject",
            # CASE: the cast must only run on digits (Postgres may reorder AND operands).
            sql=f"(CASE WHEN {q(col)} ~ {lit(INTEGER_REGEX)} THEN {' OR '.join(bounds)}"
                f" ELSE false END)",
            message=f"Värdet ligger utanför det tillåtna intervallet "
                    f"{variable.min}–{variable.max}.",
            hint=_format_hint(variable),
            family="range", show_values=True,
        ))
    return rules


def _in_set_rule(variable: Variable, column: str, codes: dict[int, str], message: str,
                 hint: str, family: str = "code") -> Rule:
    values = [str(code) for code in codes]
    return Rule(
        rule_id=f"{column}.in_set",
        suv=variable.suv, column=column, severity="reject",
        sql=f"{q(column)} IS NOT NULL AND {q(column)} NOT IN ({', '.join(lit(v) for v in values)})",
        message=message, hint=hint, family=family,
        expectation="ExpectColumnValuesToBeInSet",
        expectation_kwargs={"column": column, "value_set": values},
        show_values=True,
    )


def _code_rules(variable: Variable) -> list[Rule]:
    return [_in_set_rule(variable, variable.column, variable.codes,
                         "Koden finns inte i kodlistan.", code_hint(variable.codes))]


def _choice_rules(variable: Variable, catalogue: Catalogue) -> list[Rule]:
    rules = []
    for column in catalogue.columns_of(variable.suv):
        if column.kind != "choice":
            continue
        label = variable.codes[column.code]
        rules.append(_in_set_rule(
            variable, column.name, {1: "vald", 0: "inte vald"},
            f"Flervalskolumnen för svarsalternativet ”{label}” får bara innehålla 1, 0 eller "
            f"vara tom.",
            f"Ange 1 om ”{label}” gäller, annars 0 eller lämna tomt.",
            family="choice",
        ))
    return rules


def _risk_rules(variable: Variable) -> list[Rule]:
    slots = variable.extra["slots"]
    scale = variable.extra["scale"]
    time_points = {int(k): str(v) for k, v in variable.extra["time_points"].items()}
    rules: list[Rule] = []
    for slot in range(1, slots + 1):
        t, i, s = (risk_column(slot, part) for part in ("tidpunkt", "instrument", "skattning"))
        slot_columns = [t, i, s]
        rules.append(_in_set_rule(
            variable, t, time_points, f"Tidpunkten för riskbedömning {slot} är inte en giltig kod.",
            code_hint(time_points), family="risk"))
        rules.append(_in_set_rule(
            variable, i, variable.codes,
            f"Instrumentet för riskbedömning {slot} är inte en giltig kod.",
            code_hint(variable.codes), family="risk"))
        rules.append(Rule(
            rule_id=f"{s}.in_scale",
            suv=variable.suv, column=s, severity="reject",
            sql=f"(CASE WHEN {q(s)} IS NULL THEN false WHEN {q(s)} !~ {lit(INTEGER_REGEX)}"
                f" THEN true ELSE {q(s)}::numeric < {scale['min']}"
                f" OR {q(s)}::numeric > {scale['max']} END)",
            message=f"Skattningen i riskbedömning {slot} ligger inte på skalan "
                    f"{scale['min']}–{scale['max']}.",
            hint=f"Ange ett heltal från {scale['min']} (låg risk) till {scale['max']} (hög risk).",
            family="risk", show_values=True,
        ))
        rules.append(Rule(
            rule_id=f"v{variable.suv}_{slot}.complete",
            suv=variable.suv, column=None, severity="warn",
            sql=f"{any_given(slot_columns)} AND ({blank(t)} OR {blank(i)})",
            message=f"Riskbedömning {slot} saknar tidpunkt eller instrument.",
            hint="Ange både tidpunkt och instrument för varje riskbedömning som registreras.",
            family="risk",
        ))
        if slot > 1:
            previous = [risk_column(slot - 1, p) for p in ("tidpunkt", "instrument", "skattning")]
            rules.append(Rule(
                rule_id=f"v{variable.suv}_{slot}.after_previous",
                suv=variable.suv, column=None, severity="reject",
                sql=f"{any_given(slot_columns)} AND {all_blank(previous)}",
                message=f"Riskbedömning {slot} är ifylld fast riskbedömning {slot - 1} är tom.",
                hint="Fyll i riskbedömningarna i tur och ordning från nummer 1, utan luckor.",
                family="risk",
            ))
            rules.append(Rule(
                rule_id=f"{t}.not_decreasing",
                suv=variable.suv, column=t, severity="reject",
                sql=f"{as_int(t)} < {as_int(previous[0])}",
                message=f"Tidpunkten för riskbedömning {slot} ligger före tidpunkten för "
                        f"riskbedömning {slot - 1}.",
                hint="Registrera riskbedömningarna i tidsordning: före, under och sedan efter "
                     "stödet/insatsen.",
                family="risk",
            ))
    return rules


def _date_order_rules(catalogue: Catalogue) -> list[Rule]:
    """Dates of the catalogue are in case order (aktualisering ≤ insats ≤ avslut)."""
    dates = [v for v in catalogue.variables if v.type == "date"]
    rules = []
    for index, later in enumerate(dates):
        for earlier in dates[:index]:
            rules.append(Rule(
                rule_id=f"{later.column}.not_before_v{earlier.suv}",
                suv=later.suv, column=later.column, severity="reject",
                sql=f"{as_date(later.column)} < {as_date(earlier.column)}",
                message=f"{later.label} ligger före {earlier.label}.",
                hint=f"{later.name} kan inte vara tidigare än {earlier.name.lower()}.",
                family="date_order", related_suvs=(earlier.suv,),
            ))
    return rules


def _closed_rules(catalogue: Catalogue) -> list[Rule]:
    close = catalogue.by_key(CLOSE_DATE_KEY)
    closed_phases = {p for p, key in PHASE_TRIGGER.items() if key == CLOSE_DATE_KEY}
    rules = []
    for variable in catalogue.variables:
        if variable.required == "closed":
            rules.append(Rule(
                rule_id=f"{variable.column}.required_when_closed",
                suv=variable.suv, column=variable.column, severity="reject",
                sql=f"{given(close.column)} AND {is_missing(variable, catalogue)}",
                message=f"Ärendet är avslutat men uppgift saknas om {variable.label}.",
                hint=f"Ange {variable.name.lower()} för alla avslutade ärenden. "
                     + _format_hint(variable),
                family="closed", related_suvs=(close.suv,),
            ))
        if variable.phase in closed_phases and variable.key != CLOSE_DATE_KEY:
            rules.append(Rule(
                rule_id=f"{variable.column}.only_when_closed",
                suv=variable.suv, column=variable.column, severity="reject",
                sql=f"{blank(close.column)} AND {is_given(variable, catalogue)}",
                message=f"Uppgiften är ifylld men ärendet är inte avslutat "
                        f"({close.label} saknas).",
                hint=f"Fyll bara i uppgiften för avslutade ärenden, det vill säga när "
                     f"{close.label} är ifyllt.",
                family="closed", related_suvs=(close.suv,),
            ))
    return rules


def _given_with_date_rules(catalogue: Catalogue) -> list[Rule]:
    rules = []
    for key, date_key in GIVEN_WITH_DATE:
        variable, date = catalogue.by_key(key), catalogue.by_key(date_key)
        rules += [
            Rule(
                rule_id=f"{variable.column}.required_with_v{date.suv}",
                suv=variable.suv, column=None, severity="reject",
                sql=f"{given(date.column)} AND {is_missing(variable, catalogue)}",
                message=f"{date.label} är ifyllt men inget alternativ är valt för "
                        f"{variable.label}.",
                hint=f"Markera med 1 minst ett alternativ för {variable.name.lower()} när "
                     f"{date.name.lower()} är ifyllt.",
                family="given_with_date", related_suvs=(date.suv,),
            ),
            Rule(
                rule_id=f"{variable.column}.only_with_v{date.suv}",
                suv=variable.suv, column=None, severity="reject",
                sql=f"{blank(date.column)} AND {is_given(variable, catalogue)}",
                message=f"Alternativ är markerade för {variable.label} men {date.label} "
                        f"saknas.",
                hint=f"Ange {date.name.lower()} (ÅÅÅÅ-MM-DD) när stöd eller insatser är "
                     f"registrerade.",
                family="given_with_date", related_suvs=(date.suv,),
            ),
        ]
    return rules


def _conditional_rules(catalogue: Catalogue) -> list[Rule]:
    rules = []
    for key, depends_key, codes in CONDITIONAL:
        variable, depends = catalogue.by_key(key), catalogue.by_key(depends_key)
        allowed = ", ".join(lit(str(c)) for c in codes)
        labels = _join_or([f"{c} ({depends.codes[c]})" for c in codes])
        rules.append(Rule(
            rule_id=f"{variable.column}.requires_v{depends.suv}",
            suv=variable.suv, column=variable.column, severity="warn",
            sql=f"{given(variable.column)} AND ({blank(depends.column)}"
                f" OR {q(depends.column)} NOT IN ({allowed}))",
            message=f"Svar finns för {variable.label} fast {depends.label} inte visar någon "
                    f"förbättring.",
            hint=f"Fyll bara i {variable.name.lower()} när {depends.label} är {labels}.",
            family="conditional", related_suvs=(depends.suv,),
        ))
    return rules


def _case_key_rule(catalogue: Catalogue) -> Rule:
    key_vars = [catalogue.by_key(k) for k in CASE_KEY]
    names = ", ".join(v.label for v in key_vars)
    # A row is a duplicate when an earlier row of the same upload has the same (non-blank) key.
    # The subquery is uncorrelated (the upload id is filled in), so Postgres runs it once.
    same_key = " AND ".join(
        f"NULLIF(btrim(e.{q(v.column)}), '') = NULLIF(btrim(d.{q(v.column)}), '')"
        for v in key_vars)
    return Rule(
        rule_id="case_key.unique",
        suv=None, column=None, severity="reject",
        sql=("source_row IN (SELECT d.source_row FROM raw.case_records d"
             " JOIN raw.case_records e ON e.upload_id = d.upload_id"
             f" AND e.source_row < d.source_row AND {same_key}"
             " WHERE d.upload_id = :upload_id)"),
        message=f"Samma ärende finns redan på en tidigare rad i filen ({names}).",
        hint="Varje ärende ska finnas på en rad. Ta bort dubbletten eller rätta uppgifterna.",
        family="unique", related_suvs=tuple(v.suv for v in key_vars),
    )


def missing_variables(catalogue: Catalogue, phase: str | None = None) -> list[Variable]:
    """Optional variables whose blank counts as a missing registration once the phase is reached.

    Leaves out free text, the phase trigger dates, the variables with a stricter rule of their
    own (required when closed, given together with a date) and the conditional follow-ups.
    """
    triggers = {key for key in PHASE_TRIGGER.values() if key}
    stricter = {key for key, _ in GIVEN_WITH_DATE} | {key for key, _, _ in CONDITIONAL}
    return [
        v for v in catalogue.variables
        if v.required == "never" and v.type not in {"text", "kommun"}
        and v.key not in triggers and v.key not in stricter
        and (phase is None or v.phase == phase)
    ]


def _missing_rules(catalogue: Catalogue) -> list[Rule]:
    rules = []
    for variable in missing_variables(catalogue):
        # The brukarenkät is voluntary for the client: no per-row warning (shares only).
        if variable.phase == "brukaruppfoljning":
            continue
        reached = phase_reached(variable.phase, catalogue)
        trigger = PHASE_TRIGGER[variable.phase]
        when = ""
        if trigger:
            when = f", fast {catalogue.by_key(trigger).label} är ifyllt"
        rules.append(Rule(
            rule_id=f"{variable.column}.missing",
            suv=variable.suv, column=variable.column if variable.type != "codes" else None,
            severity="warn",
            sql=f"{reached} AND {is_missing(variable, catalogue)}",
            message=f"Ingen uppgift om {variable.label}{when}.",
            hint=sentence(variable.question) + " " + (
                "Markera med 1 de alternativ som gäller." if variable.type == "codes" else
                "Fyll i riskbedömningen (tidpunkt, instrument och skattning)."
                if variable.type == "risk_assessments" else _format_hint(variable)),
            family="missing",
            related_suvs=(catalogue.by_key(trigger).suv,) if trigger else (),
        ))
    return rules


@cache
def build_rules(catalogue: Catalogue | None = None) -> tuple[Rule, ...]:
    """All rules, in a stable order: structure, then per variable, then cross-field."""
    catalogue = catalogue or load_catalogue()
    rules: list[Rule] = [_structure_rule(catalogue)]
    for variable in catalogue.variables:
        if variable.type == "kommun":
            rules += _kommun_rules(variable)
            continue
        if variable.required == "always":
            rules.append(_required_rule(variable))
        if variable.type == "date":
            rules += _date_rules(variable)
        elif variable.type == "integer":
            rules += _integer_rules(variable)
        elif variable.type == "code":
            rules += _code_rules(variable)
        elif variable.type == "codes":
            rules += _choice_rules(variable, catalogue)
        elif variable.type == "risk_assessments":
            rules += _risk_rules(variable)
    rules += _date_order_rules(catalogue)
    rules += _closed_rules(catalogue)
    rules += _given_with_date_rules(catalogue)
    rules += _conditional_rules(catalogue)
    rules.append(_case_key_rule(catalogue))
    rules += _missing_rules(catalogue)
    ids = [r.rule_id for r in rules]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate rule ids")
    too_long = [r.flag_column for r in rules if len(r.flag_column) > 63]
    if too_long:
        raise ValueError(f"flag column names longer than Postgres allows: {too_long}")
    return tuple(rules)


def rules_by_id() -> dict[str, Rule]:
    return {rule.rule_id: rule for rule in build_rules()}


def row_rules() -> tuple[Rule, ...]:
    """The rules evaluated per row (all but the table-level structure rule)."""
    return tuple(rule for rule in build_rules() if rule.sql is not None)


# --- the batch relation --------------------------------------------------------------------------

def normalized_columns_sql(columns: list[str] | tuple[str, ...], alias: str = "r") -> str:
    return ",\n    ".join(f"NULLIF(btrim({alias}.{q(c)}), '') AS {q(c)}" for c in columns)


def round_close_sql(round_expr: str) -> str:
    return (f"(CASE WHEN {round_expr} ~ '^[0-9]{{4}}-(0[1-9]|1[0-2])$' THEN "
            f"(to_date({round_expr}, 'YYYY-MM') + interval '1 month' - interval '1 day')::date END)")


def upload_rows_sql(upload_ids: list[int] | tuple[int, ...],
                    columns: list[str] | tuple[str, ...] | None = None) -> str:
    """The rows of some uploads, normalised, with the upload's kommun and round close date."""
    columns = tuple(columns) if columns is not None else load_catalogue().column_names
    ids = ", ".join(str(int(u)) for u in upload_ids)
    return (
        "SELECT r.upload_id, r.source_row,\n    "
        + normalized_columns_sql(columns)
        + ",\n    u.kommun_kod AS _upload_kommun,\n    "
        + round_close_sql("u.round_id") + " AS _round_close\n"
        + "FROM raw.case_records r JOIN raw.uploads u ON u.upload_id = r.upload_id\n"
        + f"WHERE r.upload_id IN ({ids})"
    )


def with_flag_columns(base: str, flags: list[tuple[Rule, str]]) -> str:
    """`base` plus one boolean column per (rule, SQL of its unexpected-row condition)."""
    if not flags:
        return base
    flag_sql = ",\n    ".join(f"(({sql}) IS TRUE) AS {q(rule.flag_column)}" for rule, sql in flags)
    # OFFSET 0: normalise each column once per row, then compute the flags over the result.
    return f"SELECT b.*,\n    {flag_sql}\nFROM (\n{base}\nOFFSET 0) b"


def batch_query(upload_id: int, columns: list[str] | tuple[str, ...] | None = None,
                rules: tuple[Rule, ...] | None = None) -> str:
    """SQL of the batch relation of one upload (see the module docstring).

    With `rules`, the relation also has one boolean column per row rule (`Rule.flag_column`,
    TRUE for an unexpected row), so every rule is computed once and GX and the row findings
    read plain columns.
    """
    flags = [(rule, rule.render_sql(upload_id)) for rule in (rules or ()) if rule.sql is not None]
    return with_flag_columns(upload_rows_sql([upload_id], columns), flags)
