{#- SQL condition: the reporting unit `unit_kod` (a kommun or a stadsdel) covers the whole
    calendar year `year` with the upload of round `source_round_id` (its upload in force), so
    the unit's figures of that year are published. Both must hold:
    - the unit took part from a round whose collection began on or before 1 January of the
      year and still took part in December: a participation_register period with first_round
      ÅÅÅÅ-01 of the year or earlier (round ÅÅÅÅ-MM collects from the first day of its month up
      to round_end_date, the last), and last_round, if any, ÅÅÅÅ-12 or later;
    - its upload closed on 31 December of the year or later (source_round_id ÅÅÅÅ-12 or later).
    A unit not in the register covers no year. A year not covered is published without value:
    in the Kolada key figures (fct_kolada_key_figures, `covered`) and, for the national figures'
    years (int_case_periods), the unit's cases are in no län or riket figure of that year. -#}
{% macro year_covered(unit_kod, source_round_id, year) -%}
    ({{ source_round_id }} >= {{ year }}::text || '-12'
        and exists (
            select 1 from {{ ref('participation_register') }} as register
            where register.unit_kod = {{ unit_kod }}
                and register.first_round <= {{ year }}::text || '-01'
                and (register.last_round is null or register.last_round >= {{ year }}::text || '-12')
        ))
{%- endmacro %}
