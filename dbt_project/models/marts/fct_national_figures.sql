{#-
    The national figures of the report's chapter 2 (diagrams 2-27 and the figures quoted in the
    text; seed national_figures states each one's population, N and source), for every round as
    of itself (int_case_periods, summed per unit in int_figure_sums): per round_id, period
    ('round': the round; 'year': a calendar year of datum för aktualisering that the round
    covers completely), level and area, and broken down:
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
{#- The units' sums (int_figure_sums) added up per level and area, each category's count beside
    its figure's N, and beside each count its cell key (macro cell_key). Incremental by round: a round whose inputs changed is added up again from
    the units' sums (cheap: a few rows per unit), so a corrected upload does not recount the
    round's cases. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_stale_rounds() }}",
    indexes=[{'columns': ['round_id']}],
) }}
{%- set measures = national_figure_measures() -%}

with rounds as (
    {{ rounds_to_build() }}
),

unit_sums as (
    select unit_sums.*
    from {{ ref('int_figure_sums') }} as unit_sums
    inner join rounds on unit_sums.round_id = rounds.round_id
),

figures as (
    select * from {{ ref('national_figures') }}
),

categories as (
    select * from {{ ref('int_figure_categories') }}
),

-- each breakdown added up at the levels it is published at; kommun figures by round only: a
-- kommun follows itself over rounds, the calendar years are for län and riket
groups as (
    {%- set areas = [('kommun', 'kommun_kod'), ('lan', 'lan_kod'), ('riket', none)] %}
    {%- for level, area_column in areas %}
    select
        round_id,
        period_type,
        period,
        breakdown,
        breakdown_value,
        '{{ level }}'::text as level,
        {{ area_column if area_column else "'00'::text" }} as area_code,
        {%- for measure in measures %}
        {%- set column = measure['column'] %}
        coalesce(sum({{ column }}), 0) as {{ column }},
        {{ cell_key('sum(' ~ column ~ '__key)') }} as {{ column }}__key
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from unit_sums
    where
        breakdown in (
            {{ national_figure_breakdowns_at(level) }}
        )
        {%- if level == 'kommun' %}
        and period_type = 'round'
        {%- endif %}
    group by
        round_id, period_type, period, breakdown, breakdown_value
        {%- if area_column %}, {{ area_column }}{% endif %}
    {% if not loop.last %}
    union all
    {% endif %}
    {%- endfor %}
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
        totals.n_answers,
        totals.numerator_key,
        totals.n_population_key,
        totals.n_key,
        totals.n_answers_key
    from groups
    -- LT02 wants `lateral (` on a line of its own (sqlfluff issue 8345)
    -- noqa: disable=LT02
    cross join lateral (
        values
        {{ national_figure_total_rows(measures, 'groups') | join(',\n        ') }}
    ) as totals (
        figure_id, category, numerator, n_population, n, n_answers,
        numerator_key, n_population_key, n_key, n_answers_key
    )
    -- noqa: enable=LT02
    where totals.n_population > 0
        -- a breakdown of some figures only (figure catalogue: only_figures)
        and {{ national_figure_only_figures('groups.breakdown', 'totals.figure_id') }}
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
    case
        when categories.category = 'saknas' then figure_totals.n_population
        else figure_totals.n
    end as denominator,
    case
        when figures.kind = 'share' or categories.category = 'saknas'
            then
                round(
                    100.0 * figure_totals.numerator / nullif(
                        case
                            when categories.category = 'saknas' then figure_totals.n_population
                            else figure_totals.n
                        end,
                        0
                    ),
                    1
                )
    end as share_pct,
    case
        when figures.kind = 'mean' and categories.category <> 'saknas'
            then round(figure_totals.numerator::numeric / nullif(figure_totals.n, 0), 1)
    end as mean_value,
    -- the N the report prints beside a diagram: the cases with a usable answer
    figure_totals.n,
    figure_totals.n_population,
    figure_totals.n_population - figure_totals.n as n_saknas,
    -- multiple-choice figures: the number of answers (diagram 6 prints this N: 3 317)
    figure_totals.n_answers,
    -- the counts' cell keys (the Cell Key Method, SUKF_DISCLOSURE=ckm); a mean figure's
    -- numerator is a sum of values, not a count, and has none
    case
        when figures.kind = 'share' or categories.category = 'saknas'
            then figure_totals.numerator_key
    end as numerator_cell_key,
    figure_totals.n_key as n_cell_key,
    figure_totals.n_population_key as n_population_cell_key,
    figure_totals.n_answers_key as n_answers_cell_key,
    -- what the round was built from (int_round_inputs)
    rounds.round_inputs
from figure_totals
inner join figures on figure_totals.figure_id = figures.figure_id
inner join rounds on figure_totals.round_id = rounds.round_id
inner join categories
    on figure_totals.figure_id = categories.figure_id
    and figure_totals.category = categories.category
