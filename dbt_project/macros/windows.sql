{#- Per window and member with orders in it: GMV in the window (start_date ... end_date) and
    in the equal-length window before it (pre_start_date ... pre_end_date), net of the returns
    dated in each, and whether the member made a purchase in each (a sale not returned in full
    by that window's end: is_purchase_as_of). `windows` names a relation or CTE holding the
    key columns and those four dates; the calling model has an `orders` CTE
    (int_orders_unioned). Members without an order in either window get no row.
    by_member: `windows` holds a member_id too, one window per member, and only that
    member's orders count (a join on member_id, then on the dates: the work grows with the
    windows' members, not with every order in every window). `where`: a condition on the
    windows and orders joined (an incremental model's rows to rebuild). -#}
{% macro window_member_outcomes(windows, keys, by_member=false, where='true') -%}
    select
        {%- for key in keys %}
        {{ windows }}.{{ key }},
        {%- endfor %}
        orders.member_id,
        sum(case when orders.order_date >= {{ windows }}.start_date then orders.gmv_amount end)
            as gmv_amount,
        sum(case when orders.order_date < {{ windows }}.start_date then orders.gmv_amount end)
            as pre_gmv_amount,
        max(case
            when
                orders.order_date >= {{ windows }}.start_date
                and {{ is_purchase_as_of(windows ~ '.end_date', 'orders') }}
                then 1
            else 0
        end) = 1 as has_purchase,
        max(case
            when
                orders.order_date < {{ windows }}.start_date
                and {{ is_purchase_as_of(windows ~ '.pre_end_date', 'orders') }}
                then 1
            else 0
        end) = 1 as has_pre_purchase
    from orders
    inner join {{ windows }}
    {%- if by_member %}
        on
            orders.member_id = {{ windows }}.member_id
            and orders.order_date between {{ windows }}.pre_start_date and {{ windows }}.end_date
    {%- else %}
        on orders.order_date between {{ windows }}.pre_start_date and {{ windows }}.end_date
    {%- endif %}
    where orders.member_id is not null and {{ where }}
    group by
        {%- for key in keys %}
        {{ windows }}.{{ key }},
        {%- endfor %}
        orders.member_id
{%- endmacro %}
