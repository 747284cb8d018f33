{#- Incremental models by round or by round and reporting unit (see int_round_inputs): before
    new rows are appended, the rows whose inputs changed or are gone are deleted. Rows store
    their fingerprint (`round_inputs` or `unit_inputs`). Pre-hooks, so they run in the model's
    transaction: readers never see a round half-built. -#}
{% macro delete_stale_rounds(round_column='round_id') %}
    {%- if is_incremental() %}
    delete from {{ this }} as built
    where not exists (
        select 1 from {{ ref('int_round_inputs') }} as inputs
        where inputs.round_id = built.{{ round_column }}
            and inputs.round_inputs = built.round_inputs
    )
    {%- endif %}
{% endmacro %}

{% macro delete_stale_units() %}
    {%- if is_incremental() %}
    delete from {{ this }} as built
    where not exists (
        select 1 from {{ ref('int_round_inputs') }} as inputs
        where inputs.round_id = built.round_id
            and inputs.unit_kod = built.unit_kod
            and inputs.unit_inputs = built.unit_inputs
    )
    {%- endif %}
{% endmacro %}

{#- SQL condition: the round `round_expression` has no rows in the model yet (new, or deleted as
    stale by delete_stale_rounds). Outside incremental runs every round is missing. -#}
{% macro round_not_built(round_expression, round_column='round_id') -%}
    {%- if is_incremental() -%}
    not exists (select 1 from {{ this }} as built
                where built.{{ round_column }} = {{ round_expression }})
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}

{#- The rounds (round_id, round_inputs) a model incremental by round builds in this run: those
    with no rows in it yet. One lookup per round (not per unit) in the model's index. -#}
{% macro rounds_to_build() -%}
    select round_id, round_inputs
    from (select distinct round_id, round_inputs from {{ ref('int_round_inputs') }}) as inputs
    where {{ round_not_built('inputs.round_id') }}
{%- endmacro %}

{#- SQL condition: the unit has no rows of the round in the model yet (new, or deleted as stale
    by delete_stale_units). The model needs an index on (round_id, unit_kod). -#}
{% macro unit_not_built(round_expression, unit_expression) -%}
    {%- if is_incremental() -%}
    not exists (select 1 from {{ this }} as built
                where built.round_id = {{ round_expression }}
                    and built.unit_kod = {{ unit_expression }})
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}

{#- The (round_id, unit_kod) pairs a model incremental by unit builds in this run: those whose
    current inputs (unit_inputs) it has no rows of. Looked up when the model runs and written
    into its SQL as values, so the planner knows how many there are (one for a correction, every
    unit for a new round): estimated from the model's own statistics, stale during a build, it
    planned a round's aggregation by sorting (ten landed rounds: 11.6 s instead of about 2 s)
    and a correction's by scanning every round (6.6 s instead of 0.03 s). -#}
{% macro units_to_build() -%}
    {%- set inputs = ref('int_round_inputs') -%}
    {%- if execute and is_incremental() -%}
        {%- set found = run_query(
            "select inputs.round_id, inputs.unit_kod from " ~ inputs ~ " as inputs"
            ~ " where not exists (select 1 from " ~ this ~ " as built"
            ~ " where built.round_id = inputs.round_id and built.unit_kod = inputs.unit_kod"
            ~ " and built.unit_inputs = inputs.unit_inputs)").rows -%}
        {%- if found -%}
            select units.round_id, units.unit_kod
            from (values
            {%- for row in found %}
                ('{{ row[0] | replace("'", "''") }}', '{{ row[1] | replace("'", "''") }}')
                {{- ',' if not loop.last }}
            {%- endfor %}
            ) as units (round_id, unit_kod)
        {%- else -%}
            select inputs.round_id, inputs.unit_kod from {{ inputs }} as inputs where false
        {%- endif -%}
    {%- else -%}
        select inputs.round_id, inputs.unit_kod from {{ inputs }} as inputs
    {%- endif -%}
{%- endmacro %}

{#- The last calendar year a round 'ÅÅÅÅ-MM' covers completely (it closes on its month's last
    day): the round's year for a December round, else the year before. -#}
{% macro last_complete_year(round_expression) -%}
    (left({{ round_expression }}, 4)::int - case when right({{ round_expression }}, 2) = '12' then 0 else 1 end)
{%- endmacro %}

{#- int_case_records_in_force: the cases of uploads no longer in force, or of a gate run that is
    no longer the upload's latest, are deleted before the new ones are made. -#}
{% macro delete_stale_uploads() %}
    {%- if is_incremental() %}
    delete from {{ this }} as built
    where not exists (
        select 1
        from {{ ref('int_uploads_in_force') }} as uploads
        left join {{ ref('int_upload_latest_runs') }} as latest_run
            on uploads.upload_id = latest_run.upload_id
        where uploads.upload_id = built.upload_id
            and coalesce(latest_run.run_id, 0) = built.run_id
    )
    {%- endif %}
{% endmacro %}

{#- stg_raw__case_records: the typed rows of an upload out of force whose raw rows retention has
    removed (sukvinnofrid.retention) go too, found by index from the few uploads out of force. -#}
{% macro delete_retained_uploads() %}
    {%- if is_incremental() %}
    delete from {{ this }} as typed
    where typed.upload_id in (
        select uploads.upload_id
        from {{ source('raw', 'uploads') }} as uploads
        where
            uploads.status in ('superseded', 'blocked')
            and not exists (
                select 1 from {{ source('raw', 'case_records') }} as case_records
                where case_records.upload_id = uploads.upload_id
            )
    )
    {%- endif %}
{% endmacro %}
