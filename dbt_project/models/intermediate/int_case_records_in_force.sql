{#-
    The rows the statistics use: per reporting unit (kommun or stadsdel) and round, the current
    accepted upload, minus the rows its latest gate run rejected. One row per case: when a case
    key occurs twice in an upload the last row wins.
-#}
with uploads as (
    select * from {{ ref('int_uploads_in_force') }}
),

case_records as (
    select * from {{ ref('stg_raw__case_records') }}
),

latest_run as (
    select * from {{ ref('int_upload_latest_runs') }}
),

rejected_rows as (
    select distinct findings.upload_id, findings.source_row
    from {{ ref('stg_quality__row_findings') }} as findings
    inner join latest_run on findings.run_id = latest_run.run_id
    where findings.severity = 'reject'
),

kept as (
    select
        uploads.unit_kod,
        uploads.round_id,
        case_records.*,
        md5(concat_ws('|',
            uploads.unit_kod,
            coalesce(case_records.verksamhet::text, ''),
            coalesce(case_records.klient_pseudonym, ''),
            coalesce(case_records.datum_aktualisering::text, '')
        )) as case_id
    from case_records
    inner join uploads on case_records.upload_id = uploads.upload_id
    left join rejected_rows
        on case_records.upload_id = rejected_rows.upload_id
        and case_records.source_row = rejected_rows.source_row
    where rejected_rows.upload_id is null
)

select distinct on (upload_id, case_id) *
from kept
order by upload_id, case_id, source_row desc
