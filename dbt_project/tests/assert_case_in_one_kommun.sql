-- A case belongs to exactly one kommun (and län) over all its versions.
select case_id, count(distinct kommun_kod) as kommuner, count(distinct lan_kod) as lan
from {{ ref('int_case_versions') }}
group by case_id
having count(distinct kommun_kod) <> 1 or count(distinct lan_kod) <> 1
