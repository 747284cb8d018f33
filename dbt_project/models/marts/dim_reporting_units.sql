{#-
    Every reporting unit a round can have: the 290 kommuner and the Stockholm/Göteborg
    stadsdelar, with the areas the report pages compare a unit with: its kommun (a stadsdel's),
    län, kommun size group (seed kommungrupper) and Öppna jämförelser's befolkningsgrupp
    (seed befolkningsgrupper), both by the kommun's total inhabitants (int_kommun_storleksgrupper),
    and the id it is published under in Kolada (kommun code, or a stadsdel's OU id).
-#}
with kommuner as (
    select * from {{ ref('kommuner') }}
),

stadsdelar as (
    select * from {{ ref('stadsdelar') }}
),

lan as (
    select * from {{ ref('lan') }}
),

sizes as (
    select * from {{ ref('int_kommun_storleksgrupper') }}
),

units as (
    select
        kommun_kod as unit_kod,
        'kommun' as unit_type,
        kommun_namn as unit_namn,
        kommun_kod,
        kommun_kod as kolada_id
    from kommuner
    union all
    select
        stadsdel_kod,
        'stadsdel' as unit_type,
        stadsdel_namn,
        kommun_kod,
        kolada_ou_id
    from stadsdelar
)

select
    units.unit_kod,
    units.unit_type,
    units.unit_namn,
    units.kommun_kod,
    kommuner.kommun_namn,
    kommuner.lan_kod,
    lan.lan_namn,
    units.kolada_id,
    sizes.invanare,
    sizes.storleksgrupp_kod,
    sizes.storleksgrupp_namn,
    sizes.befolkningsgrupp_kod,
    sizes.befolkningsgrupp_namn
from units
inner join kommuner on units.kommun_kod = kommuner.kommun_kod
inner join lan on kommuner.lan_kod = lan.lan_kod
left join sizes on units.kommun_kod = sizes.kommun_kod
