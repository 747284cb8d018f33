{#- The Kolada key figures (src/sukvinnofrid/kolada/kpis.yaml, year_basis) over case rows of
    int_case_versions: figure -> the cases it counts and the date whose calendar year a case
    counts in. Kolada keeps one value per year, collected after the year ends, so a case counts
    in the year of the event the figure is about: aktualiserad (v5), the (first) insats started
    (v117), the case closed (v256). A case of a figure without a valid date for it cannot be
    placed in a year. One definition for fct_kolada_key_figures and for the round console's
    cases that cannot be placed (fct_round_deliveries, shown in Granskning). -#}
{% macro kolada_key_figures() %}
{{ return({
    'aktualiserade': {'cases': 'true', 'year_of': 'datum_aktualisering'},
    'med_insats': {'cases': 'has_insats', 'year_of': 'datum_insats'},
    'mal_helt_delvis': {
        'cases': 'has_insats and is_closed and maluppfoljning in (1, 2)',
        'year_of': 'datum_avslut',
    },
}) }}
{% endmacro %}
