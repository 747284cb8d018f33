{#-
    Each kommun's size group (seed kommungrupper) by its number of inhabitants aged 18 and over
    (seed population_18plus, K + M) in the latest year for which both are known. NOTE: the size
    measure is the ADULT population, because that is the population seed the project holds; the
    group limits (kommungrupper) are meant for the total population, so a kommun near a limit
    may land one group lower than with total population. A kommun without a population has no
    row (its cases have no size group).
-#}
with population as (
    select kommun_kod, year, sum(population) as population_18plus
    from {{ ref('population_18plus') }}
    where kon in ('K', 'M') and population is not null
    group by kommun_kod, year
    having count(distinct kon) = 2
),

latest as (
    select distinct on (kommun_kod) kommun_kod, year, population_18plus
    from population
    order by kommun_kod, year desc
),

groups as (
    select * from {{ ref('kommungrupper') }}
)

select
    latest.kommun_kod,
    latest.year as population_year,
    latest.population_18plus,
    groups.storleksgrupp_kod,
    groups.storleksgrupp_namn
from latest
inner join groups
    on latest.population_18plus >= groups.min_invanare
    and (groups.max_invanare is null or latest.population_18plus <= groups.max_invanare)
