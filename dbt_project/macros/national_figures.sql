{#- How a case of int_case_periods counts in each national figure (seed national_figures):
    - population: the condition for the case to be in the figure's denominator;
    - one of
      category: an expression whose value is the case's category (single answer), or
      chosen: a multiple-choice key; the case is in category <code> when <key>_<code> is true;
    - named: derived categories and the condition for each (e.g. 'partner');
    - value: what a case adds to its category (mean figures); 1 when absent.
    The categories themselves come from int_figure_categories (code lists + derived seed). -#}
{% macro national_figure_rules() %}
{%- set rules = {
    'aldersgrupp': {'population': 'aldersgrupp is not null', 'category': 'aldersgrupp'},
    'initiativ': {'population': any_chosen('initiativ'), 'chosen': 'initiativ',
                  'named': {'annan_socialtjanst': 'initiativ_annan_socialtjanst'}},
    'funktionsnedsattning': {'population': any_chosen('funktionsnedsattning'), 'chosen': 'funktionsnedsattning'},
    'utovare': {'population': any_chosen('utovare'), 'chosen': 'utovare',
                'named': {'partner': 'utovare_partner'}},
    'med_insats': {'population': 'true', 'named': {'ja': 'has_insats'}},
    'insatser': {'population': any_chosen('insatser'), 'chosen': 'insatser',
                 'named': {'boende': 'has_boendeinsats'}},
    'antal_insatser': {'population': 'antal_insatser > 0', 'named': {'medel': 'true'},
                       'value': 'antal_insatser'},
    'samverkan': {'population': 'antal_samverkansparter > 0', 'chosen': 'samverkan'},
    'antal_samverkansparter': {'population': 'samverkan_registrerad',
        'category': "case when antal_samverkansparter >= 3 then '3+' else antal_samverkansparter::text end"},
    'medel_samverkansparter': {'population': 'antal_samverkansparter > 0', 'named': {'medel': 'true'},
                               'value': 'antal_samverkansparter'},
    'avslutsorsak': {'population': 'is_closed and avslutsorsak is not null', 'category': 'avslutsorsak'},
    'maluppfoljning': {'population': 'is_closed and maluppfoljning is not null', 'category': 'maluppfoljning'},
    'arendelangd': {'population': 'is_closed and arendelangd_grupp is not null', 'category': 'arendelangd_grupp'},
    'brukarenkat_besvarad': {'population': 'is_closed', 'named': {'ja': 'has_brukarenkat'}},
    'toppgrupp': {'population': 'is_closed', 'named': {'ja': 'toppgrupp'}},
    'riskbedomning': {'population': 'true',
        'category': "case when antal_riskbedomningar > 0 then 'ja' else 'nej' end"},
    'riskmetod': {'population': 'antal_riskbedomningar > 0', 'chosen': 'riskmetod'},
    'riskforandring': {'population': 'riskforandring is not null', 'category': 'riskforandring'},
    'storleksgrupp': {'population': 'storleksgrupp_kod is not null', 'category': 'storleksgrupp_kod'},
} -%}
{#- The single-answer code variables: the case's answer is its category. -#}
{%- for key in ['kon', 'ursprung', 'hedersrelaterat', 'valdets_grad', 'typ_av_insats', 'genomforande',
                'forandring_valdsutsatthet', 'insatsernas_betydelse', 'delaktighet', 'positiva_inslag'] -%}
    {%- do rules.update({key: {'population': key ~ ' is not null', 'category': key}}) -%}
{%- endfor -%}
{{ return(rules) }}
{% endmacro %}

{#- The condition for a case of a figure's population to fall in `category`. -#}
{% macro national_figure_category_condition(rules, figure_id, category) -%}
    {%- set rule = rules[figure_id] -%}
    {%- if category in rule.get('named', {}) -%}
        {{ rule['named'][category] }}
    {%- elif 'chosen' in rule and category.isdigit() -%}
        {{ rule['chosen'] }}_{{ category }}
    {%- elif 'category' in rule -%}
        ({{ rule['category'] }}) = '{{ category | replace("'", "''") }}'
    {%- else -%}
        {{ exceptions.raise_compiler_error("national figure " ~ figure_id ~ " has no rule for category " ~ category) }}
    {%- endif -%}
{%- endmacro %}
