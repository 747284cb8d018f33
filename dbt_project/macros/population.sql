{#- A population seed (unit, year, kon K/M, population, source) as rows per unit, year and gender
    T/K/M: T = K + M, only when both are known; T's source is an approximation when either is
    ('approximation' sorts before 'scb' and 'city'). -#}
{% macro population_by_gender(seed, unit_column) -%}
    select {{ unit_column }} as unit_kod, year, kon as gender, population, source
    from {{ ref(seed) }}
    union all
    select {{ unit_column }}, year, 'T', sum(population), min(source)
    from {{ ref(seed) }}
    where kon in ('K', 'M')
    group by {{ unit_column }}, year
    having count(distinct kon) = 2
{%- endmacro %}
