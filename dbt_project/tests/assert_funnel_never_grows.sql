-- Along diagram 1 the counts never grow: insats and avslutade are subsets of aktualiserade,
-- måluppföljning and brukarenkät are counted among avslutade; and K + M never exceed T.
-- The rounds that passed are as they were (macros/tested_rounds.sql).
with funnel as (
    select * from {{ ref('fct_case_funnel') }}
    where {{ untested_rounds('round_id') }}
),

women_and_men as (
    select round_id, level, area_code, sum(aktualiserade) as aktualiserade
    from funnel
    where kon in ('K', 'M')
    group by round_id, level, area_code
)

select funnel.*
from funnel
left join women_and_men
    on funnel.round_id = women_and_men.round_id
    and funnel.level = women_and_men.level
    and funnel.area_code = women_and_men.area_code
where
    funnel.med_insats > funnel.aktualiserade
    or funnel.avslutade > funnel.aktualiserade
    or funnel.med_maluppfoljning > funnel.avslutade
    or funnel.med_brukarenkat > funnel.avslutade
    or funnel.pagaende + funnel.avslutade <> funnel.aktualiserade
    or (
        funnel.kon = 'T'
        and funnel.aktualiserade < coalesce(women_and_men.aktualiserade, 0)
    )
