{#- How the statistics read a typed case row of stg_raw__case_records, by the same catalogue as
    the quality gate (sukvinnofrid.quality.rules; docs/quality-rules.md). The principle: a case
    that exists is counted, and an answer that is wrong counts as "uppgift saknas". -#}

{#- SQL: the case reached `phase` (any of the phase's trigger variables registered as such: a
    start date that is not a real date still says that an insats started), unless the phase's
    date lies before the case's key date (catalogue: not_reached_when_before_key; a case closed
    before it was aktualiserad is not closed until the date is corrected). -#}
{% macro phase_reached(phase, alias) -%}
    {%- set triggers = catalogue_phase_triggers()[phase] -%}
    {%- set phase_date = catalogue_phase_not_before_key().get(phase) -%}
    {%- if not triggers -%}
    true
    {%- else -%}
    ({% if phase_date %}({% endif -%}
    {% for key in triggers %}{{ registered(key, alias) }}{% if not loop.last %} or {% endif %}{% endfor %})
    {%- if phase_date %}
        {%- for key_date in catalogue_variables() if key_date.type == 'date' and key_date.required == 'key' %}
        and not coalesce({{ alias }}.{{ phase_date }} < {{ alias }}.{{ key_date.key }}, false))
        {%- endfor %}
    {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- SQL: variable `key` has a registration (valid or not) in the typed row `alias`. -#}
{% macro registered(key, alias) -%}
    {%- for v in catalogue_variables() if v.key == key -%}
        {%- if v.type == 'date' -%}
            {{ alias }}.{{ key }}_angivet
        {%- elif v.type == 'codes' -%}
            {{ any_chosen(key, prefix=alias ~ '.') }}
        {%- else -%}
            {{ alias }}.{{ key }} is not null
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{#- The typed registration columns of the row `alias`, each as the statistics count it (same
    names as typed_case_columns()):
    - a code outside its code list, a number outside its range, a date before the earliest date
      or after the round closed (`round_end`), and a later date of the case before an earlier
      one (the later one cannot be placed in time) are null;
    - a risk assessment's time point, instrument or score outside its list or scale is null;
    - multiple-choice columns are already booleans (anything but 1 is "not chosen");
    - the answers of the closed phases (`closed_phase` and the phases opened the same way) count
      only in a closed case; in an open case they are null;
    - the key date and the identifiers are as typed (a row whose key cannot be read is not a
      case: int_case_records_in_force leaves it out). -#}
{% macro valid_registrations(alias, round_end, closed_phase='efter') -%}
    {%- set triggers = catalogue_phase_triggers() -%}
    {%- set closed_phases = [] -%}
    {%- for phase, keys in triggers.items() if keys == triggers[closed_phase] -%}
        {%- do closed_phases.append(phase) -%}
    {%- endfor -%}
    {%- set closed = phase_reached(closed_phase, alias) -%}
    {%- set earlier_dates = [] -%}
    {%- set columns = [] -%}
    {%- for v in catalogue_variables() -%}
        {%- set c = alias ~ '.' ~ v.key -%}
        {%- set only_closed = v.phase in closed_phases and v.key not in triggers[closed_phase] -%}
        {%- if v.identifier -%}
            {%- do columns.append(c ~ '_pseudonym') -%}
        {%- elif v.type == 'kommun' -%}
            {%- do columns.append(c) -%}
        {%- elif v.type == 'code' -%}
            {%- set valid = c ~ ' in (' ~ (v.codes | join(', ')) ~ ')' -%}
            {%- do columns.append('case when ' ~ valid ~ (' and ' ~ closed if only_closed else '')
                                  ~ ' then ' ~ c ~ ' end as ' ~ v.key) -%}
        {%- elif v.type == 'integer' -%}
            {%- do columns.append('case when ' ~ c ~ ' between ' ~ v.min ~ ' and ' ~ v.max
                                  ~ ' then ' ~ c ~ ' end as ' ~ v.key) -%}
        {%- elif v.type == 'date' -%}
            {%- if v.required == 'key' -%}
                {%- do columns.append(c) -%}
            {%- else -%}
                {%- set conditions = [c ~ " >= date '" ~ catalogue_earliest_date() ~ "'",
                                      c ~ ' <= ' ~ round_end] -%}
                {%- for earlier in earlier_dates -%}
                    {%- do conditions.append('(' ~ alias ~ '.' ~ earlier ~ ' is null or ' ~ c ~ ' >= '
                                             ~ alias ~ '.' ~ earlier ~ ')') -%}
                {%- endfor -%}
                {%- do columns.append('case when ' ~ (conditions | join(' and ')) ~ ' then ' ~ c
                                      ~ ' end as ' ~ v.key) -%}
            {%- endif -%}
            {%- do columns.append(c ~ '_angivet') -%}
            {%- do earlier_dates.append(v.key) -%}
        {%- elif v.type == 'codes' -%}
            {%- for code in v.codes -%}
                {%- do columns.append(c ~ '_' ~ code) -%}
            {%- endfor -%}
        {%- elif v.type == 'risk_assessments' -%}
            {%- for slot in range(1, v.slots + 1) -%}
                {%- set r = alias ~ '.risk_' ~ slot -%}
                {%- do columns.append('case when ' ~ r ~ '_tidpunkt in (' ~ (v.time_points | join(', '))
                                      ~ ') then ' ~ r ~ '_tidpunkt end as risk_' ~ slot ~ '_tidpunkt') -%}
                {%- do columns.append('case when ' ~ r ~ '_instrument in (' ~ (v.codes | join(', '))
                                      ~ ') then ' ~ r ~ '_instrument end as risk_' ~ slot ~ '_instrument') -%}
                {%- do columns.append('case when ' ~ r ~ '_skattning between ' ~ v.scale.min ~ ' and '
                                      ~ v.scale.max ~ ' then ' ~ r ~ '_skattning end as risk_' ~ slot
                                      ~ '_skattning') -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ columns | join(',\n    ') }}
{%- endmacro %}
