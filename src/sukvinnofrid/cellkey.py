"""The Cell Key Method (SUKF_DISCLOSURE=ckm): small, consistent noise instead of withheld cells.

Every case has a record key, 0..255, a keyed hash of its pseudonymised case key (dbt macro
record_key, model int_case_record_keys): the same in every round. A published count's cell key
is the sum of its cases' record keys mod 256, made in the warehouse beside the count
(fct_case_funnel's <count>_cell_key, fct_national_figures' *_cell_key). The published value is
the count plus the perturbation table's (ptable's) value for (count, cell key). So the same
cases give the same published value in every table, at every level and in every round.

The ptable (`reference/ptable.csv`, published with every release as `ptable.csv`) is made by
`design` (scripts/make_ptable.py writes it) and has ONS's layout (columns pcv, ckey, pvalue, as
in the package cell-key-perturbation): for each count `pcv` and cell key `ckey` the noise
`pvalue`. A count above the largest pcv uses the row of the largest pcv (ONS reuses rows above
its table's end the same way). See docs/disclosure.md for the rule as a statistician reads it.

ONS's package is not used: its one entry point tabulates microdata in pandas (group by and
count), while our counts and their cell keys are made in the warehouse by dbt, and its lookup
then is one join. Its ptable layout is kept, so a ptable made with ONS's tools can be read here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

import sqlalchemy as sa

from .versioned import sha256_hex

KEYS = 256  # record and cell keys are 0..255
PTABLE_FILE = "ptable.csv"
PTABLE_PATH = Path(__file__).parent / "reference" / PTABLE_FILE
# The noise of a count well above the threshold, as numbers of the 256 cell keys per noise
# -2 .. +2: symmetric, so unbiased; P(0) = 1/2, variance 0.8.
NOISE = {-2: 13, -1: 51, 0: 128, 1: 51, 2: 13}
# The threshold's own row: to 0 for ZERO_KEYS cell keys, up by 1 for min_count * ZERO_KEYS, so
# that the mean noise is 0 (-min_count * 10 + 1 * 10 * min_count = 0).
ZERO_KEYS = 10


def design(min_count: int) -> list[tuple[int, int, int]]:
    """The ptable's rows (pcv, ckey, pvalue) for the rule: no published count is 1 ..
    min_count-1, and the noise is small and (as nearly as 256 keys allow) unbiased:
    - 0 stays 0 (an empty cell has no cases and cell key 0);
    - a count c of 1 .. min_count-1 becomes min_count for round(256 c / min_count) cell keys,
      else 0 (mean c, to within 256ths);
    - min_count: 0 for ZERO_KEYS keys, min_count + 1 for min_count * ZERO_KEYS, else itself;
    - min_count + 1: -1, 0, +1 as NOISE gives them, its +-2 at 0 (never below min_count);
    - min_count + 2 and above (the last row, used by every larger count): NOISE.
    Within a count, the cell keys take the published values in ascending order."""
    if not 2 <= min_count <= (KEYS - ZERO_KEYS) // (ZERO_KEYS + 1):
        raise ValueError(f"min_count {min_count} is outside what the ptable design allows")
    weights: dict[int, dict[int, int]] = {0: {0: KEYS}}
    for count in range(1, min_count):
        up = int((Decimal(KEYS * count) / min_count).quantize(Decimal(1), ROUND_HALF_UP))
        weights[count] = {-count: KEYS - up, min_count - count: up}
    weights[min_count] = {
        -min_count: ZERO_KEYS,
        0: KEYS - ZERO_KEYS - min_count * ZERO_KEYS,
        1: min_count * ZERO_KEYS,
    }
    # never below min_count: -2 and +2 both folded into 0, so still symmetric
    weights[min_count + 1] = {-1: NOISE[-1], 0: NOISE[0] + NOISE[-2] + NOISE[2], 1: NOISE[1]}
    weights[min_count + 2] = dict(NOISE)
    rows = []
    for count, noise in weights.items():
        keys = iter(range(KEYS))
        for value in sorted(noise):
            rows.extend((count, next(keys), value) for _ in range(noise[value]))
    return rows


def ptable_csv(rows: Iterable[tuple[int, int, int]]) -> bytes:
    """The ptable as ONS writes it: a header "pcv","ckey","pvalue", one row per count and key."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["pcv", "ckey", "pvalue"])
    writer.writerows(rows)
    return buffer.getvalue().encode("ascii")


@dataclass(frozen=True)
class PerturbationTable:
    noise: Mapping[tuple[int, int], int]  # (pcv, ckey) -> pvalue
    top: int  # the largest pcv: larger counts use its row
    data: bytes  # the file as published

    @property
    def sha256(self) -> str:
        return sha256_hex(self.data)

    def perturb(self, count: int, cell_key: int) -> int:
        """The published value of a count whose cell key is `cell_key`."""
        if count < 0 or not 0 <= cell_key < KEYS:
            raise ValueError(f"no ptable row for count {count}, cell key {cell_key}")
        return count + self.noise[(min(count, self.top), cell_key)]

    def check(self, min_count: int) -> None:
        """That the table keeps its promise for `min_count`: a row for every count and key, no
        published value below 0 or in 1 .. min_count-1, and 0 unchanged."""
        for count in range(self.top + 1):
            for key in range(KEYS):
                if (count, key) not in self.noise:
                    raise ValueError(f"ptable: no row for count {count}, cell key {key}")
                value = count + self.noise[(count, key)]
                if value < 0 or 1 <= value < min_count or (count == 0 and value != 0):
                    raise ValueError(
                        f"ptable: count {count} with cell key {key} is published as {value}, "
                        f"which the rule (never 1–{min_count - 1}) does not allow"
                    )


def read_ptable(data: bytes) -> PerturbationTable:
    noise = {}
    for row in csv.DictReader(io.StringIO(data.decode("ascii"))):
        noise[(int(row["pcv"]), int(row["ckey"]))] = int(row["pvalue"])
    return PerturbationTable(noise, max(count for count, _ in noise), data)


@cache
def ptable() -> PerturbationTable:
    """The committed ptable (reference/ptable.csv)."""
    return read_ptable(PTABLE_PATH.read_bytes())


# ---------------------------------------------------------------------------------------------
# the statistics of a round (sukvinnofrid.statistics)

FIGURE_GROUP = ("period_type", "period", "figure_id", "level", "area_code", "breakdown")


def figure_cell_keys(engine: sa.Engine, round_id: str) -> dict[tuple, tuple]:
    """fct_national_figures' cell keys of a round: (period_type, period, figure_id, level,
    area_code, breakdown, breakdown_value, category) -> (numerator, n, n_population, n_answers)
    cell keys."""
    with engine.connect() as conn:
        result = conn.execute(
            sa.text(
                "SELECT period_type, period, figure_id, level, area_code, breakdown,"
                " breakdown_value, category, numerator_cell_key, n_cell_key,"
                " n_population_cell_key, n_answers_cell_key"
                " FROM marts.fct_national_figures WHERE round_id = :r"
            ),
            {"r": round_id},
        )
        return {tuple(row[:8]): tuple(row[8:]) for row in result}


def perturb_funnel(funnel: list[dict], columns: Iterable[str], table: PerturbationTable):
    """The funnel rows with every count in `columns` perturbed by its <column>_cell_key."""
    columns = list(columns)
    return [
        {**row, **{c: table.perturb(row[c], row[f"{c}_cell_key"]) for c in columns}}
        for row in funnel
    ]


def _share(count: int, base: int) -> float | None:
    """A share of perturbed counts, in percent to one decimal (as the mart rounds it); at most
    100 (a category's perturbed count can exceed its perturbed N), none of an N of 0."""
    if base == 0:
        return None
    share = (Decimal(100 * count) / base).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return float(min(share, Decimal(100)))


def perturb_figures(figures: list, keys: Mapping[tuple, tuple], table, min_count: int, withheld):
    """The national-figure rows (statistics.FigureRow) with every count perturbed (the category's
    count, n, n_population, n_answers) and the shares made from the perturbed counts. A mean is
    not a count: it is published from the true values where the true N is at least min_count,
    else withheld (`withheld`, a string such as '..', in its place)."""
    perturbed = []
    for row in figures:
        numerator_key, n_key, population_key, answers_key = keys[(*row.group, row.category)]
        n = table.perturb(row.n, n_key)
        population = table.perturb(row.n_population, population_key)
        saknas = row.category == "saknas"
        changes = {
            "n": n,
            "n_population": population,
            "n_answers": None
            if row.n_answers is None
            else table.perturb(row.n_answers, answers_key),
        }
        if row.kind == "share" or saknas:
            count = table.perturb(row.numerator, numerator_key)
            changes["numerator"] = count
            changes["share_pct"] = _share(count, population if saknas else n)
        elif row.mean_value is not None and row.n < min_count:
            changes["mean_value"] = withheld
        perturbed.append(row._replace(**changes))
    return perturbed


def perturb_round(
    engine: sa.Engine,
    round_id: str,
    funnel: list[dict],
    figures: list,
    funnel_columns: Iterable[str],
    min_count: int,
    withheld: str,
) -> tuple[list[dict], list, int]:
    """A round's funnel and national figures as published under the Cell Key Method, and the
    number of means withheld. Refuses a ptable that breaks the rule for `min_count`."""
    table = ptable()
    try:
        table.check(min_count)
    except ValueError as error:
        raise ValueError(
            f"Perturbationstabellen {PTABLE_FILE} går inte att använda: {error}"
        ) from error
    funnel = perturb_funnel(funnel, funnel_columns, table)
    figures = perturb_figures(
        figures, figure_cell_keys(engine, round_id), table, min_count, withheld
    )
    return funnel, figures, sum(1 for row in figures if row.mean_value == withheld)


def method_text(min_count: int) -> str:
    """The published statement of the method (manifest 'suppression', the site's footnotes)."""
    return (
        "Skyddad med cellnyckelmetoden (Cell Key Method): varje antal har fått ett litet, "
        "slumpmässigt men alltid samma tillägg eller avdrag (brus), bestämt av vilka ärenden "
        "som ingår i cellen och av perturbationstabellen som publiceras med statistiken "
        f"({PTABLE_FILE}). Samma ärenden ger samma publicerade värde i varje tabell och varje "
        f"omgång. Inget publicerat antal är 1–{min_count - 1}: sådana antal publiceras som 0 "
        f"eller {min_count}, så 0 behöver inte vara en verklig nolla, och ett antal som är "
        f"{min_count} kan också publiceras som 0. Övriga antal ändras med högst 2. Summor, län "
        "och riket har eget brus, så delarna summerar inte alltid till totalen, och K + M "
        "behöver inte vara T. Andelar räknas på de publicerade antalen (högst 100 %). "
        "Medelvärden räknas på de faktiska värdena och redovisas inte (markeras ..) "
        f"när färre än {min_count} ärenden ingår."
    )
