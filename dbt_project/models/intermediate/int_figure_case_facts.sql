{#-
    The national figures at case level, per period (int_case_periods: per round from the case
    versions as of the round, and per calendar year of v5 from each case's latest state):
    one row per (period_type, period, case_id, figure_id) for every case in the figure's population
    (category null: counts in the denominator) and one row per category the case falls in
    (value 1 for shares, the case's count for means). fct_national_figures aggregates these.
-#}
{%- set single = {
    'kon': 'kon', 'ursprung': 'ursprung', 'hedersrelaterat': 'hedersrelaterat',
    'valdets_grad': 'valdets_grad', 'typ_av_insats': 'typ_av_insats',
    'genomforande': 'genomforande', 'forandring_valdsutsatthet': 'forandring_valdsutsatthet',
    'insatsernas_betydelse': 'insatsernas_betydelse', 'delaktighet': 'delaktighet',
    'positiva_inslag': 'positiva_inslag',
} -%}
{%- set multi = {'initiativ': 'initiativ', 'funktionsnedsattning': 'funktionsnedsattning',
                 'utovare': 'utovare', 'insatser': 'insatser'} -%}

with versions as (
    select * from {{ ref('int_case_periods') }}
),

facts as (
    {%- for figure, column in single.items() %}
    -- {{ figure }}: one answer
    select period_type, period, case_id, '{{ figure }}' as figure_id, null::text as category, 1 as value
    from versions where {{ column }} is not null
    union all
    select period_type, period, case_id, '{{ figure }}', {{ column }}::text, 1
    from versions where {{ column }} is not null
    union all
    {%- endfor %}

    -- aldersgrupp
    select period_type, period, case_id, 'aldersgrupp', null, 1 from versions where aldersgrupp is not null
    union all
    select period_type, period, case_id, 'aldersgrupp', aldersgrupp, 1 from versions where aldersgrupp is not null
    union all

    {%- for figure, key in multi.items() %}
    -- {{ figure }}: several answers; population = cases with at least one
    select period_type, period, case_id, '{{ figure }}', null, 1 from versions where {{ any_chosen(key) }}
    union all
    select versions.period_type, versions.period, versions.case_id, '{{ figure }}', chosen.code::text, 1
    from versions
    cross join lateral (values
        {%- for code in codes_of(key) %}
        ({{ code }}, {{ key }}_{{ code }}){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as chosen (code, is_chosen)
    where chosen.is_chosen
    union all
    {%- endfor %}

    select period_type, period, case_id, 'initiativ', 'annan_socialtjanst', 1 from versions where initiativ_annan_socialtjanst
    union all
    select period_type, period, case_id, 'utovare', 'partner', 1 from versions where utovare_partner
    union all
    select period_type, period, case_id, 'insatser', 'boende', 1 from versions where has_boendeinsats
    union all

    -- med_insats: share of all cases
    select period_type, period, case_id, 'med_insats', null, 1 from versions
    union all
    select period_type, period, case_id, 'med_insats', 'ja', 1 from versions where has_insats
    union all

    -- antal_insatser: mean among cases with at least one insats
    select period_type, period, case_id, 'antal_insatser', null, 1 from versions where antal_insatser > 0
    union all
    select period_type, period, case_id, 'antal_insatser', 'medel', antal_insatser from versions where antal_insatser > 0
    union all

    -- samverkan: partners 1-9 among cases with at least one partner
    select period_type, period, case_id, 'samverkan', null, 1 from versions where antal_samverkansparter > 0
    union all
    select versions.period_type, versions.period, versions.case_id, 'samverkan', chosen.code::text, 1
    from versions
    cross join lateral (values
        {%- for code in range(1, 10) %}
        ({{ code }}, samverkan_{{ code }}){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as chosen (code, is_chosen)
    where chosen.is_chosen
    union all

    -- antal_samverkansparter: among cases where samverkan is registered (incl. "ingen")
    select period_type, period, case_id, 'antal_samverkansparter', null, 1 from versions where samverkan_registrerad
    union all
    select period_type, period, case_id, 'antal_samverkansparter',
        case when antal_samverkansparter >= 3 then '3+' else antal_samverkansparter::text end, 1
    from versions where samverkan_registrerad
    union all
    select period_type, period, case_id, 'medel_samverkansparter', null, 1 from versions where antal_samverkansparter > 0
    union all
    select period_type, period, case_id, 'medel_samverkansparter', 'medel', antal_samverkansparter
    from versions where antal_samverkansparter > 0
    union all

    -- after closing
    select period_type, period, case_id, 'avslutsorsak', null, 1 from versions where is_closed and avslutsorsak is not null
    union all
    select period_type, period, case_id, 'avslutsorsak', avslutsorsak::text, 1 from versions where is_closed and avslutsorsak is not null
    union all
    select period_type, period, case_id, 'maluppfoljning', null, 1 from versions where is_closed and maluppfoljning is not null
    union all
    select period_type, period, case_id, 'maluppfoljning', maluppfoljning::text, 1 from versions where is_closed and maluppfoljning is not null
    union all
    select period_type, period, case_id, 'arendelangd', null, 1 from versions where is_closed and arendelangd_grupp is not null
    union all
    select period_type, period, case_id, 'arendelangd', arendelangd_grupp, 1 from versions where is_closed and arendelangd_grupp is not null
    union all
    select period_type, period, case_id, 'brukarenkat_besvarad', null, 1 from versions where is_closed
    union all
    select period_type, period, case_id, 'brukarenkat_besvarad', 'ja', 1 from versions where is_closed and has_brukarenkat
    union all
    select period_type, period, case_id, 'toppgrupp', null, 1 from versions where is_closed
    union all
    select period_type, period, case_id, 'toppgrupp', 'ja', 1 from versions where is_closed and toppgrupp
    union all

    -- risk assessments
    select period_type, period, case_id, 'riskbedomning', null, 1 from versions
    union all
    select period_type, period, case_id, 'riskbedomning', case when antal_riskbedomningar > 0 then 'ja' else 'nej' end, 1
    from versions
    union all
    select period_type, period, case_id, 'riskmetod', null, 1 from versions where antal_riskbedomningar > 0
    union all
    select versions.period_type, versions.period, versions.case_id, 'riskmetod', chosen.code::text, 1
    from versions
    cross join lateral (values
        {%- for code in codes_of('riskbedomning') %}
        ({{ code }}, riskmetod_{{ code }}){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as chosen (code, is_chosen)
    where chosen.is_chosen
    union all

    -- riskforandring: last vs first scored assessment (slot order), cases with >= 2 scores
    select period_type, period, case_id, 'riskforandring', null, 1 from versions where riskforandring is not null
    union all
    select period_type, period, case_id, 'riskforandring', riskforandring, 1 from versions where riskforandring is not null
    union all

    -- storleksgrupp: the cases per kommun size group (adults 18+, int_kommun_storleksgrupper)
    select period_type, period, case_id, 'storleksgrupp', null, 1 from versions where storleksgrupp_kod is not null
    union all
    select period_type, period, case_id, 'storleksgrupp', storleksgrupp_kod, 1 from versions where storleksgrupp_kod is not null
)

select * from facts
