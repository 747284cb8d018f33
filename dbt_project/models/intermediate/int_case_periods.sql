{#-
    The cases per period of the national figures, one row per (period_type, period, case_id):
    - period_type 'round', period = round_id: every case as of that round (int_case_versions),
      so a round's figures do not change when later rounds arrive;
    - period_type 'year', period = the calendar year (ÅÅÅÅ) of datum för aktualisering (v5):
      every case in its latest state (int_cases), counted in the year it was aktualiserad
      (cases without v5 have no year row).
    With every column of int_case_versions plus
    - storleksgrupp_kod: the kommun's size group (int_kommun_storleksgrupper; adults 18+);
    - antal_riskskattningar: filled v90 slots with a score (skattning);
    - riskforandring: for cases with at least two scored slots, the last score (highest slot)
      against the first (lowest slot): 'lagre' | 'oforandrad' | 'hogre'; null otherwise;
    - riskforandring_instrument: for those cases the instrument code (text) when every scored
      slot used the same instrument, else 'olika'.
-#}
{#- Incremental: the round periods of rounds whose inputs changed (int_round_inputs) and every
    calendar-year period (a later round can change any case's latest state) are rebuilt. -#}
-- depends_on: {{ ref('int_round_inputs') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_stale_rounds(round_column='period', always_rebuilt=\"built.period_type = 'year'\") }}",
) }}

with versions as (
    select * from {{ ref('int_case_versions') }}
),

latest as (
    select round_id, case_id from {{ ref('int_cases') }}
),

periods as (
    select 'round'::text as period_type, versions.round_id::text as period, versions.*
    from versions
    where {{ round_not_built('versions.round_id', round_column='period',
                             built_where="built.period_type = 'round'") }}

    union all

    select 'year'::text, extract(year from versions.datum_aktualisering)::int::text, versions.*
    from versions
    inner join latest
        on versions.round_id = latest.round_id
        and versions.case_id = latest.case_id
    where versions.datum_aktualisering is not null
),

size_groups as (
    select kommun_kod, storleksgrupp_kod from {{ ref('int_kommun_storleksgrupper') }}
)

{%- set slots = risk_slots() %}

select
    periods.*,
    size_groups.storleksgrupp_kod,
    risk.antal_skattningar as antal_riskskattningar,
    case when risk.antal_skattningar >= 2 then
        case
            when risk.sista < risk.forsta then 'lagre'
            when risk.sista = risk.forsta then 'oforandrad'
            else 'hogre'
        end
    end as riskforandring,
    case when risk.antal_skattningar >= 2 then
        -- the instrument when every scored slot names the first scored slot's one
        case when coalesce(
            {%- for slot in slots %}
            (periods.risk_{{ slot }}_skattning is null
                or periods.risk_{{ slot }}_instrument = first_scored.instrument){% if not loop.last %} and{% endif %}
            {%- endfor %}, false)
            then first_scored.instrument::text else 'olika' end
    end as riskforandring_instrument
from periods
left join size_groups on periods.kommun_kod = size_groups.kommun_kod
-- plain expressions over the slots (no per-row subquery): scored slots, first and last score
cross join lateral (
    select
        {%- for slot in slots %}
        (periods.risk_{{ slot }}_skattning is not null)::int{% if not loop.last %} +{% endif %}
        {%- endfor %} as antal_skattningar,
        coalesce({% for slot in slots %}periods.risk_{{ slot }}_skattning{% if not loop.last %}, {% endif %}{% endfor %}) as forsta,
        coalesce({% for slot in slots | reverse %}periods.risk_{{ slot }}_skattning{% if not loop.last %}, {% endif %}{% endfor %}) as sista
) as risk
cross join lateral (
    select case
        {%- for slot in slots %}
        when periods.risk_{{ slot }}_skattning is not null then periods.risk_{{ slot }}_instrument
        {%- endfor %}
    end as instrument
) as first_scored
