{#-
    Typed case rows: dates as date (a value that is not a real date is null, and
    <key>_angivet tells whether anything was registered), codes and integers as integer, multiple
    choice as one boolean per answer code (<key>_<code>), risk assessments as
    risk_<slot>_{tidpunkt,instrument,skattning}. Rename and cast only: whether a value is a
    valid answer is decided in intermediate (int_case_records_in_force).
    Identifiers (v3 handläggare, v4 klient) leave this model only as keyed hashes
    (<key>_pseudonym). Free-text columns (comments, v217 klientförslag) stay in raw.

    Materialised as a table, not a view: the hash reads the key from secrets.pseudonym_key, which
    only the transform stage may read, so no view may carry that read to other roles. Incremental:
    an upload's rows never change once landed, so only uploads not typed yet are added (a new
    key or catalogue needs a full refresh; sukvinnofrid.pipeline.build_warehouse does that), and
    the rows of an upload whose raw rows retention removed are deleted.
    Columns are generated from the catalogue (macros/catalogue.sql).
-#}
-- the columns come from loops over the catalogue: a leading comma needs no `loop.last`
-- sqlfluff:layout:type:comma:line_position:leading
{{ config(materialized='incremental', incremental_strategy='append',
          pre_hook="{{ delete_retained_uploads() }}",
          indexes=[{'columns': ['upload_id']}]) }}

with source as (
    select case_records.* from {{ source('raw', 'case_records') }} as case_records
    {%- if is_incremental() %}
    -- the uploads not typed yet, found by index (the cost of a build does not grow with history)
    where
        case_records.upload_id in (
            select uploads.upload_id from {{ source('raw', 'uploads') }} as uploads
            where
                not exists (
                    select 1 from {{ this }} as typed
                    where typed.upload_id = uploads.upload_id
                )
        )
    {%- endif %}
)

select
    upload_id
    , source_row
{%- for v in catalogue_variables() %}
    {%- if v.identifier %}
    , {{ pseudonymise(v.column) }} as {{ v.key }}_pseudonym
    {%- elif v.type == 'kommun' %}
    , nullif(btrim({{ v.column }}), '') as {{ v.key }}
    {%- elif v.type == 'date' %}
    , {{ to_date(v.column) }} as {{ v.key }}
    -- registered at all (a date that is not a real date still shows the phase was reached)
    , nullif(btrim({{ v.column }}), '') is not null as {{ v.key }}_angivet
    {%- elif v.type in ('code', 'integer') %}
    , {{ to_int(v.column) }} as {{ v.key }}
    {%- elif v.type == 'codes' %}
    {%- for code in v.codes %}
    , {{ to_choice(v.column ~ '_' ~ code) }} as {{ v.key }}_{{ code }}
    {%- endfor %}
    {%- elif v.type == 'risk_assessments' %}
    {%- for slot in range(1, v.slots + 1) %}
    , {{ to_int('v90_' ~ slot ~ '_tidpunkt') }} as risk_{{ slot }}_tidpunkt
    , {{ to_int('v90_' ~ slot ~ '_instrument') }} as risk_{{ slot }}_instrument
    , {{ to_int('v90_' ~ slot ~ '_skattning') }} as risk_{{ slot }}_skattning
    {%- endfor %}
    {%- endif %}
{%- endfor %}
from source
