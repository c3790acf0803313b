{#- The member an order is credited to, in one place: int_orders__pos and
    int_orders__miniapp credit their orders by it, int_orders_touched checks the built
    orders against it. The member of the order's card (int_member_id_map); else, for a POS
    ticket without a card, the member holding the mobile the cashier typed, and for a
    mini-program order the member holding its unionid, else its openid (int_member_keys).
    `orders` is the alias of the orders' relation, `card` its member card column; it also
    has mobile_hash (POS) or unionid_hash and openid_hash (mini-program). -#}
{% macro credited_member_joins(channel, orders, card='source_member_id') -%}
    left join {{ ref('int_member_id_map') }} as credit_card
        on {{ orders }}.{{ card }} = credit_card.source_member_id
    {%- if channel == 'pos' %}
    left join {{ ref('int_member_keys') }} as credit_mobile
        on
            {{ orders }}.{{ card }} is null
            and credit_mobile.key_type = 'mobile'
            and {{ orders }}.mobile_hash = credit_mobile.key_hash
    {%- else %}
    left join {{ ref('int_member_keys') }} as credit_unionid
        on credit_unionid.key_type = 'unionid' and {{ orders }}.unionid_hash = credit_unionid.key_hash
    left join {{ ref('int_member_keys') }} as credit_openid
        on credit_openid.key_type = 'openid' and {{ orders }}.openid_hash = credit_openid.key_hash
    {%- endif %}
{%- endmacro %}

{% macro credited_member_id(channel) -%}
    {%- if channel == 'pos' -%}
        coalesce(credit_card.member_id, credit_mobile.member_id)
    {%- else -%}
        coalesce(credit_card.member_id, credit_unionid.member_id, credit_openid.member_id)
    {%- endif -%}
{%- endmacro %}
