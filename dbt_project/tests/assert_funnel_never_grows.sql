-- Along diagram 1 the counts never grow: insats and avslutade are subsets of aktualiserade,
-- måluppföljning and brukarenkät are counted among avslutade; and K + M never exceed T.
select funnel.*
from {{ ref('fct_case_funnel') }} as funnel
where med_insats > aktualiserade
   or avslutade > aktualiserade
   or med_maluppfoljning > avslutade
   or med_brukarenkat > avslutade
   or pagaende + avslutade <> aktualiserade
   or (kon = 'T' and aktualiserade < (
        select coalesce(sum(other.aktualiserade), 0)
        from {{ ref('fct_case_funnel') }} as other
        where other.round_id = funnel.round_id and other.level = funnel.level
          and other.area_code = funnel.area_code and other.kon in ('K', 'M')))
