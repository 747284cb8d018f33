{#- Keeps every change of a case's phase state between builds (rounds). -#}
{% snapshot case_state_snapshot %}
{{ config(
    unique_key='case_id',
    strategy='check',
    check_cols=['has_insats', 'is_closed', 'has_maluppfoljning', 'has_brukarenkat',
                'datum_insats', 'datum_avslut', 'avslutsorsak', 'maluppfoljning',
                'antal_insatser'],
) }}
select
    case_id, round_id, source_round_id, upload_id, kommun_kod, unit_kod,
    has_insats, is_closed, has_maluppfoljning, has_avslutsorsak, has_brukarenkat,
    datum_aktualisering, datum_insats, datum_avslut, avslutsorsak, maluppfoljning, antal_insatser
from {{ ref('int_cases') }}
{% endsnapshot %}
