-- Along diagram 1 the counts never grow: insats and avslutade are subsets of aktualiserade,
-- måluppföljning and brukarenkät are counted among avslutade; and K + M never exceed T.
-- The rounds that passed are as they were (macros/tested_rounds.sql).
select funnel.*
from {{ ref('fct_case_funnel') }} as funnel
where
    {{ untested_rounds('funnel.round_id') }}
    and (
        funnel.med_insats > funnel.aktualiserade
        or funnel.avslutade > funnel.aktualiserade
        or funnel.med_maluppfoljning > funnel.avslutade
        or funnel.med_brukarenkat > funnel.avslutade
        or funnel.pagaende + funnel.avslutade <> funnel.aktualiserade
        or (
            funnel.kon = 'T'
            and funnel.aktualiserade < (
                select coalesce(sum(other.aktualiserade), 0)
                from {{ ref('fct_case_funnel') }} as other
                where
                    other.round_id = funnel.round_id
                    and other.level = funnel.level
                    and other.area_code = funnel.area_code
                    and other.kon in ('K', 'M')
            )
        )
    )
