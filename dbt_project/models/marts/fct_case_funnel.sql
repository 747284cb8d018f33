{#-
    Diagram 1 "Antal ärenden i olika faser" (seed 000 line 320-328), per round, level
    (kommun/lan/riket), area and kön (T = all cases, K = kvinna, M = man; a case without kön
    counts in T only), from the case versions as of each round so an earlier round rebuilds
    identically after later rounds arrive. The phases (aktualiserade, med_insats, avslutade,
    med_maluppfoljning, med_brukarenkat) and, in orange in the report, the missing
    registrations: a wrong or missing answer is counted here, never a reason to drop the case.
    Beside each count its cell key (<count>_cell_key: the sum of its cases' record keys mod 256,
    int_case_record_keys), which the Cell Key Method (SUKF_DISCLOSURE=ckm) perturbs it by.
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
    select versions.*, record_keys.record_key
    from {{ ref('int_case_versions') }} as versions
    inner join {{ ref('int_case_record_keys') }} as record_keys
        on versions.case_id = record_keys.case_id
    where versions.round_id in (select rounds.round_id from rounds)
),

by_area as (
    select versions.*, area.level, area.area_code
    from versions
    {{ area_levels('versions') }}
),

-- beside the keys, the case columns the funnel's conditions read (macro funnel_counts)
by_gender as (
    select
        by_area.round_id, by_area.level, by_area.area_code, gender.kon,
        by_area.has_insats, by_area.is_closed, by_area.has_maluppfoljning,
        by_area.has_avslutsorsak, by_area.has_brukarenkat, by_area.datum_insats,
        by_area.datum_avslut, by_area.record_key
    from by_area
    cross join lateral (values ('T'), (by_area.kon_kod)) as gender (kon)
    where gender.kon is not null
),

counts as (
    select
        round_id,
        level,
        area_code,
        kon,
        {%- for name, condition in funnel_counts().items() %}
        count(*) filter (where {{ condition }}) as {{ name }},
        {{ cell_key('sum(record_key) filter (where ' ~ condition ~ ')') }} as {{ name }}_cell_key
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from by_gender
    group by round_id, level, area_code, kon
),

-- every area with cases in a round gets all three genders, zero when there are none
grid as (
    select distinct counts.round_id, counts.level, counts.area_code, gender.kon
    from counts
    cross join (values ('T'), ('K'), ('M')) as gender (kon)
)

select
    grid.round_id,
    rounds.round_inputs,
    grid.level,
    grid.area_code,
    grid.kon,
    {%- for name in funnel_counts() %}
    coalesce(counts.{{ name }}, 0) as {{ name }},
    {%- endfor %}
    {%- for name in funnel_counts() %}
    coalesce(counts.{{ name }}_cell_key, 0) as {{ name }}_cell_key{% if not loop.last %},{% endif %}
    {%- endfor %}
from grid
inner join rounds on grid.round_id = rounds.round_id
left join counts
    on grid.round_id = counts.round_id
    and grid.level = counts.level
    and grid.area_code = counts.area_code
    and grid.kon = counts.kon
