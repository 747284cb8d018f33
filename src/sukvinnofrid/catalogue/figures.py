"""The figure catalogue (figures.yaml): every national figure, breakdown and funnel count
defined once.

The dbt seeds of the figures, the dbt macros that say what a case counts in each figure and in
the funnel, the funnel's column docs and the figure table of docs/figures.md are generated from
it (`sukvinnofrid.artifacts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from . import Catalogue, load_catalogue

KINDS = {"share", "mean"}
FUNNEL_KINDS = ("phase", "missing")
LEVELS = ("kommun", "lan", "riket")
REFERENCE_SEEDS = {"kommungrupper", "befolkningsgrupper"}


@dataclass(frozen=True)
class DerivedCategory:
    id: str
    label: str
    sort_order: int
    parts: str | None = None  # the answer codes a summary category adds up: '1|2'
    when: str | None = None  # SQL: a case of the figure's N is in the category


@dataclass(frozen=True)
class Figure:
    id: str
    title: str
    diagram: int | None
    source: str
    report_n: int | None
    kind: str
    variable: int | None
    population_text: str
    population_sql: str
    n_text: str
    n_sql: str  # with the default filled in
    # at most one of: SQL, the category of a single-answer case; the multiple-choice key
    # (<chosen>_<code>); neither when every category is derived with its `when`
    category: str | None
    chosen: str | None
    answer_codes: tuple[int, ...] | None  # the codes whose answers n_svar counts (chosen)
    value: str | None
    code_list: str | None
    except_codes: tuple[int, ...]
    reference: str | None
    derived: tuple[DerivedCategory, ...]


@dataclass(frozen=True)
class Breakdown:
    id: str
    title: str
    levels: tuple[str, ...]
    sql: str | None = None  # a dimension's value; None for 'alla' and cross-tabulations
    of: tuple[str, ...] = ()  # the dimensions a cross-tabulation crosses
    only_figures: tuple[str, ...] = ()  # published for these figures only (all when empty)
    labels_from: str | None = None  # the figure whose categories label the values
    value_labels: dict[str, str] | None = None  # else these labels, in this order


@dataclass(frozen=True)
class KoladaFigure:
    """A Kolada key figure (fct_kolada_key_figures' figure) and what it counts."""

    figure: str
    kpi: str
    cases_text: str
    cases_sql: str  # over a case of int_case_versions
    year_date: str  # the key of the date variable whose calendar year a case counts in
    year_suv: int


@dataclass(frozen=True)
class FunnelCount:
    """A count of the funnel (Diagram 1, fct_case_funnel's column)."""

    id: str
    kind: str  # phase or missing (a missing registration)
    label: str
    source: str
    sql: str  # over a case of int_case_versions
    description: str
    population: str | None = None  # phase: the figures' population text that is this phase
    part_of: str | None = None  # missing: the phase it is a part and a share of
    other_part: str | None = None  # missing: part_of = other_part + this count
    short: str | None = None  # missing: the site's column heading of its share
    share_label: str | None = None  # missing: what its share is, on the site


@dataclass(frozen=True)
class Funnel:
    """The funnel's counts in their column order, and the relations between them."""

    counts: tuple[FunnelCount, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.counts)

    @property
    def phases(self) -> tuple[FunnelCount, ...]:
        return tuple(c for c in self.counts if c.kind == "phase")

    @property
    def missing(self) -> tuple[FunnelCount, ...]:
        return tuple(c for c in self.counts if c.kind == "missing")

    def beside(self, phase: str) -> FunnelCount | None:
        """The missing registration the site draws beside `phase`: the rest of its part_of."""
        return next((m for m in self.missing if m.other_part == phase), None)

    @property
    def missing_only(self) -> tuple[FunnelCount, ...]:
        """The missing registrations whose other part is not published (no phase to go with)."""
        return tuple(m for m in self.missing if m.other_part not in self.columns)

    @property
    def sums(self) -> tuple[tuple[str, tuple[str, str]], ...]:
        """total = parts: the funnel's additive relations, those of two published counts first;
        a name starting with '~' is a complement that is not published (total minus the
        published part)."""
        return tuple(
            (m.part_of, (m.other_part, m.id)) for m in self.missing if m not in self.missing_only
        ) + tuple((m.part_of, (m.id, f"~{m.other_part}")) for m in self.missing_only)

    @property
    def missing_shares(self) -> tuple[tuple[str, str], ...]:
        """Each missing registration and the phase it is a share of."""
        return tuple((m.id, m.part_of) for m in self.missing)

    @property
    def population_columns(self) -> dict[str, str]:
        """A figure's population text -> the phase that is that population."""
        return {p.population: p.id for p in self.phases if p.population is not None}


def _funnel(entries: list[dict], figures: tuple[Figure, ...]) -> Funnel:
    fields = {"id", "kind", "label", "source", "sql", "description"}
    phase_fields = {"population"}
    missing_fields = {"part_of", "other_part", "short", "share_label"}
    counts = []
    for entry in entries:
        count_id, kind = entry.get("id"), entry.get("kind")
        if kind not in FUNNEL_KINDS:
            raise ValueError(f"funnel {count_id}: kind is one of {FUNNEL_KINDS}, not {kind!r}")
        allowed = fields | (phase_fields if kind == "phase" else missing_fields)
        needed = fields | (missing_fields if kind == "missing" else set())
        if set(entry) - allowed or needed - set(entry):
            raise ValueError(
                f"funnel {count_id}: unknown {sorted(set(entry) - allowed)}, "
                f"missing {sorted(needed - set(entry))}"
            )
        counts.append(FunnelCount(**{k: str(v) for k, v in entry.items()}))
    funnel = Funnel(tuple(counts))
    if len(set(funnel.columns)) != len(counts):
        raise ValueError("funnel: two counts with one id")
    if [c.kind for c in counts] != sorted((c.kind for c in counts), key=FUNNEL_KINDS.index):
        raise ValueError("funnel: the phases first, then the missing registrations")
    phases = {p.id for p in funnel.phases}
    for missing in funnel.missing:
        if missing.part_of not in phases or missing.other_part == missing.id:
            raise ValueError(f"funnel {missing.id}: part_of is a phase, other_part another count")
        if missing.other_part in funnel.columns and missing.other_part not in phases:
            raise ValueError(f"funnel {missing.id}: other_part {missing.other_part} is no phase")
    beside = [m.other_part for m in funnel.missing if m.other_part in phases]
    if len(set(beside)) != len(beside):
        raise ValueError("funnel: a phase is the other part of two missing registrations")
    populations = {f.population_text for f in figures}
    unknown = {p.population for p in funnel.phases} - populations - {None}
    if unknown:
        raise ValueError(f"funnel: no figure has the population {sorted(unknown)}")
    return funnel


@dataclass(frozen=True)
class Site:
    """What the site shows of the figures, in the tuples report/views.py reads."""

    indicators: tuple[tuple[str, str, str], ...]  # figure, category, label
    # diagram (None: none in the report), figure, breakdowns, title, own source (None: the
    # figure's)
    diagrams: tuple[tuple[int | None, str, tuple[str, ...], str, str | None], ...]
    text_comparisons: tuple[tuple[str, tuple[str, ...], str, str], ...]  # figure, ..., source


@dataclass(frozen=True)
class FigureCatalogue:
    year_date: str
    breakdowns: tuple[Breakdown, ...]
    figures: tuple[Figure, ...]
    kolada: tuple[KoladaFigure, ...]
    site: Site
    funnel: Funnel

    def kolada_figure(self, figure: str) -> KoladaFigure:
        for kolada in self.kolada:
            if kolada.figure == figure:
                return kolada
        raise KeyError(figure)

    def statistics_population(self, kolada: KoladaFigure) -> str | None:
        """The population whose year cells in the national statistics are this Kolada figure's
        counts (the same cases and the same date putting a case in a year), or None: a reader
        of both has each count twice, so the two publications withhold the same cells."""
        if kolada.year_date != self.year_date:
            return None
        for figure in self.figures:
            if (figure.population_text, figure.population_sql) == (
                kolada.cases_text,
                kolada.cases_sql,
            ):
                return figure.population_text
        return None

    def figure(self, figure_id: str) -> Figure:
        for figure in self.figures:
            if figure.id == figure_id:
                return figure
        raise KeyError(figure_id)

    def breakdown(self, breakdown_id: str) -> Breakdown:
        for breakdown in self.breakdowns:
            if breakdown.id == breakdown_id:
                return breakdown
        raise KeyError(breakdown_id)

    @property
    def dimensions(self) -> tuple[Breakdown, ...]:
        """The breakdowns by one value of a case (not 'alla', not cross-tabulations)."""
        return tuple(b for b in self.breakdowns if b.sql is not None)


def _codes_of(catalogue: Catalogue, key: str) -> tuple[int, ...]:
    variable = catalogue.by_key(key)
    if not variable.codes:
        raise ValueError(f"figure catalogue: variable {key} has no codes")
    return tuple(sorted(variable.codes))


def _figure(entry: dict, catalogue: Catalogue) -> Figure:
    figure_id = entry["id"]
    category, chosen = entry.get("category"), entry.get("chosen")
    if category is not None and chosen is not None:
        raise ValueError(f"figure {figure_id}: give category or chosen, not both")
    if entry["kind"] not in KINDS:
        raise ValueError(f"figure {figure_id}: unknown kind {entry['kind']!r}")
    answer_codes = None
    if chosen is not None:
        answer_codes = _codes_of(catalogue, entry.get("answers_of_codes", chosen))
    n_sql = entry["n"].get("sql")
    if n_sql is None and category is None and chosen is None:
        raise ValueError(f"figure {figure_id}: a figure of derived categories only needs n.sql")
    if n_sql is None:
        n_sql = (
            f"({category}) is not null"
            if category is not None
            # the default of a multiple-choice figure: at least one of the variable's answers
            else "(" + " or ".join(f"{chosen}_{c}" for c in _codes_of(catalogue, chosen)) + ")"
        )
    categories = entry.get("categories") or {}
    code_list = categories.get("codes")
    if code_list is not None and entry.get("variable") is None:
        raise ValueError(f"figure {figure_id}: categories from codes need its variable")
    if entry.get("variable") is not None:
        catalogue.variable(entry["variable"])  # raises for an unknown SUV number
    reference = categories.get("reference")
    if reference is not None and reference not in REFERENCE_SEEDS:
        raise ValueError(f"figure {figure_id}: unknown reference seed {reference!r}")
    derived = tuple(
        DerivedCategory(
            id=str(c["id"]),
            label=c["label"],
            sort_order=int(c["sort_order"]),
            parts=c.get("parts"),
            when=c.get("when"),
        )
        for c in categories.get("derived") or ()
    )
    if len({c.id for c in derived}) != len(derived):
        raise ValueError(f"figure {figure_id}: two derived categories with one id")
    if category is None and any(c.when is None for c in derived):
        raise ValueError(f"figure {figure_id}: without a category expression, give each `when`")
    return Figure(
        id=figure_id,
        title=entry["title"],
        diagram=entry.get("diagram"),
        source=entry["source"],
        report_n=entry.get("report_n"),
        kind=entry["kind"],
        variable=entry.get("variable"),
        population_text=entry["population"]["text"],
        population_sql=str(entry["population"]["sql"]),
        n_text=entry["n"]["text"],
        n_sql=str(n_sql),
        category=category,
        chosen=chosen,
        answer_codes=answer_codes if entry.get("answers_of_codes") else None,
        value=entry.get("value"),
        code_list=code_list,
        except_codes=tuple(categories.get("except_codes") or ()),
        reference=reference,
        derived=derived,
    )


def _breakdowns(entries: list[dict], figures: tuple[Figure, ...]) -> tuple[Breakdown, ...]:
    by_id = {f.id: f for f in figures}
    breakdowns: list[Breakdown] = []
    for entry in entries:
        levels = tuple(entry["levels"])
        if not set(levels) <= set(LEVELS):
            raise ValueError(f"breakdown {entry['id']}: unknown level in {levels}")
        sql = entry.get("sql")
        labels_from = entry.get("labels_from", entry.get("figure"))
        only_figures = tuple(entry.get("only_figures") or ())
        unknown = {f for f in (*only_figures, labels_from) if f is not None} - by_id.keys()
        if unknown:
            raise ValueError(f"breakdown {entry['id']}: unknown figures {sorted(unknown)}")
        if "figure" in entry:
            # a breakdown by a figure's categories: the figure's category expression
            sql = by_id[entry["figure"]].category
            if sql is None:
                raise ValueError(
                    f"breakdown {entry['id']}: figure {entry['figure']} has no category"
                )
        of = tuple(entry.get("of") or ())
        known = {b.id for b in breakdowns if b.sql is not None}
        if not set(of) <= known:
            raise ValueError(f"breakdown {entry['id']}: crosses unknown breakdowns {of}")
        if entry["id"] != "alla" and sql is None and not of:
            raise ValueError(f"breakdown {entry['id']}: give sql, figure or of")
        breakdowns.append(
            Breakdown(
                id=entry["id"],
                title=entry["title"],
                levels=levels,
                sql=sql,
                of=of,
                only_figures=only_figures,
                labels_from=labels_from,
                value_labels={str(k): v for k, v in entry["value_labels"].items()}
                if "value_labels" in entry
                else None,
            )
        )
    if [b.id for b in breakdowns][:1] != ["alla"] or len({b.id for b in breakdowns}) != len(
        breakdowns
    ):
        raise ValueError("breakdowns: 'alla' first, each id once")
    return tuple(breakdowns)


def _site(entry: dict, figures: tuple[Figure, ...], breakdowns: tuple[Breakdown, ...]) -> Site:
    figure_ids, breakdown_ids = {f.id for f in figures}, {b.id for b in breakdowns}

    def checked(item: dict) -> tuple[str, tuple[str, ...]]:
        named = tuple(item.get("breakdowns") or ())
        if item["figure"] not in figure_ids or not set(named) <= breakdown_ids:
            raise ValueError(f"site: unknown figure or breakdown in {item}")
        return item["figure"], named

    indicators = tuple((checked(i)[0], str(i["category"]), i["label"]) for i in entry["indicators"])
    diagrams = tuple(
        (d["diagram"], *checked(d), d["title"], d.get("source")) for d in entry["diagrams"]
    )
    comparisons = tuple((*checked(c), c["title"], c["source"]) for c in entry["text_comparisons"])
    return Site(indicators=indicators, diagrams=diagrams, text_comparisons=comparisons)


def parse_figures(text: str, catalogue: Catalogue | None = None) -> FigureCatalogue:
    catalogue = catalogue or load_catalogue()
    document = yaml.safe_load(text)
    figures = tuple(_figure(entry, catalogue) for entry in document["figures"])
    if len({f.id for f in figures}) != len(figures):
        raise ValueError("figure catalogue: two figures with one id")
    catalogue.by_key(document["year_date"])  # raises for an unknown variable
    kolada = []
    for entry in document["kolada"]:
        date = catalogue.by_key(entry["year_date"])
        if date.type != "date":
            raise ValueError(f"kolada {entry['figure']}: year_date {date.key} is not a date")
        kolada.append(
            KoladaFigure(
                figure=entry["figure"],
                kpi=entry["kpi"],
                cases_text=entry["cases"]["text"],
                cases_sql=str(entry["cases"]["sql"]),
                year_date=date.key,
                year_suv=date.suv,
            )
        )
    if len({k.figure for k in kolada}) != len(kolada):
        raise ValueError("figure catalogue: two Kolada figures with one name")
    breakdowns = _breakdowns(document["breakdowns"], figures)
    return FigureCatalogue(
        year_date=document["year_date"],
        breakdowns=breakdowns,
        figures=figures,
        kolada=tuple(kolada),
        site=_site(document["site"], figures, breakdowns),
        funnel=_funnel(document["funnel"], figures),
    )


def figures_path() -> Path:
    return Path(str(resources.files(__package__).joinpath("figures.yaml")))


@cache
def load_figures() -> FigureCatalogue:
    return parse_figures(figures_path().read_text(encoding="utf-8"))
