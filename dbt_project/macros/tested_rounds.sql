{#- Data tests of the models that are built by round (var tested_by_round) read only the rounds
    whose inputs no build has tested yet: a round is rebuilt only when its inputs (round_inputs of
    int_round_inputs) change, so its rows are as they were when they passed. A correction or a
    new round is tested; the history is not read again by every build. ops.dbt_tested_rounds
    (warehouse.DDL) holds what passed: written after a build with no failure, emptied when a
    full refresh starts or a table built by round is missing (its rows are made again, so they
    are tested again). -#}

{#- The data tests' `where` (dbt_project.yml data_tests: +where): on a model built by round,
    the untested rounds; on any other model, every row. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where == '__untested_rounds__' -%}
        {%- if relation.identifier in var('tested_by_round') -%}
            {%- set where = untested_rounds('round_id') -%}
        {%- else -%}
            {%- set where = '' -%}
        {%- endif -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- SQL condition: `round_expression` is a round whose current inputs have not passed a build's
    tests (every round, when nothing is recorded). The rounds are looked up when the test runs
    and written into its SQL as values, so the test reads them through the table's round_id
    index instead of scanning the history ('false' when every round has passed). -#}
{% macro untested_rounds(round_expression) -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select distinct inputs.round_id from " ~ int_round_inputs_relation() ~ " as inputs"
            ~ " where not exists (select 1 from ops.dbt_tested_rounds as tested"
            ~ " where tested.round_id = inputs.round_id"
            ~ " and tested.round_inputs = inputs.round_inputs) order by 1") -%}
        {%- set rounds = found.columns[0].values() -%}
        {%- if rounds -%}
            {{ round_expression }} in (
            {%- for round_id in rounds -%}
                '{{ round_id | replace("'", "''") }}'{{ ', ' if not loop.last }}
            {%- endfor -%})
        {%- else -%}
            false
        {%- endif -%}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- int_round_inputs as a relation name: tests built on this macro read it at run time, where a
    ref() to a model the test does not depend on would not resolve. -#}
{% macro int_round_inputs_relation() -%}
    {%- if execute -%}  {#- the graph is there once parsing is done -#}
        {%- set node = graph.nodes.values() | selectattr('name', 'equalto', 'int_round_inputs')
            | first -%}
        {{- node.relation_name -}}
    {%- endif -%}
{%- endmacro %}

{#- on-run-start: a full refresh, or a model built by round whose table is not there (made from
    scratch in this build), makes rows again that passed before: nothing counts as tested. -#}
{% macro forget_tested_rounds() %}
    {%- if execute and flags.WHICH == 'build' -%}
        {%- set missing = [] -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.name in var('tested_by_round') -%}
            {%- if adapter.get_relation(node.database, node.schema, node.alias) is none -%}
                {%- do missing.append(node.name) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if flags.FULL_REFRESH or missing -%}
            delete from ops.dbt_tested_rounds
        {%- endif -%}
    {%- endif -%}
{% endmacro %}

{#- on-run-end: after a whole build (no --select or --exclude) in which nothing failed, the
    rounds' current inputs have passed every data test. -#}
{% macro record_tested_rounds(results) %}
    {%- if execute and flags.WHICH == 'build'
        and not invocation_args_dict.get('select') and not invocation_args_dict.get('exclude') -%}
        {%- set failed = results | selectattr('status', 'in', ['error', 'fail', 'skipped'])
            | list -%}
        {%- if not failed -%}
            insert into ops.dbt_tested_rounds (round_id, round_inputs)
            select distinct round_id, round_inputs from {{ int_round_inputs_relation() }}
            on conflict do nothing
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
