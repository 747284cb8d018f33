{#- After a build: drop the tables and views in the model schemas that no model of the project
    makes any more (a model removed or renamed in an upgrade), so a retired table of case-level
    rows does not linger in the warehouse. Only the schemas the models own are touched. -#}
{% macro drop_retired_relations(schemas=('staging', 'intermediate', 'marts')) %}
    {%- if execute and flags.WHICH in ('build', 'run') -%}
        {%- set current = [] -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' -%}
            {%- do current.append(node.schema ~ '.' ~ (node.alias or node.name)) -%}
        {%- endfor -%}
        {%- set found = run_query(
            "select table_schema, table_name, table_type from information_schema.tables"
            ~ " where table_schema in ('" ~ schemas | join("', '") ~ "')") -%}
        {%- for row in found.rows if (row[0] ~ '.' ~ row[1]) not in current -%}
            {%- do log("dropping retired relation " ~ row[0] ~ "." ~ row[1], info=true) -%}
            {%- do run_query("drop " ~ ('view' if row[2] == 'VIEW' else 'table') ~ " if exists "
                             ~ adapter.quote(row[0]) ~ "." ~ adapter.quote(row[1]) ~ " cascade") -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}
