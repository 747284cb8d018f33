{#-
    The round console (sukvinnofrid.report): per round and reporting unit (kommun or stadsdel),
    every unit the participation register expects in the round and every unit that sent a file
    for it, with its delivery status, the upload in force (the accepted one the statistics use)
    with its latest gate run's row counts, and the unit's missing registrations as of the round
    (int_case_versions, the same case state and the same phases as fct_case_funnel's diagram 1)
    as shares of their phase, beside riket's (every unit of the round), and its cases a Kolada
    key figure cannot place in a year (<figure>_utan_ar, macro kolada_key_figures).
    status: godkand (an accepted upload, nothing rejected, no errors or warnings),
    godkand_med_varningar (accepted; rows rejected, with errors or warnings), sen (accepted after
    the last delivery day, waiting for the round's revision), mottagen (landed,
    not gated yet), sparrad (every upload for the round blocked), inte_inkommen (expected, no
    file). A unit that has not delivered in the round is still counted with its latest earlier
    upload (source_round_id, the round of the case state used).
    Rounds: every well-formed round some file was sent for. A file that names no unit or round
    cannot be placed in a round and is not here (the intake summary lists it).
-#}
{%- set missing = funnel_missing_shares() %}
{%- set counts = funnel_counts() %}
{#- datum för aktualisering is part of the case key, so only the other key figures can have a
    case without a year -#}
{%- set unplaced = kolada_key_figures().items()
    | rejectattr('1.year_of', 'eq', 'datum_aktualisering') | list %}

with uploads as (
    select * from {{ ref('stg_raw__uploads') }}
    where round_id ~ '^\d{4}-(0[1-9]|1[0-2])$' and coalesce(unit_kod, '') <> ''
),

runs as (
    select * from {{ ref('stg_quality__validation_runs') }}
),

latest_runs as (
    select * from {{ ref('int_upload_latest_runs') }}
),

in_force as (
    select * from {{ ref('int_uploads_in_force') }}
),

register as (
    select * from {{ ref('participation_register') }}
),

units as (
    select * from {{ ref('dim_reporting_units') }}
),

versions as (
    select * from {{ ref('int_case_versions') }}
),

rounds as (
    select distinct round_id from uploads
),

expected as (
    select rounds.round_id, register.unit_kod
    from rounds
    inner join register
        on rounds.round_id >= register.first_round
        and (register.last_round is null or rounds.round_id <= register.last_round)
),

phases as (
    select
        round_id,
        unit_kod,
        max(source_round_id) as source_round_id,
        {%- for figure, rule in unplaced %}
        count(*) filter (where {{ rule.cases }} and {{ rule.year_of }} is null)
            as {{ figure }}_utan_ar,
        {%- endfor %}
        {%- for name, condition in counts.items() %}
        count(*) filter (where {{ condition }}) as {{ name }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from versions
    group by round_id, unit_kod
),

riket as (
    select
        round_id,
        {%- for name in counts %}
        sum({{ name }}) as riket_{{ name }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from phases
    group by round_id
),

round_units as (
    select round_id, unit_kod from expected
    union
    select round_id, unit_kod from uploads
    union
    select round_id, unit_kod from phases
),

upload_counts as (
    select
        round_id,
        unit_kod,
        count(*) as uploads_received,
        count(*) filter (where status = 'blocked') as uploads_blocked
    from uploads
    group by round_id, unit_kod
),

latest_upload as (
    select distinct on (round_id, unit_kod)
        round_id, unit_kod, upload_id, file_name, status, status_reason, received_at
    from uploads
    order by round_id asc, unit_kod asc, received_at desc, upload_id desc
),

in_force_runs as (
    select
        in_force.round_id,
        in_force.unit_kod,
        in_force.upload_id,
        uploads.file_name,
        uploads.received_at,
        uploads.decided_at,
        runs.rows_received,
        runs.rows_rejected,
        runs.rows_with_errors,
        runs.rows_warned
    from in_force
    inner join uploads on in_force.upload_id = uploads.upload_id
    left join latest_runs on in_force.upload_id = latest_runs.upload_id
    left join runs on latest_runs.run_id = runs.run_id
)

select
    round_units.round_id,
    round_units.unit_kod,
    coalesce(units.unit_type, 'okand') as unit_type,
    units.unit_namn,
    coalesce(units.kommun_kod, left(round_units.unit_kod, 4)) as kommun_kod,
    units.lan_kod,
    expected.unit_kod is not null as expected,
    case
        when in_force_runs.upload_id is not null
            then
                case
                    when
                        coalesce(in_force_runs.rows_rejected, 0)
                        + coalesce(in_force_runs.rows_with_errors, 0)
                        + coalesce(in_force_runs.rows_warned, 0) > 0
                        then 'godkand_med_varningar'
                    else 'godkand'
                end
        -- accepted, but received after the last delivery day: in the revision, not in the
        -- first publication (int_uploads_in_force)
        when latest_upload.status in ('accepted', 'superseded') then 'sen'
        when latest_upload.status = 'landed' then 'mottagen'
        when latest_upload.status = 'blocked' then 'sparrad'
        else 'inte_inkommen'
    end as status,
    coalesce(upload_counts.uploads_received, 0) as uploads_received,
    coalesce(upload_counts.uploads_blocked, 0) as uploads_blocked,
    -- the upload the statistics use, else the latest file received for the round
    coalesce(in_force_runs.upload_id, latest_upload.upload_id) as upload_id,
    coalesce(in_force_runs.file_name, latest_upload.file_name) as file_name,
    coalesce(in_force_runs.received_at, latest_upload.received_at) as received_at,
    in_force_runs.decided_at,
    latest_upload.status as latest_upload_status,
    latest_upload.status_reason as latest_upload_reason,
    in_force_runs.rows_received,
    in_force_runs.rows_rejected,
    in_force_runs.rows_with_errors,
    in_force_runs.rows_warned,
    round(100.0 * in_force_runs.rows_rejected / nullif(in_force_runs.rows_received, 0), 1)
        as andel_avvisade_rader,
    phases.source_round_id,
    {%- for name in counts %}
    phases.{{ name }},
    {%- endfor %}
    {%- for figure, _ in unplaced %}
    phases.{{ figure }}_utan_ar,
    {%- endfor %}
    -- sqlfluff (LT02) misplaces a loop of multi-line columns that ends a select list
    -- noqa: disable=LT02
    {%- for name, phase in missing %}
    round(100.0 * phases.{{ name }} / nullif(phases.{{ phase }}, 0), 1) as andel_{{ name }},
    round(
        100.0 * riket.riket_{{ name }} / nullif(riket.riket_{{ phase }}, 0), 1
    ) as riket_andel_{{ name }}{% if not loop.last %},{% endif %}
    {%- endfor %}
-- noqa: enable=LT02
from round_units
left join units on round_units.unit_kod = units.unit_kod
left join expected
    on round_units.round_id = expected.round_id
    and round_units.unit_kod = expected.unit_kod
left join upload_counts
    on round_units.round_id = upload_counts.round_id
    and round_units.unit_kod = upload_counts.unit_kod
left join latest_upload
    on round_units.round_id = latest_upload.round_id
    and round_units.unit_kod = latest_upload.unit_kod
left join in_force_runs
    on round_units.round_id = in_force_runs.round_id
    and round_units.unit_kod = in_force_runs.unit_kod
left join phases
    on round_units.round_id = phases.round_id
    and round_units.unit_kod = phases.unit_kod
left join riket on round_units.round_id = riket.round_id
