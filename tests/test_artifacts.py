"""Everything derived from the variable catalogue is committed up to date."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from sukvinnofrid.artifacts import write_artifacts
from sukvinnofrid.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[1]


def _xlsx_cells(path: Path) -> dict[str, list[tuple]]:
    workbook = openpyxl.load_workbook(path, read_only=True)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets}


def test_generated_files_match_the_catalogue(tmp_path):
    written = write_artifacts(tmp_path)
    assert written, "nothing generated"
    for path in written:
        committed = ROOT / path.relative_to(tmp_path)
        assert committed.exists(), (
            f"{committed} is not committed: run sukvinnofrid generate-artifacts"
        )
        if path.suffix == ".xlsx":
            assert _xlsx_cells(path) == _xlsx_cells(committed), f"{committed} is stale"
        else:
            assert path.read_bytes() == committed.read_bytes(), (
                f"{committed} is stale: run sukvinnofrid generate-artifacts"
            )


def test_templates_carry_every_column_and_code():
    catalogue = load_catalogue()
    header = (ROOT / "templates" / "sukf_mall.csv").read_text(encoding="utf-8").strip().split(";")
    assert header == list(catalogue.column_names)
    sheets = _xlsx_cells(ROOT / "templates" / "sukf_mall.xlsx")
    assert list(sheets["Ärenden"][0]) == list(catalogue.column_names)
    listed = {(row[0], row[4]) for row in sheets["Koder"][1:]}
    for variable in catalogue.variables:
        for label in variable.codes.values():
            assert (variable.suv, label) in listed


def test_upload_format_document_names_every_variable():
    text = (ROOT / "docs" / "upload-format.md").read_text(encoding="utf-8")
    for variable in load_catalogue().variables:
        assert f"#### {variable.label}" in text
