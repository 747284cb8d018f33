{#- Expand case rows to the three levels: kommun, län and riket (area_code '00'). -#}
{% macro area_levels(alias) -%}
cross join lateral (
    values ('kommun', {{ alias }}.kommun_kod), ('lan', {{ alias }}.lan_kod), ('riket', '00')
) as area (level, area_code)
{%- endmacro %}
