"""The quality rules of an upload, all derived from the variable catalogue.

Every rule is a SQL boolean expression that is TRUE for an *unexpected* row. Expressions are
evaluated over the *batch relation* built by :func:`batch_query`: the upload's rows of
`raw.case_records` in which every catalogue column is the raw text trimmed, with a blank value
as NULL (so `"v14_kon" IS NULL` means "blank"), plus two helper columns:

- `_upload_kommun`: the upload's `raw.uploads.kommun_kod`;
- `_round_close`: the last day of the round month (`raw.uploads.round_id` = 'ÅÅÅÅ-MM').

Severities, by the principle "a case that exists is counted" (docs/quality-rules.md):

- `block` stops the whole file (the file is not this kommun's: a row names another kommun);
- `reject` takes the row out of the statistics, only when the row is not a case in scope: its
  case key (kommun, klient, datum för aktualisering) cannot be read, it was aktualiserad after
  the round closed or before the catalogue's earliest date (before the collection could exist:
  a typing error such as 1899-12-31), the klient is under 18, or the same case is on an
  earlier row;
- `error` keeps the case: the wrong or missing value counts as "uppgift saknas" (a date out of
  order: the phase it dates cannot be placed in time), and the kommun corrects it next round;
- `warn` keeps the case: a missing registration of an optional answer, or an answer that does
  not fit another one.

A rule with `sql=None` is table-level (the structure rule) and is checked on the column list.
A rule's SQL may contain the placeholder `:upload_id` (filled by `Rule.render_sql`).

Rules that relate variables to each other name variables by catalogue *key* in the small
tables below (the phase triggers, the conditional questions); everything else (codes, ranges,
formats, phases, requirements, the case key) is read from the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from ..catalogue import Catalogue, Variable, load_catalogue, risk_column

SEVERITIES = ("block", "reject", "error", "warn")
# Severities whose rows still count in the statistics.
KEPT_SEVERITIES = ("error", "warn")
DATE_REGEX = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
INTEGER_REGEX = r"^[0-9]+$"
CHOICE_VALUES = ("1", "0")

# The phase whose triggers make a case closed (the catalogue's phases say what opens each).
CLOSED_PHASE = "efter"
# Variables that are answered together with a date: given iff the date is given.
GIVEN_WITH_DATE = (("insatser", "datum_insats"),)
# Conditional follow-up questions: (key, depends on key, codes of that variable that open it).
# v203 asks "Om problemen med våldsutsatthet har förbättrats ...": it is meant only for cases
# where v202 says the situation has improved (1 Förbättrats mycket, 2 Förbättrats lite).
# A warning, not a rejection: the answer may still be informative.
CONDITIONAL = (("insatsernas_betydelse", "forandring_valdsutsatthet", (1, 2)),)

# How each severity keeps or drops the row, in the kommun's words (feedback, docs).
KEPT_NOTE = "Ärendet räknas; uppgiften räknas som saknad tills den är rättad."


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
    return (
        f"(CASE WHEN {c} ~ {lit(DATE_REGEX)} AND pg_input_is_valid({c}, 'date') THEN {c}::date END)"
    )


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
    """SQL: the case has reached the phase (any trigger variable registered)."""
    triggers = [catalogue.by_key(key) for key in catalogue.phase_triggers.get(phase, ())]
    if not triggers:
        return "TRUE"
    return "(" + " OR ".join(is_given(v, catalogue) for v in triggers) + ")"


def phase_trigger_labels(phase: str, catalogue: Catalogue) -> str:
    """How a kommun reads what opens a phase: 'Datum … (117) eller Stöd … (118)'."""
    return _join_or(
        [catalogue.by_key(key).label for key in catalogue.phase_triggers.get(phase, ())]
    )


# --- Swedish wording ---------------------------------------------------------------------------


def _join(parts: list[str], word: str) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" {word} " + parts[-1]


def _join_or(parts: list[str]) -> str:
    return _join(parts, "eller")


def _join_and(parts: list[str]) -> str:
    return _join(parts, "och")


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


def _key_or_error(variable: Variable) -> str:
    """A wrong case-key value means the row is not a case; any other wrong value is an error."""
    return "reject" if variable.required == "key" else "error"


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
    return [
        Rule(
            rule_id=f"{variable.column}.matches_upload",
            suv=variable.suv,
            column=variable.column,
            severity="block",
            sql=f"{c} IS NOT NULL AND upper({c}) <> upper(COALESCE(_upload_kommun, ''))",
            message="Kommunkoden på raden stämmer inte med den kommun filen lämnades in för.",
            hint="Ange samma kommun- eller stadsdelskod på varje rad som i filnamnet, "
            "till exempel 0180 eller 0180-EAV.",
            family="kommun",
            show_values=True,
        )
    ]


def _required_rule(variable: Variable) -> Rule:
    if variable.required == "key":
        message = (
            "Uppgiften saknas. Den behövs för att känna igen ärendet, så raden räknas "
            "inte i statistiken."
        )
    else:
        message = f"Uppgiften saknas men ska alltid fyllas i. {KEPT_NOTE}"
    return Rule(
        rule_id=f"{variable.column}.required",
        suv=variable.suv,
        column=variable.column,
        severity=_key_or_error(variable),
        sql=blank(variable.column),
        message=message,
        hint=_format_hint(variable),
        family="required",
        expectation="ExpectColumnValuesToNotBeNull",
        expectation_kwargs={"column": variable.column},
    )


def _date_rules(variable: Variable, catalogue: Catalogue) -> list[Rule]:
    earliest = catalogue.earliest_date
    col = variable.column
    c = q(col)
    hint = _format_hint(variable)
    severity = _key_or_error(variable)
    outcome = "Raden räknas inte i statistiken." if severity == "reject" else KEPT_NOTE
    return [
        Rule(
            rule_id=f"{col}.date_format",
            suv=variable.suv,
            column=col,
            severity=severity,
            sql=f"{c} IS NOT NULL AND {c} !~ {lit(DATE_REGEX)}",
            message=f"Datumet är inte skrivet som ÅÅÅÅ-MM-DD. {outcome}",
            hint=hint,
            family="date_format",
            expectation="ExpectColumnValuesToMatchRegex",
            expectation_kwargs={"column": col, "regex": DATE_REGEX},
            show_values=True,
        ),
        Rule(
            rule_id=f"{col}.real_date",
            suv=variable.suv,
            column=col,
            severity=severity,
            sql=f"{c} ~ {lit(DATE_REGEX)} AND NOT pg_input_is_valid({c}, 'date')",
            message="Datumet finns inte i kalendern (till exempel 31 april eller månad 13). "
            + outcome,
            hint=hint,
            family="real_date",
            show_values=True,
        ),
        Rule(
            rule_id=f"{col}.after_round_close",
            suv=variable.suv,
            column=col,
            severity=severity,
            sql=f"{as_date(col)} > _round_close",
            message=(
                "Ärendet aktualiserades efter insamlingsomgångens sista dag och hör till en "
                "senare omgång. Raden räknas inte i den här omgången."
                if severity == "reject"
                else f"Datumet ligger efter insamlingsomgångens sista dag. {KEPT_NOTE}"
            ),
            hint="Ange ett datum som inte är senare än den sista dagen i omgångens månad.",
            family="date_range",
            show_values=True,
        ),
        Rule(
            rule_id=f"{col}.before_{earliest[:4]}",
            suv=variable.suv,
            column=col,
            # a case aktualiserad before the collection could exist is not a case in scope
            severity=severity,
            sql=f"{as_date(col)} < DATE {lit(earliest)}",
            message=(
                f"Ärendet aktualiserades före {earliest}, innan uppföljningen fanns: datumet är "
                "troligen felskrivet. Raden räknas inte i statistiken."
                if severity == "reject"
                else f"Datumet ligger före {earliest}, vilket inte är rimligt. {KEPT_NOTE}"
            ),
            hint=f"Ange ett datum från {earliest} och framåt.",
            family="date_range",
            show_values=True,
        ),
    ]


def _integer_rules(variable: Variable) -> list[Rule]:
    col = variable.column
    c = q(col)
    digits = f"{c} ~ {lit(INTEGER_REGEX)}"
    rules = [
        Rule(
            rule_id=f"{col}.integer",
            suv=variable.suv,
            column=col,
            severity="error",
            sql=f"{c} IS NOT NULL AND NOT {digits}",
            message=f"Värdet är inte ett heltal. {KEPT_NOTE}",
            hint=_format_hint(variable) + " Skriv bara siffror, utan decimaler eller text.",
            family="integer",
            expectation="ExpectColumnValuesToMatchRegex",
            expectation_kwargs={"column": col, "regex": INTEGER_REGEX},
            show_values=True,
        )
    ]
    # CASE: the casts must only run on digits (Postgres may reorder AND operands).
    if variable.out_of_scope_below is not None:
        rules.append(
            Rule(
                rule_id=f"{col}.out_of_scope",
                suv=variable.suv,
                column=col,
                severity="reject",
                sql=f"(CASE WHEN {digits} THEN {c}::numeric < {variable.out_of_scope_below}"
                f" ELSE false END)",
                message=f"Klienten är yngre än {variable.out_of_scope_below} år. "
                "SU-Kvinnofrid följer upp stödet till vuxna, så raden räknas inte i statistiken.",
                hint=f"Registrera bara ärenden där klienten är {variable.out_of_scope_below} år "
                "eller äldre, och kontrollera åldern.",
                family="scope",
                show_values=True,
            )
        )
    bounds = []
    if variable.min is not None and variable.min > (variable.out_of_scope_below or -1):
        bounds.append(f"{c}::numeric < {variable.min}")
    if variable.max is not None:
        bounds.append(f"{c}::numeric > {variable.max}")
    if bounds:
        rules.append(
            Rule(
                rule_id=f"{col}.in_range",
                suv=variable.suv,
                column=col,
                severity="error",
                sql=f"(CASE WHEN {digits} THEN {' OR '.join(bounds)} ELSE false END)",
                message=f"Värdet ligger utanför det tillåtna intervallet "
                f"{variable.min}–{variable.max}. {KEPT_NOTE}",
                hint=_format_hint(variable),
                family="range",
                show_values=True,
            )
        )
    return rules


def _in_set_rule(
    variable: Variable,
    column: str,
    codes: dict[int, str],
    message: str,
    hint: str,
    family: str = "code",
) -> Rule:
    values = [str(code) for code in codes]
    return Rule(
        rule_id=f"{column}.in_set",
        suv=variable.suv,
        column=column,
        severity="error",
        sql=f"{q(column)} IS NOT NULL AND {q(column)} NOT IN ({', '.join(lit(v) for v in values)})",
        message=f"{message} {KEPT_NOTE}",
        hint=hint,
        family=family,
        expectation="ExpectColumnValuesToBeInSet",
        expectation_kwargs={"column": column, "value_set": values},
        show_values=True,
    )


def _code_rules(variable: Variable) -> list[Rule]:
    return [
        _in_set_rule(
            variable,
            variable.column,
            variable.codes,
            "Koden finns inte i kodlistan.",
            code_hint(variable.codes),
        )
    ]


def _choice_rules(variable: Variable, catalogue: Catalogue) -> list[Rule]:
    rules = []
    for column in catalogue.columns_of(variable.suv):
        if column.kind != "choice":
            continue
        label = variable.codes[column.code]
        rules.append(
            _in_set_rule(
                variable,
                column.name,
                {1: "vald", 0: "inte vald"},
                f"Flervalskolumnen för svarsalternativet ”{label}” får bara innehålla 1, 0 eller "
                f"vara tom.",
                f"Ange 1 om ”{label}” gäller, annars 0 eller lämna tomt.",
                family="choice",
            )
        )
    return rules


def _risk_rules(variable: Variable) -> list[Rule]:
    slots = variable.extra["slots"]
    scale = variable.extra["scale"]
    time_points = {int(k): str(v) for k, v in variable.extra["time_points"].items()}
    rules: list[Rule] = []
    for slot in range(1, slots + 1):
        t, i, s = (risk_column(slot, part) for part in ("tidpunkt", "instrument", "skattning"))
        slot_columns = [t, i, s]
        rules.append(
            _in_set_rule(
                variable,
                t,
                time_points,
                f"Tidpunkten för riskbedömning {slot} är inte en giltig kod.",
                code_hint(time_points),
                family="risk",
            )
        )
        rules.append(
            _in_set_rule(
                variable,
                i,
                variable.codes,
                f"Instrumentet för riskbedömning {slot} är inte en giltig kod.",
                code_hint(variable.codes),
                family="risk",
            )
        )
        rules.append(
            Rule(
                rule_id=f"{s}.in_scale",
                suv=variable.suv,
                column=s,
                severity="error",
                sql=f"(CASE WHEN {q(s)} IS NULL THEN false WHEN {q(s)} !~ {lit(INTEGER_REGEX)}"
                f" THEN true ELSE {q(s)}::numeric < {scale['min']}"
                f" OR {q(s)}::numeric > {scale['max']} END)",
                message=f"Skattningen i riskbedömning {slot} ligger inte på skalan "
                f"{scale['min']}–{scale['max']}. {KEPT_NOTE}",
                hint=(
                    f"Ange ett heltal från {scale['min']} (låg risk) till {scale['max']} (hög "
                    "risk)."
                ),
                family="risk",
                show_values=True,
            )
        )
        rules.append(
            Rule(
                rule_id=f"v{variable.suv}_{slot}.complete",
                suv=variable.suv,
                column=None,
                severity="warn",
                sql=f"{any_given(slot_columns)} AND ({blank(t)} OR {blank(i)})",
                message=f"Riskbedömning {slot} saknar tidpunkt eller instrument.",
                hint="Ange både tidpunkt och instrument för varje riskbedömning som registreras.",
                family="risk",
            )
        )
        if slot > 1:
            previous = [risk_column(slot - 1, p) for p in ("tidpunkt", "instrument", "skattning")]
            rules.append(
                Rule(
                    rule_id=f"v{variable.suv}_{slot}.after_previous",
                    suv=variable.suv,
                    column=None,
                    severity="error",
                    sql=f"{any_given(slot_columns)} AND {all_blank(previous)}",
                    message=f"Riskbedömning {slot} är ifylld fast riskbedömning {slot - 1} är tom. "
                    "Bedömningen räknas ändå.",
                    hint="Fyll i riskbedömningarna i tur och ordning från nummer 1, utan luckor.",
                    family="risk",
                )
            )
            rules.append(
                Rule(
                    rule_id=f"{t}.not_decreasing",
                    suv=variable.suv,
                    column=t,
                    severity="error",
                    sql=f"{as_int(t)} < {as_int(previous[0])}",
                    message=f"Tidpunkten för riskbedömning {slot} ligger före tidpunkten för "
                    f"riskbedömning {slot - 1}. Bedömningarna jämförs i tidpunktsordning.",
                    hint="Registrera riskbedömningarna i tidsordning: före, under och sedan efter "
                    "stödet/insatsen.",
                    family="risk",
                )
            )
    return rules


def _date_order_rules(catalogue: Catalogue) -> list[Rule]:
    """Dates of the catalogue are in case order (aktualisering ≤ insats ≤ avslut); of two dates
    out of order the later one in that order cannot be placed in time."""
    dates = [v for v in catalogue.variables if v.type == "date"]
    phase_dates = set(catalogue.phase_not_before_key.values())
    rules = []
    for index, later in enumerate(dates):
        for earlier in dates[:index]:
            # a phase dated before the key date is not reached (catalogue, phases)
            counted_as = (
                "som pågående (inte avslutat) tills datumet är rättat"
                if later.key in phase_dates and earlier.required == "key"
                else f"{later.name.lower()} räknas som saknat tills det är rättat"
            )
            rules.append(
                Rule(
                    rule_id=f"{later.column}.not_before_v{earlier.suv}",
                    suv=later.suv,
                    column=later.column,
                    severity="error",
                    sql=f"{as_date(later.column)} < {as_date(earlier.column)}",
                    message=f"{later.label} ligger före {earlier.label}. Ärendet räknas, men "
                    f"{counted_as}.",
                    hint=f"{later.name} kan inte vara tidigare än {earlier.name.lower()}.",
                    family="date_order",
                    related_suvs=(earlier.suv,),
                )
            )
    return rules


def _closed_rules(catalogue: Catalogue) -> list[Rule]:
    """A case is closed when a date or a reason for closing is registered. Then both are
    required; the other answers of the closed phases belong to closed cases only."""
    triggers = catalogue.phase_triggers[CLOSED_PHASE]
    closed = phase_reached(CLOSED_PHASE, catalogue)
    opened_by = phase_trigger_labels(CLOSED_PHASE, catalogue)
    closed_phases = {p for p, keys in catalogue.phase_triggers.items() if keys == triggers}
    rules = []
    for variable in catalogue.variables:
        if variable.required == "closed":
            rules.append(
                Rule(
                    rule_id=f"{variable.column}.required_when_closed",
                    suv=variable.suv,
                    column=variable.column,
                    severity="error",
                    sql=f"{closed} AND {is_missing(variable, catalogue)}",
                    message=f"Ärendet är avslutat ({opened_by} är ifyllt) men uppgift saknas om "
                    f"{variable.label}. {KEPT_NOTE}",
                    hint=f"Ange {variable.name.lower()} för alla avslutade ärenden. "
                    + _format_hint(variable),
                    family="closed",
                    related_suvs=tuple(
                        catalogue.by_key(k).suv for k in triggers if k != variable.key
                    ),
                )
            )
        elif variable.phase in closed_phases:
            rules.append(
                Rule(
                    rule_id=f"{variable.column}.only_when_closed",
                    suv=variable.suv,
                    column=variable.column,
                    severity="error",
                    sql=f"NOT {closed} AND {is_given(variable, catalogue)}",
                    message=f"Uppgiften är ifylld men ärendet är inte avslutat (varken "
                    f"{_join_and([catalogue.by_key(k).label for k in triggers])} är "
                    "ifyllt). Ärendet räknas som pågående och svaret räknas inte förrän "
                    "ärendet är avslutat.",
                    hint=f"Fyll bara i uppgiften för avslutade ärenden, det vill säga när "
                    f"{opened_by} är ifyllt.",
                    family="closed",
                    related_suvs=tuple(catalogue.by_key(k).suv for k in triggers),
                )
            )
    return rules


def _given_with_date_rules(catalogue: Catalogue) -> list[Rule]:
    """An insats and its start date go together; either alone is a missing registration."""
    rules = []
    for key, date_key in GIVEN_WITH_DATE:
        variable, date = catalogue.by_key(key), catalogue.by_key(date_key)
        rules += [
            Rule(
                rule_id=f"{variable.column}.required_with_v{date.suv}",
                suv=variable.suv,
                column=None,
                severity="warn",
                sql=f"{given(date.column)} AND {is_missing(variable, catalogue)}",
                message=f"{date.label} är ifyllt men inget alternativ är valt för "
                f"{variable.label}. Ärendet räknas som ett ärende med insats, med "
                "insatsen som saknad registrering.",
                hint=f"Markera med 1 minst ett alternativ för {variable.name.lower()} när "
                f"{date.name.lower()} är ifyllt.",
                family="given_with_date",
                related_suvs=(date.suv,),
            ),
            Rule(
                rule_id=f"{variable.column}.only_with_v{date.suv}",
                suv=variable.suv,
                column=None,
                severity="warn",
                sql=f"{blank(date.column)} AND {is_given(variable, catalogue)}",
                message=f"Alternativ är markerade för {variable.label} men {date.label} "
                "saknas. Insatsen räknas, med startdatumet som saknad registrering.",
                hint=f"Ange {date.name.lower()} (ÅÅÅÅ-MM-DD) när stöd eller insatser är "
                f"registrerade.",
                family="given_with_date",
                related_suvs=(date.suv,),
            ),
        ]
    return rules


def _conditional_rules(catalogue: Catalogue) -> list[Rule]:
    rules = []
    for key, depends_key, codes in CONDITIONAL:
        variable, depends = catalogue.by_key(key), catalogue.by_key(depends_key)
        allowed = ", ".join(lit(str(c)) for c in codes)
        labels = _join_or([f"{c} ({depends.codes[c]})" for c in codes])
        rules.append(
            Rule(
                rule_id=f"{variable.column}.requires_v{depends.suv}",
                suv=variable.suv,
                column=variable.column,
                severity="warn",
                sql=f"{given(variable.column)} AND ({blank(depends.column)}"
                f" OR {q(depends.column)} NOT IN ({allowed}))",
                message=f"Svar finns för {variable.label} fast {depends.label} inte visar någon "
                f"förbättring.",
                hint=f"Fyll bara i {variable.name.lower()} när {depends.label} är {labels}.",
                family="conditional",
                related_suvs=(depends.suv,),
            )
        )
    return rules


def _case_key_rule(catalogue: Catalogue) -> Rule:
    key_vars = catalogue.case_key()
    names = ", ".join(v.label for v in key_vars)
    # A row is a duplicate when an earlier row of the same upload has the same (non-blank) key.
    # The subquery is uncorrelated (the upload id is filled in), so Postgres runs it once.
    same_key = " AND ".join(
        f"NULLIF(btrim(e.{q(v.column)}), '') = NULLIF(btrim(d.{q(v.column)}), '')" for v in key_vars
    )
    return Rule(
        rule_id="case_key.unique",
        suv=None,
        column=None,
        severity="reject",
        sql=(
            "source_row IN (SELECT d.source_row FROM raw.case_records d"
            " JOIN raw.case_records e ON e.upload_id = d.upload_id"
            f" AND e.source_row < d.source_row AND {same_key}"
            " WHERE d.upload_id = :upload_id)"
        ),
        message=f"Samma ärende ({names}) finns redan på en tidigare rad i filen, även om "
        "andra uppgifter skiljer sig. Ett ärende räknas en gång per kommun: raden "
        "räknas inte.",
        hint="Varje ärende ska finnas på en rad. Ta bort dubbletten eller rätta uppgifterna.",
        family="unique",
        related_suvs=tuple(v.suv for v in key_vars),
    )


def missing_variables(catalogue: Catalogue, phase: str | None = None) -> list[Variable]:
    """Optional variables whose blank counts as a missing registration once the phase is reached.

    Leaves out free text, the phase trigger variables, the variables with a stricter rule of
    their own (required when closed, given together with a date) and the conditional follow-ups.
    """
    triggers = {key for keys in catalogue.phase_triggers.values() for key in keys}
    stricter = {key for key, _ in GIVEN_WITH_DATE} | {key for key, _, _ in CONDITIONAL}
    return [
        v
        for v in catalogue.variables
        if v.required == "never"
        and v.type not in {"text", "kommun"}
        and v.key not in triggers
        and v.key not in stricter
        and (phase is None or v.phase == phase)
    ]


def _missing_rules(catalogue: Catalogue) -> list[Rule]:
    rules = []
    for variable in missing_variables(catalogue):
        # The brukarenkät is voluntary for the client: no per-row warning (shares only).
        if variable.phase == "brukaruppfoljning":
            continue
        reached = phase_reached(variable.phase, catalogue)
        triggers = catalogue.phase_triggers[variable.phase]
        when = (
            f", fast {phase_trigger_labels(variable.phase, catalogue)} är ifyllt"
            if triggers
            else ""
        )
        rules.append(
            Rule(
                rule_id=f"{variable.column}.missing",
                suv=variable.suv,
                column=variable.column if variable.type != "codes" else None,
                severity="warn",
                sql=f"{reached} AND {is_missing(variable, catalogue)}",
                message=f"Ingen uppgift om {variable.label}{when}.",
                hint=sentence(variable.question)
                + " "
                + (
                    "Markera med 1 de alternativ som gäller."
                    if variable.type == "codes"
                    else "Fyll i riskbedömningen (tidpunkt, instrument och skattning)."
                    if variable.type == "risk_assessments"
                    else _format_hint(variable)
                ),
                family="missing",
                related_suvs=tuple(catalogue.by_key(k).suv for k in triggers),
            )
        )
    return rules


@cache
def build_rules(catalogue: Catalogue | None = None) -> tuple[Rule, ...]:
    """All rules, in a stable order: structure, then per variable, then cross-field."""
    catalogue = catalogue or load_catalogue()
    rules: list[Rule] = [_structure_rule(catalogue)]
    for variable in catalogue.variables:
        if variable.required in ("key", "always"):
            rules.append(_required_rule(variable))
        if variable.type == "kommun":
            rules += _kommun_rules(variable)
        if variable.type == "date":
            rules += _date_rules(variable, catalogue)
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
    return (
        f"(CASE WHEN {round_expr} ~ '^[0-9]{{4}}-(0[1-9]|1[0-2])$' THEN "
        f"(to_date({round_expr}, 'YYYY-MM') + interval '1 month' - interval '1 day')::date END)"
    )


def upload_rows_sql(
    upload_ids: list[int] | tuple[int, ...], columns: list[str] | tuple[str, ...] | None = None
) -> str:
    """The rows of some uploads, normalised, with the upload's kommun and round close date."""
    columns = tuple(columns) if columns is not None else load_catalogue().column_names
    ids = ", ".join(str(int(u)) for u in upload_ids)
    return (
        "SELECT r.upload_id, r.source_row,\n    "
        + normalized_columns_sql(columns)
        + ",\n    u.kommun_kod AS _upload_kommun,\n    "
        + round_close_sql("u.round_id")
        + " AS _round_close\n"
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


def batch_query(
    upload_id: int,
    columns: list[str] | tuple[str, ...] | None = None,
    rules: tuple[Rule, ...] | None = None,
) -> str:
    """SQL of the batch relation of one upload (see the module docstring).

    With `rules`, the relation also has one boolean column per row rule (`Rule.flag_column`,
    TRUE for an unexpected row), so every rule is computed once and GX and the row findings
    read plain columns.
    """
    flags = [(rule, rule.render_sql(upload_id)) for rule in (rules or ()) if rule.sql is not None]
    return with_flag_columns(upload_rows_sql([upload_id], columns), flags)
