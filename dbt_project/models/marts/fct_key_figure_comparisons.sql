{#-
    The three Kolada key figures of every round as of itself for the areas a kommun page compares
    a unit with: its län, its kommun size group (storleksgrupp, dim_reporting_units) and riket,
    per year and gender. Each area's value is over the participating kommuner that cover the
    whole year (fct_kolada_key_figures rows of area_type 'kommun' with covered and a
    population): the sum of their cases per 10 000 of their inhabitants aged 18+, so the
    aggregate is the kommun cells added up (a kommun reporting by stadsdel counts with its
    covering stadsdelar' cases and population). units = the kommuner behind the value.
    Withholding of small counts happens when the report publishes it (sukvinnofrid.report, the
    rule of sukvinnofrid.disclosure), consistently with the Kolada files' withheld kommun cells.
-#}
with key_figures as (
    select * from {{ ref('fct_kolada_key_figures') }}
    where area_type = 'kommun' and covered and population_18plus is not null
),

units as (
    select * from {{ ref('dim_reporting_units') }}
    where unit_type = 'kommun'
),

by_area as (
    select key_figures.*, area.level, area.area_code
    from key_figures
    inner join units on key_figures.kommun_kod = units.unit_kod
    -- LT02 wants `lateral (` on a line of its own (sqlfluff issue 8345)
    -- noqa: disable=LT02
    cross join lateral (
        values ('lan', units.lan_kod), ('storleksgrupp', units.storleksgrupp_kod), ('riket', '00')
    ) as area (level, area_code)
    -- noqa: enable=LT02
    where area.area_code is not null
)

select
    round_id,
    figure,
    level,
    area_code,
    year,
    gender,
    count(*) as units,
    sum(case_count) as case_count,
    sum(population_18plus) as population_18plus,
    case when bool_or(population_source = 'approximation') then 'approximation' else 'scb' end
        as population_source,
    sum(case_count) * 10000.0 / nullif(sum(population_18plus), 0) as value_per_10000
from by_area
group by round_id, figure, level, area_code, year, gender
