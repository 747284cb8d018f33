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
with facts as (
    select * from {{ ref('int_figure_case_facts') }}
),

versions as (
    select * from {{ ref('int_case_periods') }}
),

figures as (
    select * from {{ ref('national_figures') }}
),

categories as (
    select * from {{ ref('int_figure_categories') }}
),

case_groups as (
    select versions.period_type, versions.period, versions.case_id, area.level, area.area_code,
        'alla' as breakdown, 'alla' as breakdown_value
    from versions
    {{ area_levels('versions') }}

    union all

    select versions.period_type, versions.period, versions.case_id, 'riket', '00',
        groups.breakdown, groups.breakdown_value
    from versions
    cross join lateral (values
        ('kon', versions.kon_kod),
        ('aldersgrupp', versions.aldersgrupp),
        ('hedersrelaterat', case versions.hedersrelaterat
            when 1 then 'ja' when 2 then 'nej' when 3 then 'vet_inte' end),
        ('riskbedomning', case when versions.antal_riskbedomningar > 0 then 'ja' else 'nej' end),
        ('ursprung', versions.ursprung::text),
        ('valdets_grad', versions.valdets_grad::text),
        ('maluppfoljning', versions.maluppfoljning::text),
        ('arendelangd', versions.arendelangd_grupp),
        ('storleksgrupp', versions.storleksgrupp_kod),
        -- only used for figure riskforandring (see grouped)
        ('riskinstrument', versions.riskforandring_instrument)
    ) as groups (breakdown, breakdown_value)
    where groups.breakdown_value is not null
),

grouped as (
    select
        facts.period_type,
        facts.period,
        facts.figure_id,
        case_groups.level,
        case_groups.area_code,
        case_groups.breakdown,
        case_groups.breakdown_value,
        facts.category,
        sum(facts.value) as total
    from facts
    inner join case_groups
        on facts.period_type = case_groups.period_type
        and facts.period = case_groups.period
        and facts.case_id = case_groups.case_id
    where case_groups.breakdown <> 'riskinstrument' or facts.figure_id = 'riskforandring'
    group by 1, 2, 3, 4, 5, 6, 7, 8
),

denominators as (
    select * from grouped where category is null
),

numerators as (
    select * from grouped where category is not null
)

select
    figures.figure_id,
    figures.diagram,
    figures.title,
    figures.kind,
    denominators.breakdown,
    denominators.breakdown_value,
    categories.category,
    categories.category_label,
    categories.sort_order,
    denominators.level,
    denominators.area_code,
    denominators.period_type,
    denominators.period,
    coalesce(numerators.total, 0) as numerator,
    denominators.total as denominator,
    case when figures.kind = 'share'
        then round(100.0 * coalesce(numerators.total, 0) / denominators.total, 1) end as share_pct,
    case when figures.kind = 'mean'
        then round(coalesce(numerators.total, 0)::numeric / denominators.total, 1) end as mean_value,
    -- the N the report prints beside a diagram: the cases in the figure's population
    denominators.total as n
from denominators
inner join figures on denominators.figure_id = figures.figure_id
inner join categories on denominators.figure_id = categories.figure_id
left join numerators
    on denominators.period_type = numerators.period_type
    and denominators.period = numerators.period
    and denominators.figure_id = numerators.figure_id
    and denominators.level = numerators.level
    and denominators.area_code = numerators.area_code
    and denominators.breakdown = numerators.breakdown
    and denominators.breakdown_value = numerators.breakdown_value
    and categories.category = numerators.category
