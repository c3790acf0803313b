-- int_member_attributes as this marts build leaves it: the next incremental build's
-- int_member_attributes_touched reads this table before it is rebuilt (the attributes the
-- build before it used).
-- depends_on: {{ ref('int_member_attributes_touched') }}
select * from {{ ref('int_member_attributes') }}
