-- The record keys are bytes (macro record_key): 0..255, so that a cell key is their sum mod 256.
select *
from {{ ref('int_case_record_keys') }}
where record_key not between 0 and 255
