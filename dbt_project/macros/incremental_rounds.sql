{#- Incremental models by round (see int_round_inputs): before new rows are appended, the rows
    of rounds whose inputs changed or are gone are deleted, with every row for which
    `always_rebuilt` holds (e.g. the calendar-year periods, which change with every round).
    `round_column` names the round of a row; rows store the fingerprint in `round_inputs`.
    A pre-hook, so it runs in the model's transaction: readers never see a round half-built. -#}
{% macro delete_stale_rounds(round_column='round_id', always_rebuilt='false') %}
    {%- if is_incremental() %}
    delete from {{ this }} as built
    where ({{ always_rebuilt }})
        or not exists (
            select 1 from {{ ref('int_round_inputs') }} as inputs
            where inputs.round_id = built.{{ round_column }}
                and inputs.round_inputs = built.round_inputs
        )
    {%- endif %}
{% endmacro %}

{#- SQL condition: the round `round_expression` has no rows in the model yet (new, or deleted as
    stale by delete_stale_rounds). Outside incremental runs every round is missing. -#}
{% macro round_not_built(round_expression, round_column='round_id', built_where='true') -%}
    {%- if is_incremental() -%}
    not exists (select 1 from {{ this }} as built
                where built.{{ round_column }} = {{ round_expression }} and {{ built_where }})
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}

{#- The last calendar year a round 'ÅÅÅÅ-MM' covers completely (it closes on its month's last
    day): the round's year for a December round, else the year before. -#}
{% macro last_complete_year(round_expression) -%}
    (left({{ round_expression }}, 4)::int - case when right({{ round_expression }}, 2) = '12' then 0 else 1 end)
{%- endmacro %}
