{#- The Cell Key Method (SUKF_DISCLOSURE=ckm, sukvinnofrid.cellkey, docs/disclosure.md).

    record_key: a case's record key, uniform on 0..255: the first byte of a keyed sha256 of its
    pseudonymised case key (int_case_records_in_force.case_id). The same case has the same key in
    every round, and without the pseudonymisation key nobody can work the keys out (the key is
    read from the warehouse as in macro pseudonymise, never rendered into the SQL). -#}
{% macro record_key(case_id) -%}
get_byte(sha256(convert_to((select key from secrets.pseudonym_key) || '|cellnyckel|' || {{ case_id }}, 'UTF8')), 0)
{%- endmacro %}

{#- cell_key: a cell's key from the sum of its records' keys (or a difference of such sums, e.g.
    a figure's population less its N): that sum mod 256, 0 for an empty cell. -#}
{% macro cell_key(key_sum) -%}
((coalesce({{ key_sum }}, 0) % 256 + 256) % 256)::integer
{%- endmacro %}
