{#- The counts of Diagram 1 (seed 000 lines 320-328) over case rows of int_case_versions: the
    phases and, in orange in the report, the missing registrations; name -> condition. One
    definition for fct_case_funnel and the round console (fct_round_deliveries). -#}
{% macro funnel_counts() %}
{{ return({
    'aktualiserade': 'true',
    'med_insats': 'has_insats',
    'avslutade': 'is_closed',
    'med_maluppfoljning': 'is_closed and has_maluppfoljning',
    'med_brukarenkat': 'is_closed and has_brukarenkat',
    'utan_insats': 'not has_insats',
    'pagaende': 'not is_closed',
    'med_insats_utan_startdatum': 'has_insats and datum_insats is null',
    'avslutade_utan_avslutsdatum': 'is_closed and datum_avslut is null',
    'avslutade_utan_avslutsorsak': 'is_closed and not has_avslutsorsak',
    'avslutade_utan_maluppfoljning': 'is_closed and not has_maluppfoljning',
    'avslutade_utan_brukarenkat': 'is_closed and not has_brukarenkat',
}) }}
{% endmacro %}
