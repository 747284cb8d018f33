{#-
    The three Kolada key figures per kommun, year and kön, per 10 000 inhabitants aged 18+,
    from the cases' latest state:
      aktualiserade   - cases by year of datum för aktualisering (v5)
      med_insats      - cases with an insats, by year the first insats started (v117);
                        cases with insatser but no v117 date cannot be placed in a year
      mal_helt_delvis - closed cases whose måluppföljning (v192) is 1 (mål uppnått) or
                        2 (delvis uppnått), by year of datum avslut (v256)
    Rows: per figure, every kommun-year with aktualiserade cases or with cases of the figure,
    x T/K/M; case_count 0 (a true zero) when none. T population = K + M.
-#}
with cases as (
    select * from {{ ref('int_cases') }}
),

case_figures as (
    select 'aktualiserade' as figure, kommun_kod, extract(year from datum_aktualisering)::int as year, kon_kod
    from cases
    where datum_aktualisering is not null
    union all
    select 'med_insats', kommun_kod, extract(year from datum_insats)::int, kon_kod
    from cases
    where has_insats and datum_insats is not null
    union all
    select 'mal_helt_delvis', kommun_kod, extract(year from datum_avslut)::int, kon_kod
    from cases
    where is_closed and maluppfoljning in (1, 2)
),

counts as (
    select case_figures.figure, case_figures.kommun_kod, case_figures.year, gender.gender, count(*) as case_count
    from case_figures
    cross join lateral (values ('T'), (case_figures.kon_kod)) as gender (gender)
    where gender.gender is not null
    group by 1, 2, 3, 4
),

-- A kommun takes part in a year when it has aktualiserade cases that year: every figure gets a
-- row (true zero when no case) for those kommun-years, plus the kommun-years where the figure
-- itself has cases (an insats or avslut in a year without new aktualiseringar).
kommun_years as (
    select distinct figures.figure, case_figures.kommun_kod, case_figures.year
    from case_figures
    cross join (values ('aktualiserade'), ('med_insats'), ('mal_helt_delvis')) as figures (figure)
    where case_figures.figure = 'aktualiserade' or case_figures.figure = figures.figure
),

grid as (
    select kommun_years.figure, kommun_years.kommun_kod, kommun_years.year, gender.gender
    from kommun_years
    cross join (values ('T'), ('K'), ('M')) as gender (gender)
),

population as (
    select kommun_kod, year, kon as gender, population from {{ ref('population_18plus') }}
    union all
    -- T = K + M, only when both are known
    select kommun_kod, year, 'T', sum(population)
    from {{ ref('population_18plus') }}
    where kon in ('K', 'M')
    group by kommun_kod, year
    having count(distinct kon) = 2
)

select
    grid.figure,
    grid.kommun_kod,
    grid.year,
    grid.gender,
    coalesce(counts.case_count, 0) as case_count,
    population.population as population_18plus,
    round(coalesce(counts.case_count, 0) * 10000.0 / nullif(population.population, 0), 1)
        as value_per_10000
from grid
left join counts
    on grid.figure = counts.figure
    and grid.kommun_kod = counts.kommun_kod
    and grid.year = counts.year
    and grid.gender = counts.gender
left join population
    on grid.kommun_kod = population.kommun_kod
    and grid.year = population.year
    and grid.gender = population.gender
