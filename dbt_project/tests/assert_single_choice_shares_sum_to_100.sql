-- For every single-choice figure the categories partition the figure's N: the numerators sum to
-- the denominator (so the shares sum to 100 % up to rounding). Left out: 'saknas' (its share is
-- of the population) and the summary categories that combine codes (sort_order >= 100, e.g.
-- "helt eller delvis").
with figures as (
    select figures.figure_id
    from {{ ref('national_figures') }} as figures
    left join {{ ref('variables') }} as variables on figures.suv = variables.suv
    where figures.kind = 'share'
      and (
        (figures.code_list = 'answer' and variables.type = 'code')
        or figures.figure_id in ('aldersgrupp', 'arendelangd', 'antal_samverkansparter', 'riskbedomning',
                                'riskforandring', 'storleksgrupp', 'befolkningsgrupp', 'avslutsorsak_langd')
      )
)

select
    national.round_id, national.figure_id, national.breakdown, national.breakdown_value,
    national.level, national.area_code, national.period_type, national.period,
    sum(national.numerator) as numerators,
    max(national.denominator) as denominator,
    sum(national.share_pct) as shares
from {{ ref('fct_national_figures') }} as national
inner join figures on national.figure_id = figures.figure_id
where national.category <> 'saknas' and national.sort_order < 100
group by 1, 2, 3, 4, 5, 6, 7, 8
having sum(national.numerator) <> max(national.denominator)
    or (max(national.denominator) > 0 and abs(sum(national.share_pct) - 100) > 1)
