{#- Helpers over the boolean multiple-choice columns <key>_<code> of the typed case rows. -#}

{% macro codes_of(key) -%}
    {%- for v in catalogue_variables() if v.key == key -%}
        {{ return(v.codes) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("no multiple-choice variable " ~ key) }}
{%- endmacro %}

{% macro any_chosen(key, codes=none, prefix='') -%}
    {%- set codes = codes if codes is not none else codes_of(key) -%}
    ({% for code in codes %}{{ prefix }}{{ key }}_{{ code }}{% if not loop.last %} or {% endif %}{% endfor %})
{%- endmacro %}

{% macro count_chosen(key, codes=none, prefix='') -%}
    {%- set codes = codes if codes is not none else codes_of(key) -%}
    ({% for code in codes %}{{ prefix }}{{ key }}_{{ code }}::int{% if not loop.last %} + {% endif %}{% endfor %})
{%- endmacro %}

{% macro risk_slots() -%}
    {%- for v in catalogue_variables() if v.type == 'risk_assessments' -%}
        {{ return(range(1, v.slots + 1) | list) }}
    {%- endfor -%}
{%- endmacro %}

{#- Age groups of the report (diagram 3): 18–24, 25–34, ..., 65–74, 75+. -#}
{% macro age_group(column) -%}
case
    when {{ column }} between 18 and 24 then '18-24'
    when {{ column }} between 25 and 34 then '25-34'
    when {{ column }} between 35 and 44 then '35-44'
    when {{ column }} between 45 and 54 then '45-54'
    when {{ column }} between 55 and 64 then '55-64'
    when {{ column }} between 65 and 74 then '65-74'
    when {{ column }} >= 75 then '75+'
end
{%- endmacro %}

{#- Duration buckets of diagram 16/17, in days from aktualisering to avslut. -#}
{% macro duration_bucket(days) -%}
case
    when {{ days }} is null or {{ days }} < 0 then null
    when {{ days }} <= 90 then '0-90'
    when {{ days }} <= 180 then '91-180'
    when {{ days }} <= 270 then '181-270'
    when {{ days }} <= 360 then '271-360'
    else '>360'
end
{%- endmacro %}

{#- The typed registration columns of stg_raw__case_records (without upload_id, source_row). -#}
{% macro typed_case_columns() -%}
    {%- set columns = [] -%}
    {%- for v in catalogue_variables() -%}
        {%- if v.identifier -%}
            {%- do columns.append(v.key ~ '_pseudonym') -%}
        {%- elif v.type == 'date' -%}
            {%- do columns.append(v.key) -%}
            {%- do columns.append(v.key ~ '_angivet') -%}
        {%- elif v.type in ('kommun', 'code', 'integer') -%}
            {%- do columns.append(v.key) -%}
        {%- elif v.type == 'codes' -%}
            {%- for code in v.codes -%}{%- do columns.append(v.key ~ '_' ~ code) -%}{%- endfor -%}
        {%- elif v.type == 'risk_assessments' -%}
            {%- for slot in range(1, v.slots + 1) -%}
                {%- for part in ('tidpunkt', 'instrument', 'skattning') -%}
                    {%- do columns.append('risk_' ~ slot ~ '_' ~ part) -%}
                {%- endfor -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}

{% macro select_typed_case_columns(relation_alias) -%}
    {%- for column in typed_case_columns() %}
    {{ relation_alias }}.{{ column }}{% if not loop.last %},{% endif %}
    {%- endfor %}
{%- endmacro %}
