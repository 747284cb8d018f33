{#-
    The national key figures of the report's chapter 2 (diagrams 2-27 and the figures quoted in
    the text), per round (cases as of that round), for every level and area, and, at riket level,
    broken down by kön, åldersgrupp, hederskontext, riskbedömning, ursprung, våldets grad,
    måluppföljning and ärendelängd (so e.g. diagram 21 = aldersgrupp by hedersrelaterat,
    diagram 23 = insatser by hedersrelaterat, diagram 24/25 = by kön, diagram 17 = avslutsorsak
    by arendelangd, diagram 10 = antal_insatser by every breakdown), by storleksgrupp (the
    kommun's size group, measured in adults 18+) and, for riskforandring only, by
    riskinstrument.
    Periods (int_case_periods): period_type 'round' (period = round_id, the cases as of that
    round) and period_type 'year' (period = ÅÅÅÅ, the cases aktualiserade that calendar year
    (v5), each in its latest state), so the figures form time series both ways.
    One row per figure, breakdown value, category, level, area and period; categories without
    cases are 0.
-#}
{#- One pass over int_case_periods: each case's contribution to every figure and category (the
    rules of macro national_figure_rules, the categories of int_figure_categories) as columns,
    summed per grouping set; a few hundred integer sums per case instead of a row per case and
    category. Incremental like int_case_periods: stale or new round periods and every year
    period are rebuilt. The grouping sets hash when there is memory for it; `set local` lasts
    only for this model's transaction. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=["set local work_mem = '256MB'",
              "{{ delete_stale_rounds(round_column='period', always_rebuilt=\"built.period_type = 'year'\") }}"],
) }}
{%- set rules = national_figure_rules() -%}
{%- set breakdowns = {
    'kon': 'kon_kod',
    'aldersgrupp': 'aldersgrupp',
    'hedersrelaterat': "case hedersrelaterat when 1 then 'ja' when 2 then 'nej' when 3 then 'vet_inte' end",
    'riskbedomning': rules['riskbedomning']['category'],
    'ursprung': 'ursprung::text',
    'valdets_grad': 'valdets_grad::text',
    'maluppfoljning': 'maluppfoljning::text',
    'arendelangd': 'arendelangd_grupp',
    'storleksgrupp': 'storleksgrupp_kod',
    'riskinstrument': 'riskforandring_instrument',
} -%}
{#- (figure_id, category, what the case adds); category none = the figure's population -#}
{%- set measures = [] -%}
{%- if execute -%}
    {%- set categories = run_query("select figure_id, category from " ~ ref('int_figure_categories')
                                   ~ " order by figure_id, sort_order, category") -%}
    {%- for figure_id in categories.columns[0].values() | unique -%}
        {%- if figure_id not in rules -%}
            {{ exceptions.raise_compiler_error("national figure " ~ figure_id ~ " has no rule in national_figure_rules()") }}
        {%- endif -%}
        {%- do measures.append((figure_id, none, 'in_' ~ figure_id ~ '::int')) -%}
        {%- for row in categories.rows if row[0] == figure_id -%}
            {%- do measures.append((figure_id, row[1],
                'case when in_' ~ figure_id ~ ' and ' ~ national_figure_category_condition(rules, figure_id, row[1])
                ~ ' then ' ~ rules[figure_id].get('value', 1) ~ ' else 0 end')) -%}
        {%- endfor -%}
    {%- endfor -%}
{%- endif -%}

with populations as (
    select
        *,
        {%- for figure_id, rule in rules.items() %}
        coalesce({{ rule['population'] }}, false) as in_{{ figure_id }},
        {%- endfor %}
        {%- for breakdown, expression in breakdowns.items() %}
        {{ expression }} as by_{{ breakdown }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ ref('int_case_periods') }} as case_periods
    where case_periods.period_type = 'year'
        or {{ round_not_built('case_periods.period', round_column='period',
                              built_where="built.period_type = 'round'") }}
),

round_inputs as (
    select * from {{ ref('int_round_inputs') }}
),

case_measures as (
    select
        period_type,
        period,
        kommun_kod,
        lan_kod,
        {%- for breakdown in breakdowns %}
        by_{{ breakdown }},
        {%- endfor %}
        {%- for measure in measures %}
        {{ measure[2] }} as measure_{{ loop.index }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from populations
),

figures as (
    select * from {{ ref('national_figures') }}
),

categories as (
    select * from {{ ref('int_figure_categories') }}
),

-- breakdown 'alla' per kommun, län and riket ('00'), and at riket level per value of each
-- breakdown (cases without a value are left out of that breakdown)
grouping_sets as (
    select
        period_type,
        period,
        case
            when grouping(kommun_kod) = 0 then 'kommun'
            when grouping(lan_kod) = 0 then 'lan'
            else 'riket'
        end as level,
        case
            when grouping(kommun_kod) = 0 then kommun_kod
            when grouping(lan_kod) = 0 then lan_kod
            else '00'
        end as area_code,
        case
            {%- for breakdown in breakdowns %}
            when grouping(by_{{ breakdown }}) = 0 then '{{ breakdown }}'
            {%- endfor %}
            else 'alla'
        end as breakdown,
        case
            {%- for breakdown in breakdowns %}
            when grouping(by_{{ breakdown }}) = 0 then by_{{ breakdown }}
            {%- endfor %}
            else 'alla'
        end as breakdown_value,
        {%- for measure in measures %}
        sum(measure_{{ loop.index }}) as measure_{{ loop.index }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from case_measures
    group by period_type, period, grouping sets (
        (kommun_kod), (lan_kod), (),
        {%- for breakdown in breakdowns %}
        (by_{{ breakdown }}){% if not loop.last %},{% endif %}
        {%- endfor %}
    )
),

-- one row per group, figure and category: the category's total beside the population's
figure_totals as (
    select
        grouping_sets.period_type,
        grouping_sets.period,
        grouping_sets.level,
        grouping_sets.area_code,
        grouping_sets.breakdown,
        grouping_sets.breakdown_value,
        totals.figure_id,
        totals.category,
        totals.numerator,
        totals.denominator
    from grouping_sets
    cross join lateral (values
        {%- set population_index = namespace(value=0) %}
        {%- for measure in measures %}
        {%- if measure[1] is none %}{% set population_index.value = loop.index %}{% else %}
        ('{{ measure[0] }}', '{{ measure[1] | replace("'", "''") }}', measure_{{ loop.index }}, measure_{{ population_index.value }}){% if not loop.last %},{% endif %}
        {%- endif %}
        {%- endfor %}
    ) as totals (figure_id, category, numerator, denominator)
    where grouping_sets.breakdown_value is not null
        and totals.denominator > 0
        -- riskinstrument is a breakdown of figure riskforandring only
        and (grouping_sets.breakdown <> 'riskinstrument' or totals.figure_id = 'riskforandring')
)

select
    figures.figure_id,
    figures.diagram,
    figures.title,
    figures.kind,
    figure_totals.breakdown,
    figure_totals.breakdown_value,
    categories.category,
    categories.category_label,
    categories.sort_order,
    figure_totals.level,
    figure_totals.area_code,
    figure_totals.period_type,
    figure_totals.period,
    figure_totals.numerator,
    figure_totals.denominator,
    case when figures.kind = 'share'
        then round(100.0 * figure_totals.numerator / figure_totals.denominator, 1) end as share_pct,
    case when figures.kind = 'mean'
        then round(figure_totals.numerator::numeric / figure_totals.denominator, 1) end as mean_value,
    -- the N the report prints beside a diagram: the cases in the figure's population
    figure_totals.denominator as n,
    -- what a round period was built from (int_round_inputs); null for calendar years
    round_inputs.round_inputs
from figure_totals
inner join figures on figure_totals.figure_id = figures.figure_id
left join round_inputs
    on figure_totals.period_type = 'round'
    and figure_totals.period = round_inputs.round_id
inner join categories
    on figure_totals.figure_id = categories.figure_id
    and figure_totals.category = categories.category
