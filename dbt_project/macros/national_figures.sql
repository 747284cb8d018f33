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
    Diagram 17 (avslutsorsak_langd) shows four 90-day periods: a case of more than 360 days is
    not in its population, and one of unknown length is its uppgift saknas.
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
    'avslutsorsak_langd': {'population': "is_closed and avslutsorsak in (1, 3, 4) and arendelangd_grupp is distinct from '>360'",
                           'answered': 'arendelangd_grupp is not null',
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

{#- The breakdowns of the national figures: {'dimensions': name -> expression over a case of
    int_case_periods, 'breakdowns': name -> (its dimensions, the levels it is published at)}.
    Every dimension is a breakdown at riket; kön also at kommun and län, hederskontext at län;
    the cross-tabulations kön x hederskontext and kön x åldersgrupp at riket. -#}
{% macro national_figure_breakdowns() %}
{%- set rules = national_figure_rules() -%}
{%- set dimensions = {
    'kon': 'kon_kod',
    'aldersgrupp': 'aldersgrupp',
    'hedersrelaterat': "case hedersrelaterat when 1 then 'ja' when 2 then 'nej' when 3 then 'vet_inte' end",
    'riskbedomning': rules['riskbedomning']['category'],
    'ursprung': 'ursprung::text',
    'valdets_grad': 'valdets_grad::text',
    'maluppfoljning': 'maluppfoljning::text',
    'arendelangd': 'arendelangd_grupp',
    'storleksgrupp': 'storleksgrupp_kod',
    'befolkningsgrupp': 'befolkningsgrupp_kod',
    'funktionsnedsattning': 'funktionsnedsattning_grupp',
    'toppgrupp': "case when is_closed then case when toppgrupp then 'ja' else 'nej' end end",
    'forandring_valdsutsatthet': 'forandring_valdsutsatthet::text',
    'riskinstrument': 'riskforandring_instrument',
} -%}
{%- set breakdowns = {'alla': ([], ['kommun', 'lan', 'riket'])} -%}
{%- for dimension in dimensions -%}
    {%- do breakdowns.update({dimension: ([dimension], ['riket'])}) -%}
{%- endfor -%}
{%- do breakdowns.update({
    'kon': (['kon'], ['kommun', 'lan', 'riket']),
    'hedersrelaterat': (['hedersrelaterat'], ['lan', 'riket']),
    'kon_hedersrelaterat': (['kon', 'hedersrelaterat'], ['riket']),
    'kon_aldersgrupp': (['kon', 'aldersgrupp'], ['riket']),
}) -%}
{{ return({'dimensions': dimensions, 'breakdowns': breakdowns}) }}
{% endmacro %}

{#- What every case adds to each national figure, as the columns of int_figure_sums: a list of
    {figure_id, category, column, expression}, category none for the figure's population,
    'answered' for its N and 'answers' for its number of answers (multiple choice), else an
    answer category of int_figure_categories (read while compiling; 'saknas' is the
    population minus N). Columns are named <figure>__population, <figure>__n,
    <figure>__answers and <figure>__c_<category> (characters other than a-z0-9 as '_'). -#}
{% macro national_figure_measures() %}
{%- set rules = national_figure_rules() -%}
{%- set measures = [] -%}
{%- if execute -%}
    {%- set categories = run_query("select figure_id, category from " ~ ref('int_figure_categories')
                                   ~ " where category <> 'saknas' order by figure_id, sort_order, category") -%}
    {%- for figure_id in categories.columns[0].values() | unique -%}
        {%- if figure_id not in rules -%}
            {{ exceptions.raise_compiler_error("national figure " ~ figure_id ~ " has no rule in national_figure_rules()") }}
        {%- endif -%}
        {%- set rule = rules[figure_id] -%}
        {%- set answered = 'in_' ~ figure_id ~ ' and coalesce(' ~ rule['answered'] ~ ', false)' -%}
        {%- do measures.append({'figure_id': figure_id, 'category': none, 'column': figure_id ~ '__population',
                                'expression': 'in_' ~ figure_id ~ '::int'}) -%}
        {%- do measures.append({'figure_id': figure_id, 'category': 'answered', 'column': figure_id ~ '__n',
                                'expression': '(' ~ answered ~ ')::int'}) -%}
        {%- if 'chosen' in rule -%}
            {%- do measures.append({'figure_id': figure_id, 'category': 'answers', 'column': figure_id ~ '__answers',
                'expression': 'case when in_' ~ figure_id ~ ' then ' ~ count_chosen(rule['chosen'], rule.get('codes')) ~ ' else 0 end'}) -%}
        {%- endif -%}
        {%- for row in categories.rows if row[0] == figure_id -%}
            {%- set column = figure_id ~ '__c_' ~ modules.re.sub('[^a-z0-9]', '_', row[1] | lower) -%}
            {%- if column in measures | map(attribute='column') -%}
                {{ exceptions.raise_compiler_error("two categories of " ~ figure_id ~ " make column " ~ column) }}
            {%- endif -%}
            {%- do measures.append({'figure_id': figure_id, 'category': row[1], 'column': column,
                'expression': 'case when ' ~ answered ~ ' and '
                    ~ national_figure_category_condition(rules, figure_id, row[1])
                    ~ ' then ' ~ rule.get('value', 1) ~ ' else 0 end'}) -%}
        {%- endfor -%}
    {%- endfor -%}
{%- endif -%}
{{ return(measures) }}
{% endmacro %}

{#- SQL: the names of the breakdowns published at `level` (kommun, lan or riket) as string
    literals, 'alla', 'kon', ... in the order of national_figure_breakdowns(). -#}
{% macro national_figure_breakdowns_at(level) -%}
    {%- set names = [] -%}
    {%- for name, (dims, levels) in national_figure_breakdowns()['breakdowns'].items() -%}
        {%- if level in levels -%}
            {%- do names.append("'" ~ name ~ "'") -%}
        {%- endif -%}
    {%- endfor -%}
    {{- names | join(', ') -}}
{%- endmacro %}

{#- int_figure_sums' grouping sets, one per breakdown: {name, by_columns (its by_<dimension>
    columns), mask (its GROUPING() bitmask over all `by_columns`: a bit per column not in the
    set, the first column the highest)}. -#}
{% macro national_figure_grouping_sets(by_columns, breakdowns) %}
{%- set sets = [] -%}
{%- for name, (dims, levels) in breakdowns.items() -%}
    {%- set mask = namespace(value=0) -%}
    {%- for column in by_columns -%}
        {%- if column[3:] not in dims -%}
            {%- set mask.value = mask.value + 2 ** (by_columns | length - loop.index) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set set_columns = [] -%}
    {%- for dim in dims -%}
        {%- do set_columns.append('by_' ~ dim) -%}
    {%- endfor -%}
    {%- do sets.append({'name': name, 'by_columns': set_columns, 'mask': mask.value}) -%}
{%- endfor -%}
{{ return(sets) }}
{% endmacro %}

{#- SQL: the breakdown value of a row of a grouping set over `columns` (of relation `prefix`):
    their values joined with '|', null when one is null (the row is in no value of the
    breakdown); 'alla' for the empty set. -#}
{% macro national_figure_breakdown_value(columns, prefix) -%}
    {%- set qualified = [] -%}
    {%- for column in columns -%}
        {%- do qualified.append(prefix ~ '.' ~ column) -%}
    {%- endfor -%}
    {%- if qualified -%}
        case when {{ qualified | join(' is not null and ') }} is not null
            then {{ qualified | join(" || '|' || ") }} end
    {%- else -%}
        'alla'
    {%- endif -%}
{%- endmacro %}

{#- fct_national_figures' value rows for each row of `relation` (a group of int_figure_sums added
    up): (figure_id, category, numerator, the figure's population, N and number of answers, then
    the cell keys of those four) per category of each figure, then (figure_id, 'saknas',
    population minus N, ...; its key the population's less the N's). -#}
{% macro national_figure_total_rows(measures, relation) %}
{%- set column_of = {} -%}
{%- for measure in measures -%}
    {%- do column_of.update({(measure['figure_id'], measure['category']): measure['column']}) -%}
{%- endfor -%}
{%- set rows = [] -%}
{%- for measure in measures if measure['category'] not in (none, 'answered', 'answers') -%}
    {%- set figure_id = measure['figure_id'] -%}
    {%- set population = relation ~ '.' ~ column_of[(figure_id, none)] -%}
    {%- set n = relation ~ '.' ~ column_of[(figure_id, 'answered')] -%}
    {%- set has_answers = (figure_id, 'answers') in column_of -%}
    {%- set answers = relation ~ '.' ~ column_of[(figure_id, 'answers')] if has_answers else 'null::bigint' -%}
    {%- set keys = population ~ '__key, ' ~ n ~ '__key, '
        ~ (answers ~ '__key' if has_answers else 'null::integer') -%}
    {%- do rows.append("('" ~ figure_id ~ "', '" ~ (measure['category'] | replace("'", "''"))
        ~ "', " ~ relation ~ "." ~ measure['column'] ~ ", " ~ population ~ ", " ~ n ~ ", "
        ~ answers ~ ", " ~ relation ~ "." ~ measure['column'] ~ "__key, " ~ keys ~ ")") -%}
    {%- if loop.last or loop.nextitem['figure_id'] != figure_id -%}
        {%- do rows.append("('" ~ figure_id ~ "', 'saknas', " ~ population ~ " - " ~ n ~ ", "
            ~ population ~ ", " ~ n ~ ", " ~ answers ~ ", "
            ~ cell_key(population ~ '__key - ' ~ n ~ '__key') ~ ", " ~ keys ~ ")") -%}
    {%- endif -%}
{%- endfor -%}
{{ return(rows) }}
{% endmacro %}
