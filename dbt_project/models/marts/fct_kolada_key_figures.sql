{#-
    The three Kolada key figures (src/sukvinnofrid/kolada/kpis.yaml) of every round as of itself
    (int_case_versions), per reporting unit, year and kön, per 10 000 inhabitants aged 18+.

    Definitions (the KPI titles: "Vuxna aktualiserade i IFO p.g.a. våld i nära relation/
    hedersrelaterat våld ..."). Kolada is collected once a year for the year just ended and keeps
    one value per year, so a year's value must be known when the year ends: each case counts in
    the calendar year of the event its figure is about (macro kolada_key_figures):
      aktualiserade   (U30750) - every case, in the year of its datum för aktualisering (v5);
      med_insats      (U30751) - cases that got at least one insats (a start date v117 or an
                                 insats v118 registered), in the year the insats started
                                 (v117); one without a valid start date has no year;
      mal_helt_delvis (U30752) - cases that got an insats, are closed (v256 or v257) and whose
                                 individual goal was reached fully or partly (v192 = 1 or 2),
                                 in the year the case closed (v256); one without a valid date of
                                 closing has no year. SKR: "fått insatser ... och där ärendet
                                 avslutats för att det övergripande målet med insatserna har
                                 nåtts helt eller delvis".
    A case that cannot be placed is not counted in any year; fct_round_deliveries counts them per
    round and unit for Granskning. The figures of a year are not nested (a case aktualiserad in
    December may get its insats in January).
    Rows: for each round, unit and figure, every year from the unit's first aktualisering up to
    the last year the round covers completely, x T/K/M; case_count 0 is a true zero. `covered`
    says whether the unit's collection covers the whole year (macro year_covered: it took part
    from a round whose collection began on or before 1 January, and its upload in force closed
    on 31 December or later); an uncovered cell has no value (published as not reported, never
    as 0).
    Units: a kommun (area_type 'kommun', kolada_id = kommun code), or a Stockholm/Göteborg
    stadsdel (area_type 'ou', kolada_id = its Kolada OU id). A kommun reporting by stadsdel gets
    a kommun row whose value is the mean of its participating (covering) stadsdelar' values, as
    the KPI description says (value_method 'medel_stadsdelar', units = stadsdelar behind it).
    population_18plus from the population seeds (T = K + M); population_source 'scb' or
    'approximation' (any approximation behind a value makes it one). Withholding of small
    counts happens when publishing.
-#}
{#- Incremental by round (int_round_inputs): only rounds whose inputs changed are built again, so
    a round costs the same however many rounds came before it. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_stale_rounds() }}",
    on_schema_change='fail',
) }}

with rounds as (
    {{ rounds_to_build() }}
),

versions as (
    select versions.*
    from {{ ref('int_case_versions') }} as versions
    where versions.round_id in (select rounds.round_id from rounds)
),

units as (
    select distinct
        round_id,
        unit_kod,
        kommun_kod,
        source_round_id,
        unit_kod <> kommun_kod as is_stadsdel
    from versions
),

first_cases as (
    select round_id, unit_kod, min(extract(year from datum_aktualisering))::int as first_year
    from versions
    group by round_id, unit_kod
),

unit_years as (
    select
        units.*,
        year.year,
        {{ year_covered('units.unit_kod', 'units.source_round_id', 'year.year') }} as covered
    from units
    inner join first_cases as first_case
        on units.round_id = first_case.round_id
        and units.unit_kod = first_case.unit_kod
    cross join lateral generate_series(
        first_case.first_year, {{ last_complete_year('units.round_id') }}
    ) as year (year)
),

case_figures as (
    -- every case of a figure in the year of the figure's event (macro kolada_key_figures);
    -- one without a valid date for it has no year (counted in fct_round_deliveries)
    {%- for figure, rule in kolada_key_figures().items() %}
    select
        round_id, unit_kod, '{{ figure }}' as figure,
        extract(year from {{ rule.year_of }})::int as year, kon_kod
    from versions
    where {{ rule.cases }} and {{ rule.year_of }} is not null
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

counts as (
    select
        case_figures.round_id, case_figures.unit_kod, case_figures.figure, case_figures.year,
        gender.gender, count(*) as case_count
    from case_figures
    cross join lateral (values ('T'), (case_figures.kon_kod)) as gender (gender)
    where gender.gender is not null
    group by
        case_figures.round_id, case_figures.unit_kod, case_figures.figure, case_figures.year,
        gender.gender
),

grid as (
    select unit_years.*, figures.figure, gender.gender
    from unit_years
    cross join (values ('aktualiserade'), ('med_insats'), ('mal_helt_delvis')) as figures (figure)
    cross join (values ('T'), ('K'), ('M')) as gender (gender)
),

unit_population as (
    {{ population_by_gender('population_18plus', 'kommun_kod') }}
    union all
    {{ population_by_gender('population_18plus_stadsdelar', 'stadsdel_kod') }}
),

unit_values as (
    select
        grid.round_id,
        grid.figure,
        grid.unit_kod,
        grid.kommun_kod,
        grid.is_stadsdel,
        grid.year,
        grid.gender,
        grid.covered,
        coalesce(counts.case_count, 0) as case_count,
        unit_population.population as population_18plus,
        unit_population.source as population_source,
        case
            when grid.covered
                then
                    coalesce(counts.case_count, 0) * 10000.0
                    / nullif(unit_population.population, 0)
        end as value_per_10000
    from grid
    left join counts
        on grid.round_id = counts.round_id
        and grid.unit_kod = counts.unit_kod
        and grid.figure = counts.figure
        and grid.year = counts.year
        and grid.gender = counts.gender
    left join unit_population
        on grid.unit_kod = unit_population.unit_kod
        and grid.year = unit_population.year
        and grid.gender = unit_population.gender
),

stadsdelar as (
    select stadsdel_kod, kolada_ou_id from {{ ref('stadsdelar') }}
),

by_stadsdel as (
    -- a kommun reporting by stadsdel: the mean of its covering stadsdelar' values
    select
        round_id,
        figure,
        kommun_kod,
        year,
        gender,
        bool_or(covered) as covered,
        coalesce(sum(case_count) filter (where covered), 0) as case_count,
        case
            when bool_and(population_18plus is not null) filter (where covered)
                then sum(population_18plus) filter (where covered)
        end as population_18plus,
        case
            when bool_or(population_source = 'approximation') filter (where covered)
                then 'approximation'
            else 'scb'
        end as population_source,
        case
            when count(*) filter (where covered and value_per_10000 is null) = 0
                then avg(value_per_10000) filter (where covered)
        end as value_per_10000,
        count(*) filter (where covered) as units
    from unit_values
    where is_stadsdel
    group by round_id, figure, kommun_kod, year, gender
),

key_figures as (
    select
        round_id, figure, 'kommun' as area_type, kommun_kod, kommun_kod as unit_kod,
        kommun_kod as kolada_id, year, gender, covered, case_count, population_18plus,
        population_source, value_per_10000, 'kvot' as value_method, 1 as units
    from unit_values
    where not is_stadsdel

    union all

    select
        round_id, figure, 'kommun' as area_type, kommun_kod, kommun_kod as unit_kod,
        kommun_kod as kolada_id, year, gender, covered, case_count, population_18plus,
        population_source, value_per_10000, 'medel_stadsdelar' as value_method, units
    from by_stadsdel

    union all

    select
        unit_values.round_id, unit_values.figure, 'ou' as area_type, unit_values.kommun_kod,
        unit_values.unit_kod, stadsdelar.kolada_ou_id, unit_values.year, unit_values.gender,
        unit_values.covered, unit_values.case_count, unit_values.population_18plus,
        unit_values.population_source, unit_values.value_per_10000, 'kvot' as value_method,
        1 as units
    from unit_values
    inner join stadsdelar on unit_values.unit_kod = stadsdelar.stadsdel_kod
    where unit_values.is_stadsdel
)

select key_figures.*, rounds.round_inputs
from key_figures
inner join rounds on key_figures.round_id = rounds.round_id
