{#- The national figures' SQL. What each figure counts (macro national_figure_rules) and its
    breakdowns (national_figure_breakdowns) are generated from catalogue/figures.yaml into
    macros/figure_catalogue.sql; these macros turn them into int_figure_sums' columns and
    fct_national_figures' rows. -#}
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

{#- The ids of the breakdowns, 'alla' first (the accepted values of fct_national_figures'
    breakdown). -#}
{% macro national_figure_breakdown_ids() %}
{{ return(national_figure_breakdowns()['breakdowns'].keys() | list) }}
{% endmacro %}

{#- SQL: a row of `breakdown` and `figure_id` is published: the breakdowns of some figures
    only (only_figures) are not published for the others; true when there are none. -#}
{% macro national_figure_only_figures(breakdown, figure_id) -%}
    {%- set conditions = ['true'] -%}
    {%- for name, figure_ids in national_figure_breakdowns()['only_figures'].items() -%}
        {%- do conditions.append("(" ~ breakdown ~ " <> '" ~ name ~ "' or " ~ figure_id ~ " in ('"
                                 ~ figure_ids | join("', '") ~ "'))") -%}
    {%- endfor -%}
    {{- conditions | join(' and ') -}}
{%- endmacro %}

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
