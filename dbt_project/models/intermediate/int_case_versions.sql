{#-
    Each case's state as of each round. For round R and reporting unit (kommun/stadsdel), the
    unit's state is its current accepted upload with the latest round_id <= R (uploads are
    cumulative extracts), so a round's figures do not change when later rounds arrive.
    One row per (round_id, case_id); source_round_id is the round of the upload used.
    The registrations are as the statistics count them (int_case_records_in_force: a wrong
    answer is null), with the derived groups every figure uses.
-#}
{#- Incremental by round and unit: only the units whose inputs changed are rebuilt
    (int_round_inputs), so a corrected upload rebuilds that unit's cases, not the round. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_stale_units() }}",
    indexes=[
        {'columns': ['round_id', 'unit_kod']},
        {'columns': ['case_id', 'round_id']},
    ],
) }}
{%- set slots = risk_slots() %}

with state_upload as (
    -- per round and unit not built yet, the upload that is the unit's state as of that round
    select round_id, unit_kod, upload_id, unit_inputs
    from {{ ref('int_round_inputs') }} as inputs
    where {{ unit_not_built('inputs.round_id', 'inputs.unit_kod') }}
),

records as (
    select * from {{ ref('int_case_records_in_force') }}
),

stadsdelar as (
    select stadsdel_kod, kommun_kod from {{ ref('stadsdelar') }}
),

kommuner as (
    select kommun_kod, lan_kod from {{ ref('kommuner') }}
),

versions as (
    select
        state_upload.round_id,
        state_upload.unit_inputs,
        records.round_id as source_round_id,
        records.case_id,
        records.upload_id,
        records.source_row,
        records.unit_kod,
        coalesce(stadsdelar.kommun_kod, left(records.unit_kod, 4)) as kommun_kod,
        records.has_insats,
        records.is_closed,
        {{- select_typed_case_columns('records') }}
    from state_upload
    inner join records on state_upload.upload_id = records.upload_id
    left join stadsdelar on records.unit_kod = stadsdelar.stadsdel_kod
)

select
    versions.round_id,
    versions.unit_inputs,
    versions.case_id,
    versions.source_round_id,
    versions.upload_id,
    versions.source_row,
    versions.unit_kod,
    versions.kommun_kod,
    coalesce(kommuner.lan_kod, left(versions.kommun_kod, 2)) as lan_kod,
    case versions.kon when 1 then 'K' when 2 then 'M' end as kon_kod,
    {{ age_group('versions.alder') }} as aldersgrupp,

    -- phases (diagram 1): as registered; the answers of a phase count once it is reached
    versions.has_insats,
    versions.is_closed,
    versions.maluppfoljning is not null as has_maluppfoljning,
    versions.avslutsorsak is not null as has_avslutsorsak,
    (
        versions.forandring_valdsutsatthet is not null
        or versions.insatsernas_betydelse is not null
        or versions.positiva_inslag is not null
        or versions.delaktighet is not null
    ) as has_brukarenkat,

    -- durations (null when a date is missing or cannot be placed)
    versions.datum_insats - versions.datum_aktualisering as dagar_till_insats,
    versions.datum_avslut - versions.datum_aktualisering as dagar_till_avslut,
    {{ duration_bucket('versions.datum_avslut - versions.datum_aktualisering') }}
        as arendelangd_grupp,

    -- counts and derived groups
    {{ count_chosen('insatser', prefix='versions.') }} as antal_insatser,
    {{ any_chosen('insatser', [10, 11, 12, 13], prefix='versions.') }} as has_boendeinsats,
    {{ count_chosen('samverkan', [1, 2, 3, 4, 5, 6, 7, 8, 9], prefix='versions.') }}
        as antal_samverkansparter,
    {{ any_chosen('samverkan', prefix='versions.') }} as samverkan_registrerad,
    {{ any_chosen('initiativ', [3, 4, 5, 6, 7], prefix='versions.') }}
        as initiativ_annan_socialtjanst,
    {{ any_chosen('utovare', [1, 2], prefix='versions.') }} as utovare_partner,
    -- one value per case for the breakdown (several kinds: 'flera')
    case
        when {{ count_chosen('funktionsnedsattning', [1, 2, 3], prefix='versions.') }} > 1
            then 'flera'
        when versions.funktionsnedsattning_1 then 'fysisk'
        when versions.funktionsnedsattning_2 then 'psykisk'
        when versions.funktionsnedsattning_3 then 'intellektuell'
        when versions.funktionsnedsattning_4 then 'nej'
        when versions.funktionsnedsattning_5 then 'vet_ej'
    end as funktionsnedsattning_grupp,
    (
        {%- for slot in slots %}
        (versions.risk_{{ slot }}_instrument is not null)::int{% if not loop.last %} +{% endif %}
        {%- endfor %}
    ) as antal_riskbedomningar,
    {%- for code in codes_of('riskbedomning') %}
    coalesce(
        {%- for slot in slots %}
        {% if not loop.first %}or {% endif %}versions.risk_{{ slot }}_instrument = {{ code }}
        {%- endfor %},
        false
    ) as riskmetod_{{ code }},
    {%- endfor %}
    -- risk change within one instrument (the report compares FREDA with FREDA, samtal with
    -- samtal): the instrument with the most scored assessments (ties: the lower code), its
    -- first and last score in time-point order (then slot order); null below two
    risk.instrument as riskforandring_instrument,
    risk.antal as antal_riskskattningar,
    case
        when risk.sista < risk.forsta then 'lagre'
        when risk.sista = risk.forsta then 'oforandrad'
        when risk.sista > risk.forsta then 'hogre'
    end as riskforandring,
    (versions.maluppfoljning = 1 and versions.forandring_valdsutsatthet = 1) is true as toppgrupp,

    -- the registrations
    {{- select_typed_case_columns('versions') }}
from versions
left join kommuner on versions.kommun_kod = kommuner.kommun_kod
left join lateral (
    select
        assessment.instrument::text as instrument,
        count(*) as antal,
        (array_agg(
            assessment.skattning order by assessment.tidpunkt nulls last, assessment.slot
        ))[1] as forsta,
        (array_agg(
            assessment.skattning
            order by assessment.tidpunkt desc nulls first, assessment.slot desc
        ))[1] as sista
    from (
        values
        {%- for slot in slots %}
        (
            {{ slot }},
            versions.risk_{{ slot }}_tidpunkt,
            versions.risk_{{ slot }}_instrument,
            versions.risk_{{ slot }}_skattning
        ){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as assessment (slot, tidpunkt, instrument, skattning)
    where assessment.instrument is not null and assessment.skattning is not null
    group by assessment.instrument
    having count(*) >= 2
    order by count(*) desc, assessment.instrument
    limit 1
) as risk on true
