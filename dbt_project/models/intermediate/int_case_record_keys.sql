{#-
    The record key of every case (macro record_key): one row per case_id, so the same case
    gets the same key in every round, every table and every level. The cell keys of the funnel
    and the national figures are sums of these (macro cell_key).
-#}
{#- Append-only: a case's key never changes, so only cases not seen before are added. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    indexes=[{'columns': ['case_id'], 'unique': True}],
) }}

with new_cases as (
    select distinct records.case_id
    from {{ ref('int_case_records_in_force') }} as records
    {%- if is_incremental() %}
    where records.case_id not in (select known.case_id from {{ this }} as known)
    {%- endif %}
)

select
    new_cases.case_id,
    {{ record_key('new_cases.case_id') }} as record_key
from new_cases
