"""The quality gate: rules derived from the catalogue, GX suites, the gate and feedback reports.

- `rules`: every rule as SQL over the upload's rows (`build_rules`, `batch_query`).
- `suites`: the generated files of the Great Expectations project `expectations/` (`build_suite`,
  `write_gx_project`).
- `data_docs`: the Data Docs site builder and views that read offline.
- `gate`: `run_quality_gate(upload_id)`, `run_pending()`.
- `feedback`: `write_feedback(upload_id)`, the Swedish report for the kommun, from the
  templates in `templates/`.
"""
