{#-
    The cases the statistics count: per reporting unit (kommun or stadsdel) and round, the rows
    of the current accepted upload that are cases in scope, each registration as the
    statistics read it (macro valid_registrations: a wrong answer is null, "uppgift saknas").

    A row is a case unless it is not one in scope (docs/quality-rules.md): its latest gate run
    rejected it, or (the case definition itself, so no row that is not a case ever counts) its
    key cannot be read (no klient, no valid datum för aktualisering), it was aktualiserad after
    the round closed or before the catalogue's earliest date (before the collection could
    exist, e.g. 1899-12-31), or the klient is under 18. One ärende is counted once per kommun: the case
    key is (unit, klient, datum för aktualisering), without verksamhet, and when a key occurs
    twice in an upload the first row counts (the gate rejects the later ones as duplicates).

    Phases: has_insats when a start date (v117, valid or not) or an insats (v118) is registered;
    is_closed when a date (v256, valid or not) or a reason (v257) for closing is registered.
-#}
{#- Incremental by upload: an upload's cases are made once per gate run; an upload no longer in
    force (replaced by a correction) or gated again is deleted and, if in force, made again. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_stale_uploads() }}",
    indexes=[{'columns': ['upload_id']}],
) }}
{%- set scope = catalogue_variables() | selectattr('out_of_scope_below', 'defined') | list -%}
with uploads as (
    select uploads.*, coalesce(latest_run.run_id, 0) as run_id
    from {{ ref('int_uploads_in_force') }} as uploads
    left join {{ ref('int_upload_latest_runs') }} as latest_run
        on uploads.upload_id = latest_run.upload_id
    {%- if is_incremental() %}
    where
        not exists (
            select 1 from {{ this }} as built
            where built.upload_id = uploads.upload_id
        )
    {%- endif %}
),

case_records as (
    select * from {{ ref('stg_raw__case_records') }}
    where upload_id in (select uploads.upload_id from uploads)
),

rejected_rows as (
    select distinct findings.upload_id, findings.source_row
    from {{ ref('stg_quality__row_findings') }} as findings
    inner join uploads on findings.run_id = uploads.run_id
    where findings.severity = 'reject'
),

cases as (
    select
        uploads.unit_kod,
        uploads.round_id,
        case_records.upload_id,
        uploads.run_id,
        case_records.source_row,
        md5(concat_ws(
            '|',
            uploads.unit_kod,
            case_records.klient_pseudonym,
            case_records.datum_aktualisering::text
        )) as case_id,
        {{ phase_reached('under', 'case_records') }} as has_insats,
        {{ phase_reached('efter', 'case_records') }} as is_closed,
        {{ valid_registrations('case_records', 'uploads.round_end_date') }}
    from case_records
    inner join uploads on case_records.upload_id = uploads.upload_id
    left join rejected_rows
        on case_records.upload_id = rejected_rows.upload_id
        and case_records.source_row = rejected_rows.source_row
    where rejected_rows.upload_id is null
        and case_records.kommun is not null
        and case_records.klient_pseudonym is not null
        and case_records.datum_aktualisering is not null
        and case_records.datum_aktualisering <= uploads.round_end_date
        and case_records.datum_aktualisering >= date '{{ catalogue_earliest_date() }}'
        {%- for v in scope %}
        {%- set column = 'case_records.' ~ v.key %}
        and ({{ column }} is null or {{ column }} >= {{ v.out_of_scope_below }})
        {%- endfor %}
)

select distinct on (upload_id, case_id) *
from cases
order by upload_id, case_id, source_row
