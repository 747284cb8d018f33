{#-
    What each reporting unit's cases add to every national figure (macro national_figure_rules),
    per round, period (int_case_periods: 'round', or a calendar year the round covers) and
    breakdown value: one row per (round_id, period_type, period, unit_kod, breakdown,
    breakdown_value), one column per figure and category (macro national_figure_measures):
    <figure>__population the cases of its population, <figure>__n those with a usable answer,
    <figure>__answers their answers (multiple choice), <figure>__c_<category> the cases (for a
    mean figure: the sum of the values) in each category; null is 0. Beside each, <column>__key:
    its cases' record keys (int_case_record_keys), each times what the case adds to the column,
    summed mod 256: the cell key of the Cell Key Method (SUKF_DISCLOSURE=ckm).
    Breakdown 'alla' is every case; a case without a value of a breakdown is in no row of it.
    fct_national_figures adds the units up to kommun, län and riket. The figures are sums, so a
    unit's rows are made once per input (incremental by round and unit, like int_case_periods):
    a corrected upload makes that unit's rows again, not the round's.
-#}
-- depends_on: {{ ref('int_figure_categories') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=["set local work_mem = '256MB'", "{{ delete_stale_units() }}"],
    indexes=[{'columns': ['round_id', 'unit_kod']}],
) }}
{%- set rules = national_figure_rules() -%}
{%- set spec = national_figure_breakdowns() -%}
{%- set dimensions = spec['dimensions'] -%}
{%- set breakdowns = spec['breakdowns'] -%}
{%- set measures = national_figure_measures() -%}
{%- set by_columns = [] -%}
{%- for dimension in dimensions -%}{%- do by_columns.append('by_' ~ dimension) -%}{%- endfor -%}
{#- Each breakdown's grouping set and its GROUPING() bitmask over by_columns. -#}
{%- set sets = national_figure_grouping_sets(by_columns, breakdowns) -%}

with units as (
    {{ units_to_build() }}
),

populations as (
    select
        case_periods.*,
        record_keys.record_key,
        {%- for figure_id, rule in rules.items() %}
        coalesce({{ rule['population'] }}, false) as in_{{ figure_id }},
        {%- endfor %}
        -- LT02 misreads a loop ending a select list with a line that starts with an expression
        -- noqa: disable=LT02
        {%- for dimension, expression in dimensions.items() %}
        {{ expression }} as by_{{ dimension }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    -- noqa: enable=LT02
    from {{ ref('int_case_periods') }} as case_periods
    inner join {{ ref('int_case_record_keys') }} as record_keys
        on case_periods.case_id = record_keys.case_id
    inner join units
        on case_periods.round_id = units.round_id
        and case_periods.unit_kod = units.unit_kod
),

case_measures as (
    select
        round_id,
        unit_inputs,
        period_type,
        period,
        unit_kod,
        kommun_kod,
        lan_kod,
        {%- for column in by_columns %}
        {{ column }},
        {%- endfor %}
        -- noqa: disable=LT02
        {%- for measure in measures %}
        {{ measure['expression'] }} as {{ measure['column'] }},
        ({{ measure['expression'] }}) * record_key as {{ measure['column'] }}__key
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    -- noqa: enable=LT02
    from populations
),

grouping_sets as (
    select
        round_id,
        unit_inputs,
        period_type,
        period,
        unit_kod,
        kommun_kod,
        lan_kod,
        grouping({{ by_columns | join(', ') }}) as grouping_mask,
        {%- for column in by_columns %}
        {{ column }},
        {%- endfor %}
        {%- for measure in measures %}
        {%- set column = measure['column'] %}
        nullif(sum({{ column }}), 0)::integer as {{ column }},
        nullif({{ cell_key('sum(' ~ column ~ '__key)') }}, 0) as {{ column }}__key
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from case_measures
    group by
        round_id, unit_inputs, period_type, period, unit_kod, kommun_kod, lan_kod,
        grouping sets (
            {%- for set in sets %}
            ({{ set['by_columns'] | join(', ') }}){% if not loop.last %},{% endif %}
            {%- endfor %}
        )
)

select
    grouping_sets.round_id,
    grouping_sets.unit_inputs,
    grouping_sets.period_type,
    grouping_sets.period,
    grouping_sets.unit_kod,
    grouping_sets.kommun_kod,
    grouping_sets.lan_kod,
    breakdown_sets.breakdown,
    breakdown_sets.breakdown_value,
    {%- for measure in measures %}
    grouping_sets.{{ measure['column'] }},
    grouping_sets.{{ measure['column'] }}__key{% if not loop.last %},{% endif %}
    {%- endfor %}
from grouping_sets
-- LT02 wants `lateral (` on a line of its own (sqlfluff issue 8345)
-- noqa: disable=LT02
cross join lateral (
    select breakdown_sets.* from (
        values
        {%- for set in sets %}
        (
            {{ set['mask'] }},
            '{{ set['name'] }}',
            {{ national_figure_breakdown_value(set['by_columns'], 'grouping_sets') }}
        ){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as breakdown_sets (grouping_mask, breakdown, breakdown_value)
    where breakdown_sets.grouping_mask = grouping_sets.grouping_mask
) as breakdown_sets
-- noqa: enable=LT02
-- a case without a value of the breakdown is in 'alla' only
where breakdown_sets.breakdown_value is not null
