{#-
    The national figures of the report's chapter 2 (diagrams 2-27 and the figures quoted in the
    text; seed national_figures states each one's population, N and source), for every round as
    of itself (int_case_periods): per round_id, period ('round': the round; 'year': a calendar
    year of datum för aktualisering that the round covers completely), level and area, and
    broken down:
      - at riket: kön, åldersgrupp, hederskontext, riskbedömning, ursprung, våldets grad,
        måluppföljning, ärendelängd, storleksgrupp, befolkningsgrupp, funktionsnedsättning,
        toppgrupp, förändring i våldsutsatthet (202), riskinstrument (riskforandring only), and
        the cross-tabulations kön × hederskontext and kön × åldersgrupp (diagram 21);
      - at län: kön and hederskontext; at kommun: kön (period 'round' only: a kommun follows
        itself over rounds, calendar years are for län and riket).
    So e.g. diagram 21 = aldersgrupp by kon_hedersrelaterat, diagram 23 = insatser by
    hedersrelaterat, diagrams 24/25 = by kön, diagram 17 = avslutsorsak_langd by arendelangd,
    diagram 10 = antal_insatser by every breakdown, the toppgrupp profile = every figure by
    toppgrupp.
    One row per figure, category, breakdown value, level, area and period of a round: every
    category of the figure, 0 when no case, plus category 'saknas' (uppgift saknas).
-#}
{#- One pass over int_case_periods: each case's contribution to every figure and category (the
    rules of macro national_figure_rules, the categories of int_figure_categories) as integer
    columns, summed per grouping set. Incremental by round like int_case_periods. The grouping
    sets hash when there is memory for it; `set local` lasts only for this model's transaction. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=["set local work_mem = '256MB'", "{{ delete_stale_rounds() }}"],
) }}
{%- set rules = national_figure_rules() -%}
{%- set dimensions = {
    'kon': 'kon_kod',
    'aldersgrupp': 'aldersgrupp',
    'hedersrelaterat': "case hedersrelaterat when 1 then 'ja' when 2 then 'nej' when 3 then 'vet_inte' end",
    'riskbedomning': rules['riskbedomning']['category'],
    'ursprung': 'ursprung::text',
    'valdets_grad': 'valdets_grad::text',
    'maluppfoljning': 'maluppfoljning::text',
    'arendelangd': 'arendelangd_grupp',
    'storleksgrupp': 'storleksgrupp_kod',
    'befolkningsgrupp': 'befolkningsgrupp_kod',
    'funktionsnedsattning': 'funktionsnedsattning_grupp',
    'toppgrupp': "case when is_closed then case when toppgrupp then 'ja' else 'nej' end end",
    'forandring_valdsutsatthet': 'forandring_valdsutsatthet::text',
    'riskinstrument': 'riskforandring_instrument',
} -%}
{#- breakdown name -> (its dimensions, the levels it is made at) -#}
{%- set breakdowns = {'alla': ([], ['kommun', 'lan', 'riket'])} -%}
{%- for dimension in dimensions -%}
    {%- do breakdowns.update({dimension: ([dimension], ['riket'])}) -%}
{%- endfor -%}
{%- do breakdowns.update({
    'kon': (['kon'], ['kommun', 'lan', 'riket']),
    'hedersrelaterat': (['hedersrelaterat'], ['lan', 'riket']),
    'kon_hedersrelaterat': (['kon', 'hedersrelaterat'], ['riket']),
    'kon_aldersgrupp': (['kon', 'aldersgrupp'], ['riket']),
}) -%}
{%- set area_columns = {'kommun': 'kommun_kod', 'lan': 'lan_kod', 'riket': none} -%}
{#- The grouping sets, each with the GROUPING() bitmask that tells it apart. -#}
{%- set grouped = ['kommun_kod', 'lan_kod'] -%}
{%- for dimension in dimensions -%}{%- do grouped.append('by_' ~ dimension) -%}{%- endfor -%}
{%- set sets = [] -%}
{%- for name, (dims, levels) in breakdowns.items() -%}
    {%- for level in levels -%}
        {%- set columns = [area_columns[level]] if area_columns[level] else [] -%}
        {%- for dim in dims -%}{%- do columns.append('by_' ~ dim) -%}{%- endfor -%}
        {%- set mask = namespace(value=0) -%}
        {%- for column in grouped -%}
            {%- if column not in columns -%}
                {%- set mask.value = mask.value + 2 ** (grouped | length - loop.index) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do sets.append({'name': name, 'dims': dims, 'level': level, 'columns': columns, 'mask': mask.value}) -%}
    {%- endfor -%}
{%- endfor -%}
{#- (figure_id, category, what the case adds): category none = the population, 'answered' and
    'answers' (multiple choice) the figure's N and its number of answers -#}
{%- set measures = [] -%}
{%- if execute -%}
    {%- set categories = run_query("select figure_id, category from " ~ ref('int_figure_categories')
                                   ~ " where category <> 'saknas' order by figure_id, sort_order, category") -%}
    {%- for figure_id in categories.columns[0].values() | unique -%}
        {%- if figure_id not in rules -%}
            {{ exceptions.raise_compiler_error("national figure " ~ figure_id ~ " has no rule in national_figure_rules()") }}
        {%- endif -%}
        {%- set rule = rules[figure_id] -%}
        {%- do measures.append((figure_id, none, 'in_' ~ figure_id ~ '::int')) -%}
        {%- do measures.append((figure_id, 'answered', '(in_' ~ figure_id ~ ' and coalesce(' ~ rule['answered'] ~ ', false))::int')) -%}
        {%- if 'chosen' in rule -%}
            {%- do measures.append((figure_id, 'answers', 'case when in_' ~ figure_id ~ ' then '
                ~ count_chosen(rule['chosen'], rule.get('codes')) ~ ' else 0 end')) -%}
        {%- endif -%}
        {%- for row in categories.rows if row[0] == figure_id -%}
            {%- do measures.append((figure_id, row[1],
                'case when in_' ~ figure_id ~ ' and coalesce(' ~ rule['answered'] ~ ', false) and '
                ~ national_figure_category_condition(rules, figure_id, row[1])
                ~ ' then ' ~ rule.get('value', 1) ~ ' else 0 end')) -%}
        {%- endfor -%}
    {%- endfor -%}
{%- endif -%}
{%- set index = {} -%}
{%- for measure in measures -%}{%- do index.update({(measure[0], measure[1]): loop.index}) -%}{%- endfor -%}

with populations as (
    select
        *,
        {%- for figure_id, rule in rules.items() %}
        coalesce({{ rule['population'] }}, false) as in_{{ figure_id }},
        {%- endfor %}
        {%- for dimension, expression in dimensions.items() %}
        {{ expression }} as by_{{ dimension }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ ref('int_case_periods') }} as case_periods
    where {{ round_not_built('case_periods.round_id') }}
),

round_inputs as (
    select * from {{ ref('int_round_inputs') }}
),

case_measures as (
    select
        round_id,
        period_type,
        period,
        {%- for column in grouped %}
        {{ column }},
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

grouping_sets as (
    select
        round_id,
        period_type,
        period,
        grouping({{ grouped | join(', ') }}) as grouping_mask,
        {%- for column in grouped %}
        {{ column }},
        {%- endfor %}
        {%- for measure in measures %}
        sum(measure_{{ loop.index }}) as measure_{{ loop.index }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from case_measures
    group by round_id, period_type, period, grouping sets (
        {%- for set in sets %}
        ({{ set['columns'] | join(', ') }}){% if not loop.last %},{% endif %}
        {%- endfor %}
    )
),

-- level, area and breakdown of each group; groups of cases without a value of the breakdown
-- are left out of that breakdown (they are in 'alla')
groups as (
    select
        grouping_sets.*,
        grouped_as.level,
        grouped_as.breakdown,
        case grouped_as.level
            when 'kommun' then grouping_sets.kommun_kod
            when 'lan' then grouping_sets.lan_kod
            else '00'
        end as area_code,
        grouped_as.breakdown_value
    from grouping_sets
    cross join lateral (
        select * from (values
            {%- for set in sets %}
            ({{ set['mask'] }}, '{{ set['level'] }}', '{{ set['name'] }}',
             {% if set['dims'] -%}
             case when {% for dim in set['dims'] %}grouping_sets.by_{{ dim }} is not null{% if not loop.last %} and {% endif %}{% endfor %}
                 then {% for dim in set['dims'] %}grouping_sets.by_{{ dim }}{% if not loop.last %} || '|' || {% endif %}{% endfor %} end
             {%- else -%}'alla'{%- endif %}){% if not loop.last %},{% endif %}
            {%- endfor %}
        ) as breakdown_sets (grouping_mask, level, breakdown, breakdown_value)
        where breakdown_sets.grouping_mask = grouping_sets.grouping_mask
    ) as grouped_as
    where grouped_as.breakdown_value is not null
        -- kommun figures by round only: a kommun follows itself over rounds, the calendar
        -- years are for län and riket
        and not (grouped_as.level = 'kommun' and grouping_sets.period_type = 'year')
),

-- one row per group, figure and category: the category's count beside the figure's N
figure_totals as (
    select
        groups.round_id,
        groups.period_type,
        groups.period,
        groups.level,
        groups.area_code,
        groups.breakdown,
        groups.breakdown_value,
        totals.figure_id,
        totals.category,
        totals.numerator,
        totals.n_population,
        totals.n,
        totals.n_answers
    from groups
    cross join lateral (values
        {%- set rows = [] -%}
        {%- for measure in measures if measure[1] not in (none, 'answered', 'answers') -%}
            {%- set figure_id = measure[0] -%}
            {%- set answers = 'groups.measure_' ~ index[(figure_id, 'answers')] if (figure_id, 'answers') in index else 'null::bigint' -%}
            {%- do rows.append("('" ~ figure_id ~ "', '" ~ (measure[1] | replace("'", "''")) ~ "', groups.measure_"
                ~ index[(figure_id, measure[1])] ~ ", groups.measure_" ~ index[(figure_id, none)] ~ ", groups.measure_"
                ~ index[(figure_id, 'answered')] ~ ", " ~ answers ~ ")") -%}
            {%- if loop.last or loop.nextitem[0] != figure_id -%}
                {%- do rows.append("('" ~ figure_id ~ "', 'saknas', groups.measure_" ~ index[(figure_id, none)]
                    ~ " - groups.measure_" ~ index[(figure_id, 'answered')] ~ ", groups.measure_"
                    ~ index[(figure_id, none)] ~ ", groups.measure_" ~ index[(figure_id, 'answered')] ~ ", " ~ answers ~ ")") -%}
            {%- endif -%}
        {%- endfor %}
        {{ rows | join(',\n        ') }}
    ) as totals (figure_id, category, numerator, n_population, n, n_answers)
    where totals.n_population > 0
        -- riskinstrument is a breakdown of figure riskforandring only
        and (groups.breakdown <> 'riskinstrument' or totals.figure_id = 'riskforandring')
)

select
    figure_totals.round_id,
    figures.figure_id,
    figures.diagram,
    figures.title,
    figures.kind,
    figure_totals.breakdown,
    figure_totals.breakdown_value,
    categories.category,
    categories.category_label,
    categories.sort_order,
    -- a summary category of a single-answer figure: the codes it adds up ('1|2')
    categories.parts as category_parts,
    figure_totals.level,
    figure_totals.area_code,
    figure_totals.period_type,
    figure_totals.period,
    figure_totals.numerator,
    -- the shares' denominator: the figure's N, for 'saknas' its population
    case when categories.category = 'saknas' then figure_totals.n_population
         else figure_totals.n end as denominator,
    case when figures.kind = 'share' or categories.category = 'saknas' then
        round(100.0 * figure_totals.numerator / nullif(case when categories.category = 'saknas'
            then figure_totals.n_population else figure_totals.n end, 0), 1)
    end as share_pct,
    case when figures.kind = 'mean' and categories.category <> 'saknas'
        then round(figure_totals.numerator::numeric / nullif(figure_totals.n, 0), 1) end as mean_value,
    -- the N the report prints beside a diagram: the cases with a usable answer
    figure_totals.n,
    figure_totals.n_population,
    figure_totals.n_population - figure_totals.n as n_saknas,
    -- multiple-choice figures: the number of answers (diagram 6 prints this N: 3 317)
    figure_totals.n_answers,
    -- what the round was built from (int_round_inputs)
    round_inputs.round_inputs
from figure_totals
inner join figures on figure_totals.figure_id = figures.figure_id
inner join round_inputs on figure_totals.round_id = round_inputs.round_id
inner join categories
    on figure_totals.figure_id = categories.figure_id
    and figure_totals.category = categories.category
