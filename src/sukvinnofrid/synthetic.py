"""Deterministic generator of realistic SU-Kvinnofrid upload files (synthetic data, no real people).

One file per kommun (or stadsdel) per collection round, named ``sukf_<kod>_<round>.<csv|xlsx>``,
with the wide column layout of the variable catalogue (``load_catalogue().column_names``).

Each case has one hidden life history, drawn once from its own random stream
(``random.Random(f"{seed}:{kommun}:{case_number}")``, so adding kommuner or cases never changes
the other kommuners' data): aktualisering (v5) → insats started (v117 + v118, under phase) →
avslutad (v256 + v257, v161, v192) → brukarenkät answered (202, 203, 206, 212, 217), plus dated
risk assessments (v90). A round's file is a cumulative extract: every case with v5 on or before
the round's closing date (the last day of the round month), showing only what had happened by
that date. So a case progresses between rounds, keeps its key
(v2_kommun, v1_verksamhet, v4_klient, v5_datum_aktualisering), and closed cases stay closed.

The distributions are calibrated to the national figures of SKR's report on SU-Kvinnofrid
2021-2023 (see /work/shared/seeds/README.md and seeds/figures.md), with the report's
definitions: the shares of a figure are over the cases with an answer, and diagram 9's shares
over the cases with an insats (N = 2 623). Like the report's data, a clean round has the missing
registrations the report shows (``MISSING_REGISTRATIONS``): kön missing in 22 and ålder in 64 of
3 070 cases, no utövare in 57, closed cases without a reason for closing (257) or without a
date of closing (256: the report's diagram 16 has N = 2 163 of the 2 421 closed cases), insatser
without a start date, v203 answered by 818 of 878 respondents (also when 202 shows no
improvement). Otherwise clean output satisfies the structural rules (dates in order and within
[2000-01-01, round close], efter-phase and brukarenkät answers only in closed cases, age 18-110,
risk slots filled from 1 with non-decreasing time points, unique case keys) and never contains a
personnummer. Named defects (``DEFECTS``) can be injected per (kommun, round) file; the returned
``GeneratedFile.defects`` say exactly where.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import io
import itertools
import math
import random
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sukvinnofrid.catalogue import load_catalogue, risk_column
from sukvinnofrid.rounds import round_close

__all__ = [
    "DEFAULT_FORMAT",
    "DEFECTS",
    "FORMATS",
    "SHEET_NAME",
    "Defect",
    "GeneratedFile",
    "file_name",
    "generate_round_files",
    "national_round_plan",
    "round_close",
]

FORMATS: dict[str, str] = {
    "csv-semicolon-utf8": "CSV, ';' separated, UTF-8 without BOM",
    "csv-comma-utf8-bom": "CSV, ',' separated, UTF-8 with BOM (Excel 'CSV UTF-8')",
    "csv-semicolon-cp1252": "CSV, ';' separated, Windows-1252 (Excel 'CSV' on Swedish Windows)",
    "xlsx": "Excel workbook, sheet 'Ärenden', header row then data, every cell text",
}
DEFAULT_FORMAT = "csv-semicolon-utf8"
SHEET_NAME = "Ärenden"
EARLIEST_DATE = dt.date(2000, 1, 1)
EXTRA_COLUMN = "lokal_variabel"
FORMULA = "=cmd|' /C calc'!A0"

DEFECTS: dict[str, str] = {
    # privacy
    "personnummer_in_klient": "v4_klient holds a (Luhn-valid) personnummer instead of a pseudonym",
    "personnummer_in_comment": "a comment column contains a (Luhn-valid) personnummer",
    # structure
    "missing_required_column": "the required column v5_datum_aktualisering is missing",
    "unknown_extra_column": "an extra local column 'lokal_variabel' (a warning, not an error)",
    "wrong_kommun_in_rows": "v2_kommun of one row names another kommun than the file",
    # dates
    "bad_date_format": "v5_datum_aktualisering written as ÅÅÅÅ/MM/DD instead of ÅÅÅÅ-MM-DD",
    "date_order": "v256_datum_avslut is before v5_datum_aktualisering",
    "insats_before_aktualisering": "v117_datum_insats is before v5_datum_aktualisering",
    "date_after_round_close": "v117_datum_insats is later than the round's closing date",
    "date_before_2000": "v5_datum_aktualisering is before 2000-01-01",
    # codes and values
    "unknown_code": "v67_valdets_grad has a code outside the code list (7)",
    "multi_choice_bad_value": "a multiple-choice column holds 'x2' instead of 1/blank/0",
    "age_out_of_range": "v15_alder is 12 (outside 18-110)",
    "age_not_integer": "v15_alder is the word 'trettio'",
    "kon_invalid": "v14_kon is 3",
    # consistency between phases
    "avslutsorsak_without_avslut": "v257_avslutsorsak given in a case without v256_datum_avslut",
    "avslut_without_avslutsorsak": "v256_datum_avslut given but v257_avslutsorsak blank",
    "brukarenkat_in_open_case": "brukarenkät answer (v202) in a case that is not closed",
    "maluppfoljning_in_open_case": "v192_maluppfoljning in a case that is not closed",
    "v203_without_improvement": "v203 answered although v202 is not 1 or 2",
    "insats_without_date": "v118 insatser given but v117_datum_insats blank",
    "date_without_insats": "v117_datum_insats given but no v118 insats chosen",
    "duplicate_case_key": "a case row appears twice (same key v2, v1, v4, v5)",
    # risk assessments (v90)
    "risk_bad_instrument": "v90_1_instrument is 9 (not an instrument code)",
    "risk_score_out_of_scale": "v90_1_skattning is 11 (scale 1-10)",
    "risk_bad_time_point": "v90_1_tidpunkt is 4 (time points 1-3)",
    "risk_time_points_out_of_order": "v90_2_tidpunkt is earlier than v90_1_tidpunkt",
    # whole file
    "empty_file": "the file has no bytes at all",
    "header_only": "the file has the header row but no cases",
    "binary_junk": "the file is random bytes",
    "utf16": "the CSV file is encoded UTF-16 (with BOM)",
    "formula_injection": "a comment column holds a spreadsheet formula (=cmd|...)",
}

_WHOLE_FILE_CONTENT = ("empty_file", "header_only", "binary_junk")


@dataclass(frozen=True)
class Defect:
    name: str  # one of DEFECTS
    source_row: int | None  # file row (header = 1, first case = 2); None for whole-file defects
    column: str | None  # catalogue column affected (or the extra column)


@dataclass(frozen=True)
class GeneratedFile:
    path: Path
    kommun_kod: str
    round_id: str
    rows: int  # data rows in the file
    fmt: str
    defects: tuple[Defect, ...]


# --------------------------------------------------------------------------------------------
# Rounds and file names
# --------------------------------------------------------------------------------------------


def file_name(kommun_kod: str, round_id: str, fmt: str = DEFAULT_FORMAT) -> str:
    return f"sukf_{kommun_kod}_{round_id}.{'xlsx' if fmt == 'xlsx' else 'csv'}"


# --------------------------------------------------------------------------------------------
# Column layout
# --------------------------------------------------------------------------------------------


class _Layout:
    def __init__(self) -> None:
        cat = load_catalogue()
        self.names: tuple[str, ...] = cat.column_names
        self.n = len(self.names)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.col = {v.suv: v.column for v in cat.variables}
        self.codes = {v.suv: tuple(v.codes) for v in cat.variables}
        self.comment = {
            v.suv: self.index[f"{v.column}_kommentar"] for v in cat.variables if v.has_comment
        }
        self.slots = cat.risk_slots()
        self.risk = [
            (
                self.index[risk_column(s, "tidpunkt")],
                self.index[risk_column(s, "instrument")],
                self.index[risk_column(s, "skattning")],
            )
            for s in range(1, self.slots + 1)
        ]

    def i(self, suv: int) -> int:
        return self.index[self.col[suv]]

    def choice(self, suv: int, code: int) -> int:
        return self.index[f"{self.col[suv]}_{code}"]

    def choice_columns(self, suv: int) -> list[str]:
        return [f"{self.col[suv]}_{code}" for code in self.codes[suv]]

    def comment_name(self, suv: int) -> str:
        return f"{self.col[suv]}_kommentar"


_LAYOUT: _Layout | None = None


def _layout() -> _Layout:
    global _LAYOUT
    if _LAYOUT is None:
        _LAYOUT = _Layout()
    return _LAYOUT


# --------------------------------------------------------------------------------------------
# Distributions (calibrated to SU-Kvinnofrid 2021-2023, see module docstring)
# --------------------------------------------------------------------------------------------


class _Table:
    """A categorical distribution: values with weights; None means 'not registered'."""

    def __init__(self, items: Sequence[tuple[object, float]]) -> None:
        total = sum(w for _, w in items)
        self.values = [v for v, _ in items]
        self.cum = list(_accumulate([w / total for _, w in items]))
        self.cum[-1] = 1.0

    def draw(self, rng: random.Random):
        return self.values[bisect.bisect_right(self.cum, rng.random())]


def _accumulate(weights):
    total = 0.0
    for w in weights:
        total += w
        yield total


_AGE_GROUP = _Table(
    [((18, 24), 0.12), ((25, 44), 0.64), ((45, 64), 0.21), ((65, 74), 0.025), ((75, 94), 0.005)]
)
_URSPRUNG = _Table([(1, 0.57), (2, 0.07), (3, 0.08), (4, 0.24), (5, 0.02), (None, 0.02)])
_HRV = _Table([(1, 0.10), (2, 0.82), (3, 0.06), (None, 0.02)])
_GRAD_HRV = _Table([(3, 0.37), (2, 0.45), (1, 0.15), (None, 0.03)])
_GRAD = _Table([(3, 0.181), (2, 0.461), (1, 0.318), (None, 0.04)])
_MAL = _Table([(2, 0.70), (1, 0.18), (3, 0.05), (None, 0.07)])
_TYP = _Table([(1, 0.55), (2, 0.35), (3, 0.03), (None, 0.07)])
_VERKSAMHET = _Table([(1, 0.55), (3, 0.25), (2, 0.15), (4, 0.05)])
_INSTRUMENT_FIRST = _Table([(1, 0.495), (6, 0.435), (2, 0.025), (3, 0.025), (5, 0.025), (4, 0.005)])
_N_SLOTS = _Table([(1, 0.55), (2, 0.30), (3, 0.11), (4, 0.03), (5, 0.007), (6, 0.003)])
_INITIATIV_OTHER = _Table(
    [(8, 0.25), (10, 0.22), (11, 0.12), (13, 0.14), (14, 0.10), (2, 0.04), (9, 0.05), (12, 0.08)]
)
_SAMVERKAN_OTHER = _Table(
    [(5, 0.30), (6, 0.20), (2, 0.12), (1, 0.14), (9, 0.08), (3, 0.04), (4, 0.02), (8, 0.10)]
)
# avslutsorsak among closed cases, by whether the case had an insats
_AVSLUT_INSATS = _Table(
    [(1, 0.41), (2, 0.009), (3, 0.28), (4, 0.15), (5, 0.05), (6, 0.006), (7, 0.08)]
)
_AVSLUT_NO_INSATS = _Table([(2, 0.35), (3, 0.35), (4, 0.20), (5, 0.03), (7, 0.07)])
# case duration buckets (days from v5 to v256), by avslutsorsak
# (diagram 16: many under three months, half as many three to six, some over a year; diagram
# 17: N = 1 526 within the four 90-day periods of the 2 421 closed with a reason)
_DUR_GOAL = _Table([((1, 90), 0.32), ((91, 180), 0.26), ((181, 360), 0.18), ((361, 540), 0.24)])
_DUR_OTHER = _Table([((1, 90), 0.48), ((91, 180), 0.24), ((181, 360), 0.12), ((361, 540), 0.16)])
_DUR_UTREDNING = _Table([((1, 90), 0.80), ((91, 180), 0.18), ((181, 360), 0.02)])
# genomförande (v161) in closed cases with insats
_GENOMF_GOAL = _Table([(1, 0.70), (2, 0.20), (3, 0.03), (4, 0.03), (None, 0.04)])
_GENOMF_OTHER = _Table([(1, 0.255), (2, 0.23), (3, 0.40), (4, 0.062), (None, 0.053)])
# måluppföljning (v192) in closed cases, by avslutsorsak
_MALUPPF_GOAL = _Table([(1, 0.70), (2, 0.19), (5, 0.09), (None, 0.02)])
_MALUPPF_OTHER = _Table([(1, 0.16), (2, 0.25), (3, 0.145), (4, 0.09), (5, 0.33), (None, 0.025)])
# brukarenkät
_V202_TOP = _Table([(1, 0.54), (2, 0.20), (3, 0.06), (4, 0.01), (6, 0.19)])
_V202_OTHER = _Table([(1, 0.51), (2, 0.21), (3, 0.09), (4, 0.012), (5, 0.005), (6, 0.173)])
# v203 (diagram 19, N = 818 of 878): asked "om situationen har förbättrats", but answered by 93 %
# of the respondents: by nearly all whose situation improved, and by 78 % of the others, mostly
# "vet inte", so that the shares over all 818 answers are the report's.
_V203_IMPROVED = _Table([(5, 0.22), (4, 0.635), (3, 0.08), (2, 0.045), (6, 0.02)])
_V203_OTHER = _Table([(6, 0.75), (3, 0.10), (2, 0.10), (1, 0.05)])
_V203_OTHER_RATE = 0.78
_V206 = _Table([(1, 0.80), (2, 0.05), (3, 0.12), (None, 0.03)])
_V212 = _Table([(5, 0.28), (4, 0.32), (3, 0.10), (2, 0.035), (1, 0.015), (6, 0.25)])

# insatser (v118) among the cases with an insats (diagram 9, N = 2 623: stödsamtal 63 %,
# rådgivning 52 %, genomgång av säkerhet 28 %, skyddat boende 21 %, praktiskt stöd 18 %, boende
# at least 27 %; 2.4 per case), for the average case; modified per case (HRV, risk, age)
_INSATS_BASE = {
    4: 0.66,
    3: 0.505,
    7: 0.285,
    10: 0.205,
    1: 0.18,
    2: 0.10,
    8: 0.12,
    5: 0.06,
    6: 0.05,
    9: 0.04,
    11: 0.05,
    13: 0.05,
    14: 0.02,
    19: 0.04,
    12: 0.01,
}
_INSATS_HRV_ONLY = {15: 0.20, 16: 0.04, 17: 0.03, 18: 0.10}
# diagram 23: stödsamtal is the one insats HRV cases get less often (52 % against 66 %)
_STODSAMTAL_HRV = 0.75
# The report's missing registrations (seeds/figures.md): shares of all cases, of the closed
# cases and of the cases with an insats.
MISSING_REGISTRATIONS = {
    "kon": 22 / 3070,  # diagram 2: 2 858 + 190 = 3 048 of 3 070 with kön
    "alder": 64 / 3070,  # diagram 3: N = 3 006
    "utovare": 57 / 3070,  # diagram 8: N = 3 013
    "avslutsorsak": 0.012,  # closed cases without v257 (2 421 with one)
    "datum_avslut": 0.105,  # closed cases without v256 (diagram 16: N = 2 163)
    "datum_insats": 0.01,  # insatser without a start date
}

_COMMENTS_GENERIC = (
    "Se journalanteckning",
    "Uppgift från klienten",
    "Osäker uppgift",
    "Enligt handläggarens bedömning",
    "Kompletteras senare",
    "Klienten vill inte svara",
    "Tolk användes vid samtalet",
)
_COMMENTS = {
    19: ("Diagnos ej fastställd", "Klienten uppger adhd", "Nedsatt hörsel"),
    20: ("Födelseland okänt", "Klienten vill inte uppge födelseland"),
    41: ("Barnen bor hos klienten", "Orosanmälan gjord", "Barnen har eget stöd"),
    49: ("Kontakt via skolkurator", "Hänvisad från vårdcentralen", "Via arbetsgivaren"),
    58: ("Partnerns bror", "Tidigare partners nya partner", "Svärfamiljen"),
    67: ("Hot med kniv", "Upprepat psykiskt våld", "Ekonomiskt våld"),
    110: ("Ett tryggt boende", "Att kunna separera", "Minskad oro"),
    118: ("Stöd via kvinnojouren", "Hjälp med ansökan om kontaktförbud", "Larmpaket"),
    126: ("Delvis med beslut", "Beslut under utredning"),
    127: ("Samverkan med tandvården", "Kontakt med Försäkringskassan", "Samverkan med skolan"),
    161: ("Klienten avbröt samtalen", "Flyttade under pågående insats"),
    192: ("Målet delvis uppnått enligt klienten", "Svårt att bedöma"),
    257: ("Klienten flyttade till annan kommun", "Ärendet överfört till annan enhet"),
    206: ("Bemötandet", "Att bli trodd", "Snabb hjälp med boende"),
    217: (
        "Kortare väntetid",
        "Mer information om rättsprocessen",
        "Fler samtal",
        "Samtal på kvällstid",
        "Bättre information om skyddat boende",
    ),
}
_COMMENT_RATE = 0.01

_PSEUDONYM_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_LETTERS = "ABCDEFGHIJKLMNOPRSTUVY"


# --------------------------------------------------------------------------------------------
# One case: a hidden life history, rendered as of a round's closing date
# --------------------------------------------------------------------------------------------


class _Case:
    __slots__ = (
        "base",
        "close_date",
        "closed",
        "insats_date",
        "risk",
        "survey",
        "survey_date",
        "under",
        "v4",
        "v5",
    )

    def __init__(self) -> None:
        self.base: list[tuple[int, str]] = []
        self.under: list[tuple[int, str]] = []
        self.closed: list[tuple[int, str]] = []
        self.survey: list[tuple[int, str]] = []
        self.risk: list[tuple[dt.date, int, int, int]] = []
        self.insats_date: dt.date | None = None
        self.survey_date: dt.date | None = None

    def render(self, lay: _Layout, close: dt.date) -> list[str]:
        row = [""] * lay.n
        for i, v in self.base:
            row[i] = v
        if self.insats_date is not None and self.insats_date <= close:
            for i, v in self.under:
                row[i] = v
        if self.close_date <= close:
            for i, v in self.closed:
                row[i] = v
            if self.survey_date is not None and self.survey_date <= close:
                for i, v in self.survey:
                    row[i] = v
        for slot, (date, time_point, instrument, score) in enumerate(self.risk):
            if date > close:
                break
            ti, ii, si = lay.risk[slot]
            row[ti], row[ii], row[si] = str(time_point), str(instrument), str(score)
        return row


class _Kommun:
    """Per-kommun traits, from the kommun's own random stream."""

    def __init__(self, seed: int, kommun: str) -> None:
        rng = random.Random(f"{seed}:{kommun}")
        self.kommun = kommun
        self.verksamhet = _VERKSAMHET.draw(rng)
        pool: list[str] = []
        size = rng.randint(3, 12)
        while len(pool) < size:
            name = "H" + "".join(rng.choice(_LETTERS) for _ in range(rng.randint(2, 3)))
            if name not in pool:
                pool.append(name)
        self.handlaggare = pool


def _comment(rng: random.Random, suv: int) -> str:
    pool = _COMMENTS.get(suv, ())
    if pool and rng.random() < 0.75:
        return rng.choice(pool)
    return rng.choice(_COMMENTS_GENERIC)


def _make_case(
    rng: random.Random, lay: _Layout, kommun: _Kommun, start: dt.date, end: dt.date, taken: set[str]
) -> _Case:
    case = _Case()
    base = case.base
    add = base.append

    def maybe_comment(target: list[tuple[int, str]], suv: int, rate: float = _COMMENT_RATE):
        if rng.random() < rate:
            target.append((lay.comment[suv], _comment(rng, suv)))

    # --- bakgrund
    v1 = kommun.verksamhet if rng.random() < 0.85 else rng.choice((1, 2, 3, 4))
    while True:
        v4 = "KL-" + "".join(rng.choice(_PSEUDONYM_CHARS) for _ in range(6))
        if v4 not in taken:
            taken.add(v4)
            break
    v5 = start + dt.timedelta(days=rng.randrange((end - start).days + 1))
    case.v5, case.v4 = v5, v4
    add((lay.i(1), str(v1)))
    add((lay.i(2), kommun.kommun))
    add((lay.i(3), rng.choice(kommun.handlaggare)))
    add((lay.i(4), v4))
    add((lay.i(5), v5.isoformat()))
    kon = "1" if rng.random() < 0.94 else "2"
    if rng.random() >= MISSING_REGISTRATIONS["kon"]:
        add((lay.i(14), kon))
    lo, hi = _AGE_GROUP.draw(rng)
    age = rng.randint(lo, hi)
    if rng.random() >= MISSING_REGISTRATIONS["alder"]:
        add((lay.i(15), str(age)))

    # funktionsnedsättning (19)
    r = rng.random()
    if r < 0.10:
        pass
    elif r < 0.60:
        add((lay.choice(19, 4), "1"))
    elif r < 0.72:
        add((lay.choice(19, 5), "1"))
    else:
        chosen = [c for c, p in ((2, 0.6), (1, 0.3), (3, 0.15)) if rng.random() < p] or [2]
        for c in chosen:
            add((lay.choice(19, c), "1"))
    maybe_comment(base, 19)

    ursprung = _URSPRUNG.draw(rng)
    if ursprung is not None:
        add((lay.i(20), str(ursprung)))
    maybe_comment(base, 20, 0.01)

    # barnets behov (41)
    if rng.random() < 0.45:
        chosen = [
            c
            for c, p in ((5, 0.4), (6, 0.35), (4, 0.35), (1, 0.25), (3, 0.2), (2, 0.2), (7, 0.05))
            if rng.random() < p
        ] or [5]
        for c in chosen:
            add((lay.choice(41, c), "1"))
        maybe_comment(base, 41)

    # initiativ (49), diagram 6: klienten själv 59 %, another social-services unit (3-7) 24 %,
    # N = 3 317 answers for 3 070 cases (about one in ten names a second initiative)
    if rng.random() >= 0.02:
        r = rng.random()
        if r < 0.59:
            chosen = {1}
        elif r < 0.83:
            chosen = {rng.choice((3, 3, 4, 5, 5, 5, 6, 7))}
        else:
            chosen = {_INITIATIV_OTHER.draw(rng)}
        if rng.random() < 0.10:
            chosen.add(1 if 1 not in chosen and rng.random() < 0.3 else _INITIATIV_OTHER.draw(rng))
        for c in sorted(chosen):
            add((lay.choice(49, c), "1"))
        maybe_comment(base, 49, 0.4 if 14 in chosen else 0.01)

    # HRV (59) and grad (67)
    hrv = _HRV.draw(rng)
    if hrv is not None:
        add((lay.i(59), str(hrv)))
    is_hrv = hrv == 1
    grad = (_GRAD_HRV if is_hrv else _GRAD).draw(rng)
    if grad is not None:
        add((lay.i(67), str(grad)))
    maybe_comment(base, 67, 0.015)

    # utövare (58): partner 90 %, före detta 59 %, förälder 9 %, barn 2 %, annan 9 %
    utovare = set()
    if rng.random() < (0.70 if is_hrv else 0.922):
        if rng.random() < 0.59 / 0.90:
            utovare.add(2)
            if rng.random() < 0.04:
                utovare.add(1)
        else:
            utovare.add(1)
    if rng.random() < (0.45 if is_hrv else 0.035):
        utovare.add(3)
    if rng.random() < (0.40 if is_hrv else 0.02):
        utovare.add(4)
    if rng.random() < 0.012:
        utovare.add(5)
    if rng.random() < 0.065:
        utovare.add(6)
    if not utovare:
        utovare.add(rng.choice((3, 4, 5, 6, 6)))
    if rng.random() < MISSING_REGISTRATIONS["utovare"]:
        utovare.clear()
    for c in sorted(utovare):
        add((lay.choice(58, c), "1"))
    maybe_comment(base, 58, 0.3 if 6 in utovare else 0.01)

    mal = _MAL.draw(rng)
    if mal is not None:
        add((lay.i(110), str(mal)))
        maybe_comment(base, 110, 0.03 if mal == 2 else 0.01)

    # --- riskbedömning: whether one is made (56 %), drawn before the insatser it influences
    p_risk = {3: 0.68, 2: 0.56, 1: 0.46, None: 0.40}[grad] + (0.17 if is_hrv else 0.005)
    has_risk = rng.random() < p_risk

    # --- closing: avslutsorsak first, then the duration it goes with
    has_insats = rng.random() < (0.94 if is_hrv else 0.862)
    reason = (_AVSLUT_INSATS if has_insats else _AVSLUT_NO_INSATS).draw(rng)
    dur_table = _DUR_GOAL if reason == 1 else (_DUR_UTREDNING if reason == 2 else _DUR_OTHER)
    lo, hi = dur_table.draw(rng)
    duration = rng.randint(lo, hi)
    close_date = v5 + dt.timedelta(days=duration)
    case.close_date = close_date

    # --- under: insats (117, 118, 126, 127)
    if has_insats:
        delay = rng.randint(0, 3) if rng.random() < 0.35 else min(120, int(rng.expovariate(1 / 18)))
        delay = min(delay, rng.randint(0, duration))
        case.insats_date = v5 + dt.timedelta(days=delay)
        under = case.under
        if rng.random() >= MISSING_REGISTRATIONS["datum_insats"]:
            under.append((lay.i(117), case.insats_date.isoformat()))
        mult = (1.08 if has_risk else 0.78) * (1.12 if is_hrv else 1.0)
        if 65 <= age <= 74:
            mult *= 0.75
        codes = []
        for code, p in _INSATS_BASE.items():
            if code == 10 and is_hrv:
                p *= 1.6
            if code == 4 and is_hrv:
                p *= _STODSAMTAL_HRV
            if rng.random() < min(0.96, p * mult):
                codes.append(code)
        if is_hrv:
            codes += [c for c, p in _INSATS_HRV_ONLY.items() if rng.random() < p]
        if not codes:
            codes.append(4 if rng.random() < 0.6 else 3)
        for c in sorted(codes):
            under.append((lay.choice(118, c), "1"))
        maybe_comment(under, 118, 0.7 if 19 in codes else 0.015)
        typ = _TYP.draw(rng)
        if typ is not None:
            under.append((lay.i(126), str(typ)))
        maybe_comment(under, 126, 0.02)
        # samverkan: recorded in 91 % of insats cases; >=1 partner in 66 % of those
        if rng.random() < 0.908:
            if rng.random() < 0.658:
                partners = set()
                if rng.random() < 0.73:
                    partners.add(7)
                    extra = _poisson(rng, 0.40)
                else:
                    extra = 1 + _poisson(rng, 0.40)
                for _ in range(extra * 3):
                    if len(partners) >= (7 in partners) + extra:
                        break
                    partners.add(_SAMVERKAN_OTHER.draw(rng))
                for c in sorted(partners):
                    under.append((lay.choice(127, c), "1"))
                maybe_comment(under, 127, 0.9 if 9 in partners else 0.01)
            else:
                under.append((lay.choice(127, 10), "1"))

    # --- riskbedömningar (v90): dated, so later slots appear in later rounds
    if has_risk:
        first = _INSTRUMENT_FIRST.draw(rng)
        instruments = [first]
        if first == 1 and rng.random() < 0.13:
            instruments.append(6)
        elif first == 6 and rng.random() < 0.13:
            instruments.append(1)
        n = _N_SLOTS.draw(rng)
        if len(instruments) > n:
            n = len(instruments)
        t1_end = case.insats_date if has_insats else min(v5 + dt.timedelta(days=30), close_date)
        score = rng.randint(3, 9)
        time_point = 1 if (not has_insats or rng.random() < 0.95) else 2
        dates: list[tuple[int, dt.date]] = []
        for k in range(n):
            if k > 0:
                time_point = max(time_point, rng.choice((2, 2, 3) if has_insats else (1, 3)))
            if time_point == 1:
                span = (t1_end - v5).days
                date = v5 + dt.timedelta(days=rng.randint(0, max(0, min(span, 14))))
            elif time_point == 2:
                span = (close_date - case.insats_date).days
                date = case.insats_date + dt.timedelta(days=rng.randint(0, max(0, span)))
            else:
                date = close_date
            dates.append((time_point, date))
        dates.sort(key=lambda td: (td[0], td[1]))
        for k, (time_point, date) in enumerate(dates):
            if k > 0:
                score = max(1, min(10, score + rng.choice((-2, -1, -1, 0, 0, 1))))
            case.risk.append((date, time_point, instruments[k % len(instruments)], score))

    # --- efter: avslut (256, 257, 161, 192)
    closed = case.closed
    missing = rng.random()
    if missing >= MISSING_REGISTRATIONS["datum_avslut"]:
        closed.append((lay.i(256), close_date.isoformat()))
    if not (
        MISSING_REGISTRATIONS["datum_avslut"]
        <= missing
        < MISSING_REGISTRATIONS["datum_avslut"] + MISSING_REGISTRATIONS["avslutsorsak"]
    ):
        closed.append((lay.i(257), str(reason)))
    maybe_comment(closed, 257, 0.2 if reason in (5, 7) else 0.01)
    if has_insats:
        genomf = (_GENOMF_GOAL if reason == 1 else _GENOMF_OTHER).draw(rng)
        if genomf is not None:
            closed.append((lay.i(161), str(genomf)))
            maybe_comment(closed, 161, 0.3 if genomf == 4 else 0.01)
    v192 = (_MALUPPF_GOAL if reason == 1 else _MALUPPF_OTHER).draw(rng)
    if v192 is not None:
        closed.append((lay.i(192), str(v192)))
        maybe_comment(closed, 192, 0.01)

    # --- brukarenkät (202, 203, 206, 212, 217), answered at or shortly after avslut
    if rng.random() < (0.62 if v192 == 1 else 0.235):
        survey = case.survey
        case.survey_date = close_date + dt.timedelta(
            days=0 if rng.random() < 0.6 else rng.randint(1, 21)
        )
        v202 = (_V202_TOP if v192 == 1 else _V202_OTHER).draw(rng)
        survey.append((lay.i(202), str(v202)))
        if v202 in (1, 2):
            if rng.random() < 0.99:
                survey.append((lay.i(203), str(_V203_IMPROVED.draw(rng))))
        elif rng.random() < _V203_OTHER_RATE:
            survey.append((lay.i(203), str(_V203_OTHER.draw(rng))))
        v206 = _V206.draw(rng)
        if v206 is not None:
            survey.append((lay.i(206), str(v206)))
            maybe_comment(survey, 206, 0.05 if v206 == 1 else 0.01)
        survey.append((lay.i(212), str(_V212.draw(rng))))
        if rng.random() < 0.10:
            survey.append((lay.i(217), _comment(rng, 217)))
    return case


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _kommun_cases(
    seed: int, lay: _Layout, kommun: str, n: int, start: dt.date, end: dt.date
) -> list[_Case]:
    profile = _Kommun(seed, kommun)
    taken: set[str] = set()
    cases = [
        _make_case(random.Random(f"{seed}:{kommun}:{k}"), lay, profile, start, end, taken)
        for k in range(n)
    ]
    cases.sort(key=lambda c: (c.v5, c.v4))
    return cases


# --------------------------------------------------------------------------------------------
# Defects
# --------------------------------------------------------------------------------------------


def _luhn(nine_digits: str) -> int:
    total = 0
    for index, char in enumerate(nine_digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def _fake_personnummer(rng: random.Random, long: bool = False) -> str:
    """A made-up personnummer with a valid Luhn check digit (for the privacy defects only)."""
    year = rng.randint(1950, 2003)
    month, day, serial = rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 999)
    nine = f"{year % 100:02d}{month:02d}{day:02d}{serial:03d}"
    check = _luhn(nine)
    prefix = f"{year}" if long else f"{year % 100:02d}"
    return f"{prefix}{month:02d}{day:02d}-{serial:03d}{check}"


class _Injector:
    """Injects named defects into one file's rows; records where."""

    def __init__(
        self,
        rng: random.Random,
        header: list[str],
        rows: list[list[str]],
        kommun: str,
        close: dt.date,
    ) -> None:
        self.rng, self.header, self.rows = rng, header, rows
        self.kommun, self.close = kommun, close
        self.found: list[Defect] = []
        self.used: set[int] = set()
        self.lay = _layout()
        self.ix = {name: i for i, name in enumerate(header)}

    # --- helpers
    def c(self, suv: int) -> int:
        return self.ix[self.lay.col[suv]]

    def get(self, r: int, suv: int) -> str:
        return self.rows[r][self.c(suv)]

    def date(self, r: int, suv: int) -> dt.date | None:
        value = self.get(r, suv)
        return dt.date.fromisoformat(value) if value else None

    def pick(self, predicate=lambda r: True) -> int:
        rows = range(len(self.rows))
        for pool in (
            [r for r in rows if r not in self.used and predicate(r)],
            [r for r in rows if r not in self.used],
            list(rows),
        ):
            if pool:
                r = self.rng.choice(pool)
                self.used.add(r)
                return r
        raise ValueError("no rows to inject a defect into")

    def note(self, name: str, r: int | None, column: str | None) -> None:
        self.found.append(Defect(name, None if r is None else r + 2, column))

    def closed(self, r: int) -> bool:
        return self.get(r, 256) != "" or self.get(r, 257) != ""

    def insats(self, r: int) -> bool:
        return self.get(r, 117) != "" and any(
            self.rows[r][self.ix[c]] == "1" for c in self.lay.choice_columns(118)
        )

    def n_slots(self, r: int) -> int:
        row = self.rows[r]
        return sum(
            1
            for s in range(1, self.lay.slots + 1)
            if row[self.ix[risk_column(s, "tidpunkt")]] != ""
        )

    def clear(self, r: int, suvs: Sequence[int]) -> None:
        row = self.rows[r]
        for suv in suvs:
            variable_columns = [c.name for c in load_catalogue().columns_of(suv)]
            for name in variable_columns:
                if name in self.ix:
                    row[self.ix[name]] = ""

    def make_open(self, r: int) -> None:
        self.clear(r, (256, 257, 161, 192, 202, 203, 206, 212, 217))
        row = self.rows[r]
        for s in range(1, self.lay.slots + 1):  # an efter-assessment needs a closed case
            if row[self.ix[risk_column(s, "tidpunkt")]] == "3":
                for part in ("tidpunkt", "instrument", "skattning"):
                    row[self.ix[risk_column(s, part)]] = ""

    def make_closed(self, r: int) -> None:
        row = self.rows[r]
        latest = max(d for d in (self.date(r, 5), self.date(r, 117)) if d)
        row[self.c(256)] = min(self.close, latest + dt.timedelta(days=5)).isoformat()
        row[self.c(257)] = "7"

    def drop_insats(self, r: int) -> None:
        self.clear(r, (117, 118, 126, 127))

    # --- the defects
    def apply(self, name: str) -> None:
        getattr(self, f"_d_{name}")(name)

    def _d_personnummer_in_klient(self, name):
        r = self.pick()
        self.rows[r][self.c(4)] = _fake_personnummer(self.rng)
        self.note(name, r, self.lay.col[4])

    def _d_personnummer_in_comment(self, name):
        r = self.pick()
        column = self.lay.comment_name(49)
        self.rows[r][self.ix[column]] = (
            f"Klientens personnummer {_fake_personnummer(self.rng, long=True)} enligt journal"
        )
        self.note(name, r, column)

    def _d_formula_injection(self, name):
        r = self.pick()
        column = self.lay.comment_name(49)
        self.rows[r][self.ix[column]] = FORMULA
        self.note(name, r, column)

    def _d_wrong_kommun_in_rows(self, name):
        r = self.pick()
        other = "1480" if not self.kommun.startswith("1480") else "0180"
        self.rows[r][self.c(2)] = other
        self.note(name, r, self.lay.col[2])

    def _d_bad_date_format(self, name):
        r = self.pick()
        self.rows[r][self.c(5)] = self.date(r, 5).strftime("%Y/%m/%d")
        self.note(name, r, self.lay.col[5])

    def _d_date_before_2000(self, name):
        r = self.pick()
        v5 = self.date(r, 5)
        self.rows[r][self.c(5)] = dt.date(1999, v5.month, min(v5.day, 28)).isoformat()
        self.note(name, r, self.lay.col[5])

    def _d_date_order(self, name):
        r = self.pick(lambda r: self.closed(r) and not self.insats(r))
        if self.insats(r):
            self.drop_insats(r)
        v5 = self.date(r, 5)
        self.rows[r][self.c(256)] = max(EARLIEST_DATE, v5 - dt.timedelta(days=12)).isoformat()
        if self.get(r, 257) == "":
            self.rows[r][self.c(257)] = "7"
        self.note(name, r, self.lay.col[256])

    def _d_insats_before_aktualisering(self, name):
        r = self.pick(self.insats)
        if not self.insats(r):
            self.rows[r][self.ix[f"{self.lay.col[118]}_4"]] = "1"
        v5 = self.date(r, 5)
        self.rows[r][self.c(117)] = max(EARLIEST_DATE, v5 - dt.timedelta(days=7)).isoformat()
        self.note(name, r, self.lay.col[117])

    def _d_date_after_round_close(self, name):
        r = self.pick(lambda r: self.insats(r) and not self.closed(r))
        if self.closed(r):
            self.make_open(r)
        if not self.insats(r):
            self.rows[r][self.ix[f"{self.lay.col[118]}_4"]] = "1"
        self.rows[r][self.c(117)] = (self.close + dt.timedelta(days=10)).isoformat()
        self.note(name, r, self.lay.col[117])

    def _d_unknown_code(self, name):
        r = self.pick()
        self.rows[r][self.c(67)] = "7"
        self.note(name, r, self.lay.col[67])

    def _d_multi_choice_bad_value(self, name):
        r = self.pick()
        column = f"{self.lay.col[49]}_1"
        self.rows[r][self.ix[column]] = "x2"
        self.note(name, r, column)

    def _d_age_out_of_range(self, name):
        r = self.pick()
        self.rows[r][self.c(15)] = "12"
        self.note(name, r, self.lay.col[15])

    def _d_age_not_integer(self, name):
        r = self.pick()
        self.rows[r][self.c(15)] = "trettio"
        self.note(name, r, self.lay.col[15])

    def _d_kon_invalid(self, name):
        r = self.pick()
        self.rows[r][self.c(14)] = "3"
        self.note(name, r, self.lay.col[14])

    def _d_avslutsorsak_without_avslut(self, name):
        r = self.pick(lambda r: not self.closed(r))
        if self.closed(r):
            self.make_open(r)
        self.rows[r][self.c(257)] = "3"
        self.note(name, r, self.lay.col[257])

    def _d_avslut_without_avslutsorsak(self, name):
        r = self.pick(self.closed)
        if not self.closed(r):
            self.make_closed(r)
        self.clear(r, (257,))
        self.note(name, r, self.lay.col[257])

    def _d_brukarenkat_in_open_case(self, name):
        r = self.pick(lambda r: not self.closed(r))
        if self.closed(r):
            self.make_open(r)
        self.rows[r][self.c(202)] = "2"
        self.rows[r][self.c(212)] = "4"
        self.note(name, r, self.lay.col[202])

    def _d_maluppfoljning_in_open_case(self, name):
        r = self.pick(lambda r: not self.closed(r))
        if self.closed(r):
            self.make_open(r)
        self.rows[r][self.c(192)] = "2"
        self.note(name, r, self.lay.col[192])

    def _d_v203_without_improvement(self, name):
        r = self.pick(lambda r: self.get(r, 202) != "")
        if not self.closed(r):
            self.make_closed(r)
        self.rows[r][self.c(202)] = "3"
        self.rows[r][self.c(203)] = "4"
        self.note(name, r, self.lay.col[203])

    def _d_insats_without_date(self, name):
        r = self.pick(self.insats)
        if not self.insats(r):
            self.rows[r][self.ix[f"{self.lay.col[118]}_4"]] = "1"
        self.rows[r][self.c(117)] = ""
        self.note(name, r, self.lay.col[117])

    def _d_date_without_insats(self, name):
        r = self.pick(lambda r: not self.insats(r))
        self.drop_insats(r)
        v5, v256 = self.date(r, 5), self.date(r, 256)
        date = min(d for d in (v5 + dt.timedelta(days=3), self.close, v256) if d)
        self.rows[r][self.c(117)] = date.isoformat()
        self.note(name, r, self.lay.col[117])

    def _risk_row(self, minimum: int) -> int:
        r = self.pick(lambda r: self.n_slots(r) >= minimum)
        row = self.rows[r]
        for s in range(self.n_slots(r) + 1, minimum + 1):
            row[self.ix[risk_column(s, "tidpunkt")]] = "1" if s == 1 else "2"
            row[self.ix[risk_column(s, "instrument")]] = "1"
            row[self.ix[risk_column(s, "skattning")]] = "5"
        return r

    def _d_risk_bad_instrument(self, name):
        r = self._risk_row(1)
        column = risk_column(1, "instrument")
        self.rows[r][self.ix[column]] = "9"
        self.note(name, r, column)

    def _d_risk_score_out_of_scale(self, name):
        r = self._risk_row(1)
        column = risk_column(1, "skattning")
        self.rows[r][self.ix[column]] = "11"
        self.note(name, r, column)

    def _d_risk_bad_time_point(self, name):
        r = self._risk_row(1)
        column = risk_column(1, "tidpunkt")
        self.rows[r][self.ix[column]] = "4"
        self.note(name, r, column)

    def _d_risk_time_points_out_of_order(self, name):
        r = self._risk_row(2)
        self.rows[r][self.ix[risk_column(1, "tidpunkt")]] = "2"
        self.rows[r][self.ix[risk_column(2, "tidpunkt")]] = "1"
        self.note(name, r, risk_column(2, "tidpunkt"))

    def duplicate_case_key(self, name):
        r = self.pick()
        self.rows.append(list(self.rows[r]))
        self.note(name, len(self.rows) - 1, None)

    def missing_required_column(self, name):
        column = self.lay.col[5]
        for d in self.found:
            if d.column == column:
                raise ValueError(
                    f"defect {d.name} needs column {column}: cannot combine with "
                    f"missing_required_column"
                )
        k = self.header.index(column)
        del self.header[k]
        for row in self.rows:
            del row[k]
        self.note(name, None, column)

    def unknown_extra_column(self, name):
        self.header.append(EXTRA_COLUMN)
        for row in self.rows:
            row.append(self.rng.choice(("A", "B", "C", "")))
        self.note(name, None, EXTRA_COLUMN)


_ROW_LEVEL_LAST = ("duplicate_case_key",)
_STRUCTURE = ("missing_required_column", "unknown_extra_column")


def _inject(
    rng: random.Random,
    header: list[str],
    rows: list[list[str]],
    names: Sequence[str],
    kommun: str,
    close: dt.date,
) -> list[Defect]:
    injector = _Injector(rng, header, rows, kommun, close)
    order = [n for n in names if n not in _ROW_LEVEL_LAST + _STRUCTURE] + [
        n for n in _ROW_LEVEL_LAST + _STRUCTURE if n in names
    ]
    for name in order:
        if name in _ROW_LEVEL_LAST + _STRUCTURE:
            getattr(injector, name)(name)
        else:
            injector.apply(name)
    return injector.found


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _write_csv(path: Path, fmt: str, header: Sequence[str], rows, *, utf16: bool = False) -> None:
    delimiter = "," if fmt == "csv-comma-utf8-bom" else ";"
    encoding = {
        "csv-semicolon-utf8": "utf-8",
        "csv-comma-utf8-bom": "utf-8-sig",
        "csv-semicolon-cp1252": "cp1252",
    }[fmt]
    if utf16:
        encoding = "utf-16"
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)


_FIXED_ZIP_TIME = (2000, 1, 1, 0, 0, 0)
_CORE_TIME = re.compile(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def _write_xlsx(path: Path, header: Sequence[str], rows) -> None:
    from openpyxl import Workbook

    # A normal (not write-only) workbook, so the sheet carries its dimension (A1:...) and
    # read-only readers see full-width rows. Files are one kommun each: small.
    workbook = Workbook()
    workbook.properties.creator = "sukvinnofrid.synthetic"
    sheet = workbook.active
    sheet.title = SHEET_NAME
    sheet.append(list(header))
    for row in rows:
        sheet.append([value if value != "" else None for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    # Make the bytes deterministic: fixed zip entry times, fixed document timestamps.
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _CORE_TIME.sub(r"\g<1>2000-01-01T00:00:00Z\g<3>", data.decode()).encode()
            fixed = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            target.writestr(fixed, data)
    path.write_bytes(out.getvalue())


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def generate_round_files(
    out_dir: Path,
    kommuner: Sequence[str],
    rounds: Sequence[str],
    *,
    cases_per_kommun: int | Mapping[str, int] = 60,
    seed: int = 1,
    formats: Mapping[str, str] | None = None,
    defects: Mapping[tuple[str, str], Sequence[str]] | None = None,
    since: dt.date | None = None,
) -> list[GeneratedFile]:
    """Write one upload file per kommun and round into `out_dir`; return what was written.

    `cases_per_kommun` is the number of cases a kommun has aktualiserat over the whole period
    (from `since`, by default 364 days before the first round's close, up to the last round's
    close); each round's file holds the cases aktualiserade by its closing date. `formats` maps
    kommun code to one of FORMATS (default csv-semicolon-utf8). `defects` maps (kommun, round) to
    defect names.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rounds = list(rounds)
    if not rounds:
        raise ValueError("no rounds given")
    closes = [round_close(r) for r in rounds]
    if any(b <= a for a, b in itertools.pairwise(closes)):
        raise ValueError(f"rounds must be in increasing order: {rounds}")
    if len(set(kommuner)) != len(kommuner):
        raise ValueError("duplicate kommun codes")
    formats = dict(formats or {})
    for kommun, fmt in formats.items():
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r} for {kommun}; known: {sorted(FORMATS)}")
    defects = {key: list(names) for key, names in (defects or {}).items()}
    for (kommun, round_id), names in defects.items():
        if kommun not in kommuner or round_id not in rounds:
            raise ValueError(f"defects given for unknown file ({kommun}, {round_id})")
        unknown = [n for n in names if n not in DEFECTS]
        if unknown:
            raise ValueError(f"unknown defects {unknown}; known: {sorted(DEFECTS)}")
        whole = [n for n in names if n in _WHOLE_FILE_CONTENT]
        if whole and len(names) > 1:
            raise ValueError(
                f"{whole[0]} cannot be combined with other defects ({kommun}, {round_id})"
            )
        if "utf16" in names and formats.get(kommun, DEFAULT_FORMAT) == "xlsx":
            raise ValueError(f"utf16 applies to CSV files, {kommun} is written as xlsx")

    lay = _layout()
    start = max(EARLIEST_DATE, since or closes[0] - dt.timedelta(days=364))
    end = closes[-1]
    generated: list[GeneratedFile] = []
    for kommun in kommuner:
        n = (
            cases_per_kommun.get(kommun, 0)
            if isinstance(cases_per_kommun, Mapping)
            else cases_per_kommun
        )
        fmt = formats.get(kommun, DEFAULT_FORMAT)
        cases = _kommun_cases(seed, lay, kommun, n, start, end)
        for round_id, close in zip(rounds, closes, strict=True):
            path = out_dir / file_name(kommun, round_id, fmt)
            names = defects.get((kommun, round_id), [])
            count = bisect.bisect_right([c.v5 for c in cases], close)
            header = list(lay.names)
            rows = (case.render(lay, close) for case in cases[:count])
            found: list[Defect] = []
            if "empty_file" in names:
                path.write_bytes(b"")
                generated.append(
                    GeneratedFile(
                        path, kommun, round_id, 0, fmt, (Defect("empty_file", None, None),)
                    )
                )
                continue
            if "binary_junk" in names:
                junk = random.Random(f"{seed}:junk:{kommun}:{round_id}")
                path.write_bytes(b"\x00\x9f\x92\x96" + junk.randbytes(4092))
                generated.append(
                    GeneratedFile(
                        path, kommun, round_id, 0, fmt, (Defect("binary_junk", None, None),)
                    )
                )
                continue
            if "header_only" in names:
                rows, count = [], 0
                found.append(Defect("header_only", None, None))
            row_defects = [n for n in names if n not in ("utf16",) + _WHOLE_FILE_CONTENT]
            if row_defects:
                rows = list(rows)
                rng = random.Random(f"{seed}:defects:{kommun}:{round_id}")
                found += _inject(rng, header, rows, row_defects, kommun, close)
                count = len(rows)
            if fmt == "xlsx":
                _write_xlsx(path, header, rows)
            else:
                _write_csv(path, fmt, header, rows, utf16="utf16" in names)
            if "utf16" in names:
                found.append(Defect("utf16", None, None))
            generated.append(GeneratedFile(path, kommun, round_id, count, fmt, tuple(found)))
    return generated


def national_round_plan(total_cases: int, kommuner: Sequence[str], seed: int) -> dict[str, int]:
    """Distribute `total_cases` over `kommuner` roughly by size (a seeded lognormal weight each).

    The counts sum to `total_cases`; every kommun gets at least one case when there are enough.
    """
    if not kommuner:
        return {}
    weights = [random.Random(f"{seed}:plan:{k}").lognormvariate(0.0, 0.9) for k in kommuner]
    total_weight = sum(weights)
    exact = [total_cases * w / total_weight for w in weights]
    counts = [int(x) for x in exact]
    by_fraction = sorted(range(len(kommuner)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_fraction[: total_cases - sum(counts)]:
        counts[i] += 1
    if total_cases >= len(kommuner):
        for i in range(len(counts)):
            if counts[i] == 0:
                donor = max(range(len(counts)), key=lambda j: (counts[j], -j))
                counts[donor] -= 1
                counts[i] = 1
    return dict(zip(kommuner, counts, strict=True))
