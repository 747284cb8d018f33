-- For every single-choice figure the categories partition the population: the numerators sum to
-- the denominator (so the shares sum to 100 % up to rounding).
with figures as (
    select figures.figure_id
    from {{ ref('national_figures') }} as figures
    left join {{ ref('variables') }} as variables on figures.suv = variables.suv
    where figures.kind = 'share'
      and (
        (figures.code_list = 'answer' and variables.type = 'code')
        or figures.figure_id in ('aldersgrupp', 'arendelangd', 'antal_samverkansparter', 'riskbedomning',
                                'riskforandring', 'storleksgrupp')
      )
)

select
    national.figure_id, national.breakdown, national.breakdown_value, national.level,
    national.area_code, national.period_type, national.period,
    sum(national.numerator) as numerators,
    max(national.denominator) as denominator,
    sum(national.share_pct) as shares
from {{ ref('fct_national_figures') }} as national
inner join figures on national.figure_id = figures.figure_id
group by 1, 2, 3, 4, 5, 6, 7
having sum(national.numerator) <> max(national.denominator)
    or abs(sum(national.share_pct) - 100) > 1
