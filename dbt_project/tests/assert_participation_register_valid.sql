{#- Every row of the participation register names a known kommun or stadsdel, its rounds are
    ÅÅÅÅ-MM with the last not before the first, and one unit's periods do not overlap.
    Returns the offending rows. -#}
with register as (
    select * from {{ ref('participation_register') }}
),

known as (
    select kommun_kod as unit_kod from {{ ref('kommuner') }}
    union all
    select stadsdel_kod from {{ ref('stadsdelar') }}
)

select register.unit_kod, register.first_round, register.last_round, 'unknown unit' as problem
from register
left join known on register.unit_kod = known.unit_kod
where known.unit_kod is null

union all

select unit_kod, first_round, last_round, 'round not ÅÅÅÅ-MM or last before first' as problem
from register
where first_round !~ '^\d{4}-(0[1-9]|1[0-2])$'
    or (last_round is not null and last_round !~ '^\d{4}-(0[1-9]|1[0-2])$')
    or last_round < first_round

union all

select a.unit_kod, a.first_round, a.last_round, 'overlapping periods' as problem
from register as a
inner join register as b
    on a.unit_kod = b.unit_kod
    and a.first_round < b.first_round
    and (a.last_round is null or a.last_round >= b.first_round)
