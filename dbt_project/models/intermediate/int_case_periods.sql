{#-
    The cases of each round's national figures, one row per (round_id, period_type, period,
    case_id), all as of round_id (int_case_versions), so a round's figures never change when
    later rounds arrive:
    - period_type 'round', period = round_id: every case of the round;
    - period_type 'year', period = ÅÅÅÅ: the cases aktualiserade (v5; the figure catalogue's
      year_date) in that calendar year, for
      every year the round covers completely (macro last_complete_year), and only from units
      whose collection covers the whole year (macro year_covered: the unit took part from a
      round whose collection began on or before 1 January, and its upload in force closed on
      31 December or later): a year a unit has not covered has none of its cases, so the län
      and riket figures of the year add up only the units that covered it.
    With every column of int_case_versions plus the kommun's size groups
    (int_kommun_storleksgrupper, by total inhabitants): storleksgrupp_kod, befolkningsgrupp_kod.
-#}
{#- Incremental by round and unit, like int_case_versions. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_stale_units() }}",
    indexes=[{'columns': ['round_id', 'unit_kod']}],
) }}

with units as (
    select round_id, unit_kod
    from {{ ref('int_round_inputs') }} as inputs
    where {{ unit_not_built('inputs.round_id', 'inputs.unit_kod') }}
),

versions as (
    select versions.*
    from {{ ref('int_case_versions') }} as versions
    inner join units
        on versions.round_id = units.round_id
        and versions.unit_kod = units.unit_kod
),

periods as (
    select 'round'::text as period_type, versions.round_id::text as period, versions.*
    from versions

    union all

    select
        'year'::text as period_type,
        extract(year from versions.{{ national_figure_year_date() }})::int::text as period,
        versions.*
    from versions
    where
        extract(year from versions.{{ national_figure_year_date() }})
        <= {{ last_complete_year('versions.round_id') }}
        and {{ year_covered(
            'versions.unit_kod',
            'versions.source_round_id',
            'extract(year from versions.' ~ national_figure_year_date() ~ ')::int'
        ) }}
),

size_groups as (
    select kommun_kod, storleksgrupp_kod, befolkningsgrupp_kod
    from {{ ref('int_kommun_storleksgrupper') }}
)

select
    periods.*,
    size_groups.storleksgrupp_kod,
    size_groups.befolkningsgrupp_kod
from periods
left join size_groups on periods.kommun_kod = size_groups.kommun_kod
