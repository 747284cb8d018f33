{#-
    Each kommun's size, by its total number of inhabitants (seed population_total) in the latest
    year the seed holds for it, in two groupings:
    - storleksgrupp (seed kommungrupper): the report's one named band, 40 000-99 999 invånare
      ("Cirka 40 procent av alla ärendena", seed 000 at Diagram 1), is group 3;
    - befolkningsgrupp (seed befolkningsgrupper): Öppna jämförelser's five groups (seed 003).
    A kommun without a population has no row (its cases have no size group).
-#}
with population as (
    select distinct on (kommun_kod) kommun_kod, year, population
    from {{ ref('population_total') }}
    where population is not null
    order by kommun_kod asc, year desc
),

storleksgrupper as (
    select * from {{ ref('kommungrupper') }}
),

befolkningsgrupper as (
    select * from {{ ref('befolkningsgrupper') }}
)

select
    population.kommun_kod,
    population.year as population_year,
    population.population as invanare,
    storleksgrupper.storleksgrupp_kod,
    storleksgrupper.storleksgrupp_namn,
    befolkningsgrupper.befolkningsgrupp_kod,
    befolkningsgrupper.befolkningsgrupp_namn
from population
left join storleksgrupper
    on population.population >= storleksgrupper.min_invanare
    and (
        storleksgrupper.max_invanare is null
        or population.population <= storleksgrupper.max_invanare
    )
left join befolkningsgrupper
    on population.population >= befolkningsgrupper.min_invanare
    and (
        befolkningsgrupper.max_invanare is null
        or population.population <= befolkningsgrupper.max_invanare
    )
