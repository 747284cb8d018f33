{#- Every category of every national figure: answer codes from the code-list seed (for the
    figures marked with a code_list), the derived categories of national_figure_categories, the
    size groups of seeds kommungrupper and befolkningsgrupper (smallest first), and for every
    figure 'saknas' (uppgift saknas: the cases of its population without a usable answer).
    `parts`: the codes a summary category of a single-answer figure adds up ('1|2'). -#}
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
-- "ingen samverkan" (127 code 10) is not a partner: diagram 12 counts partners 1-9
where not (figures.figure_id = 'samverkan' and codes.code = 10)

union all

select figure_id, category, label, sort_order, parts
from {{ ref('national_figure_categories') }}

union all

{%- set size_groups = [
    ('storleksgrupp', 'kommungrupper'), ('befolkningsgrupp', 'befolkningsgrupper')
] %}
{%- for figure_id, seed in size_groups %}
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
