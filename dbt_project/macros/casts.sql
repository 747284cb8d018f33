{#- Defensive casts for the text columns of raw.case_records. The quality gate rejects rows
    with malformed values, but staging is a view over every landed row, so a bad value must
    become NULL rather than fail the query. -#}

{% macro create_cast_functions() %}
create schema if not exists staging;
create or replace function staging.sukf_try_date(value text) returns date
language plpgsql immutable as $fn$
begin
    if value is null or btrim(value) !~ '^\d{4}-\d{2}-\d{2}$' then
        return null;
    end if;
    return btrim(value)::date;
exception when others then
    return null;
end
$fn$;
{% endmacro %}

{% macro to_int(column) -%}
case when btrim({{ column }}) ~ '^[0-9]{1,9}$' then btrim({{ column }})::integer end
{%- endmacro %}

{% macro to_date(column) -%}
staging.sukf_try_date({{ column }})
{%- endmacro %}

{% macro to_choice(column) -%}
coalesce(btrim({{ column }}) = '1', false)
{%- endmacro %}

{#- Keyed hash of an identifier (klient, handläggare): sha256 over key || '|' || value.
    pgcrypto is not available on the embedded server, so this is a keyed sha256 rather than an
    HMAC. The key is read from the warehouse (secrets.pseudonym_key, stored there by
    sukvinnofrid.transform, readable only by the owner and sukf_transform), never rendered into
    the SQL: dbt writes that SQL to target/ and logs/. An uncorrelated subquery: read once per
    query. -#}
{% macro pseudonymise(column) -%}
case when nullif(btrim({{ column }}), '') is not null then
    encode(sha256(convert_to((select key from secrets.pseudonym_key) || '|' || btrim({{ column }}), 'UTF8')), 'hex')
end
{%- endmacro %}
