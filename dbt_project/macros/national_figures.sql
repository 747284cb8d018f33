{#- How a case of int_case_periods counts in each national figure (seed national_figures, whose
    columns population/denominator/date_basis/source state the same definitions in words, with
    the report's diagram and the line of seed 000 they reproduce):
    - population: the cases the figure is about (its N before missing registrations), e.g. all
      aktualiserade cases, the closed cases, the cases with an insats;
    - answered: the cases of the population with a usable answer: the N the report prints and
      the denominator of the shares (default: the case has a category / chose an answer). The
      rest of the population is the figure's category 'saknas' ("uppgift saknas");
    - one of
      category: an expression whose value is the case's category (single answer), or
      chosen: a multiple-choice key; the case is in category <code> when <key>_<code> is true
      (the figure also counts the answers: n_answers);
    - named: derived categories and the condition for each (e.g. 'partner');
    - value: what a case adds to its category (mean figures); 1 when absent.
    The categories themselves come from int_figure_categories (code lists + derived seed). -#}
{% macro national_figure_rules() %}
{%- set closed_answers = 'is_closed and has_brukarenkat' -%}
{%- set rules = {
    'aldersgrupp': {'category': 'aldersgrupp'},
    'initiativ': {'chosen': 'initiativ', 'named': {'annan_socialtjanst': 'initiativ_annan_socialtjanst'}},
    'funktionsnedsattning': {'chosen': 'funktionsnedsattning'},
    'utovare': {'chosen': 'utovare', 'named': {'partner': 'utovare_partner'}},
    'med_insats': {'answered': 'true', 'named': {'ja': 'has_insats'}},
    'insatser': {'population': 'has_insats', 'chosen': 'insatser', 'named': {'boende': 'has_boendeinsats'}},
    'antal_insatser': {'population': 'has_insats', 'answered': 'antal_insatser > 0',
                       'named': {'medel': 'true'}, 'value': 'antal_insatser'},
    'typ_av_insats': {'population': 'has_insats', 'category': 'typ_av_insats'},
    'samverkan': {'population': 'antal_samverkansparter > 0', 'chosen': 'samverkan'},
    'antal_samverkansparter': {'answered': 'samverkan_registrerad',
        'category': "case when antal_samverkansparter >= 3 then '3+' else antal_samverkansparter::text end"},
    'medel_samverkansparter': {'population': 'antal_samverkansparter > 0', 'answered': 'true',
                               'named': {'medel': 'true'}, 'value': 'antal_samverkansparter'},
    'genomforande': {'population': 'is_closed and has_insats', 'category': 'genomforande'},
    'avslutsorsak': {'population': 'is_closed', 'category': 'avslutsorsak'},
    'avslutsorsak_langd': {'population': 'is_closed and avslutsorsak in (1, 3, 4)',
                           'answered': "arendelangd_grupp in ('0-90', '91-180', '181-270', '271-360')",
                           'category': 'avslutsorsak'},
    'maluppfoljning': {'population': 'is_closed', 'category': 'maluppfoljning',
                       'named': {'helt_delvis': 'maluppfoljning in (1, 2)'}},
    'arendelangd': {'population': 'is_closed', 'category': 'arendelangd_grupp'},
    'brukarenkat_besvarad': {'population': 'is_closed', 'answered': 'true', 'named': {'ja': 'has_brukarenkat'}},
    'forandring_valdsutsatthet': {'population': closed_answers, 'category': 'forandring_valdsutsatthet'},
    'insatsernas_betydelse': {'population': closed_answers, 'category': 'insatsernas_betydelse',
                              'named': {'stor_avgorande': 'insatsernas_betydelse in (4, 5)'}},
    'delaktighet': {'population': closed_answers, 'category': 'delaktighet',
                    'named': {'stor_mycket_stor': 'delaktighet in (4, 5)'}},
    'positiva_inslag': {'population': closed_answers, 'category': 'positiva_inslag'},
    'toppgrupp': {'population': 'is_closed', 'answered': 'true', 'named': {'ja': 'toppgrupp'}},
    'riskbedomning': {'answered': 'true',
        'category': "case when antal_riskbedomningar > 0 then 'ja' else 'nej' end"},
    'riskmetod': {'population': 'antal_riskbedomningar > 0', 'answered': 'true', 'chosen': 'riskmetod',
                  'codes': codes_of('riskbedomning')},
    'riskforandring': {'population': 'riskforandring is not null', 'category': 'riskforandring'},
    'storleksgrupp': {'category': 'storleksgrupp_kod'},
    'befolkningsgrupp': {'category': 'befolkningsgrupp_kod'},
} -%}
{#- The single-answer code variables of the whole population: the answer is the category. -#}
{%- for key in ['kon', 'ursprung', 'hedersrelaterat', 'valdets_grad'] -%}
    {%- do rules.update({key: {'category': key}}) -%}
{%- endfor -%}
{%- for figure_id, rule in rules.items() -%}
    {%- if 'population' not in rule -%}{%- do rule.update({'population': 'true'}) -%}{%- endif -%}
    {%- if 'answered' not in rule -%}
        {%- do rule.update({'answered': '(' ~ rule['category'] ~ ') is not null' if 'category' in rule
                                        else any_chosen(rule['chosen'])}) -%}
    {%- endif -%}
{%- endfor -%}
{{ return(rules) }}
{% endmacro %}

{#- The condition for an answered case of a figure's population to fall in `category`. -#}
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
