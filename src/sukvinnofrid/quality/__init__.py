"""The quality gate: rules derived from the catalogue, GX suites, the gate and feedback reports.

- `rules`: every rule as SQL over the upload's rows (`build_rules`, `batch_query`).
- `suites`: the generated Great Expectations suite (`build_suite`, `write_suites`).
- `gate`: `run_quality_gate(upload_id)`, `run_pending()`.
- `feedback`: `write_feedback(upload_id)`, the Swedish report for the kommun.
"""
