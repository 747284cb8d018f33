{#- Every category of every national figure (catalogue/figures.yaml): answer codes from the
    code-list seed (for the figures marked with a code_list, less the figure's except_codes), the
    derived categories of national_figure_categories, the size groups of a reference seed
    (smallest first), and for every figure 'saknas' (uppgift saknas: the cases of its population
    without a usable answer).
    `parts`: the codes a summary category of a single-answer figure adds up ('1|2'). -#}
{%- set sources = national_figure_category_sources() %}
with figures as (
    select * from {{ ref('national_figures') }}
),

codes as (
    select * from {{ ref('codes') }}
)

select
    figures.figure_id,
    codes.code::text as category,
    codes.label as category_label,
    codes.code as sort_order,
    null::text as parts
from figures
inner join codes
    on figures.suv = codes.suv
    and figures.code_list = codes.code_list
where true
    {%- for figure_id, code in sources['except_codes'] %}
    and not (figures.figure_id = '{{ figure_id }}' and codes.code = {{ code }})
    {%- endfor %}

union all

select figure_id, category, label, sort_order, parts
from {{ ref('national_figure_categories') }}

union all

{%- for figure_id, seed in sources['reference'] %}
select
    '{{ figure_id }}' as figure_id,
    {{ figure_id }}_kod as category,
    {{ figure_id }}_namn as category_label,
    (row_number() over (order by min_invanare))::int as sort_order,
    null as parts
from {{ ref(seed) }}

union all

{% endfor -%}
select
    figure_id,
    'saknas' as category,
    'Uppgift saknas' as category_label,
    999 as sort_order,
    null as parts
from figures
