-- For every single-choice figure the categories partition the figure's N: the numerators sum to
-- the denominator (so the shares sum to 100 % up to rounding). Left out: 'saknas' (its share is
-- of the population) and the summary categories that combine codes (sort_order >= 100, e.g.
-- "helt eller delvis").
with figures as (
    select figures.figure_id
    from {{ ref('national_figures') }} as figures
    left join {{ ref('variables') }} as catalogue on figures.suv = catalogue.suv
    where
        figures.kind = 'share'
        and (
            (figures.code_list = 'answer' and catalogue.type = 'code')
            or figures.figure_id in (
                'aldersgrupp', 'arendelangd', 'antal_samverkansparter', 'riskbedomning',
                'riskforandring', 'storleksgrupp', 'befolkningsgrupp', 'avslutsorsak_langd'
            )
        )
)

select
    figure_rows.round_id, figure_rows.figure_id, figure_rows.breakdown, figure_rows.breakdown_value,
    figure_rows.level, figure_rows.area_code, figure_rows.period_type, figure_rows.period,
    sum(figure_rows.numerator) as numerators,
    max(figure_rows.denominator) as denominator,
    sum(figure_rows.share_pct) as share_sum
from {{ ref('fct_national_figures') }} as figure_rows
inner join figures on figure_rows.figure_id = figures.figure_id
where
    figure_rows.category <> 'saknas' and figure_rows.sort_order < 100
    -- the rounds that passed are as they were (macros/tested_rounds.sql)
    and {{ untested_rounds('figure_rows.round_id') }}
group by 1, 2, 3, 4, 5, 6, 7, 8
having sum(figure_rows.numerator) <> max(figure_rows.denominator)
    or (max(figure_rows.denominator) > 0 and abs(sum(figure_rows.share_pct) - 100) > 1)
