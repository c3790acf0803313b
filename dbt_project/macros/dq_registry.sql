{#- GENERATED from the package `expectations` by `python -m expectations`: do not
    edit. The datasets, record keys and rules (with their row action) of the
    Great Expectations suites, for the dq_* macros in dq.sql. -#}
{% macro dq_registry() -%}
{{ return({
    "acquisition_costs": {
        "record_key": "concat_ws('|', cost_month, register_channel, coalesce(store_code, ''))",
        "rules": {
            "duplicate_in_delivery": "review",
            "future_date:cost_month": "quarantine",
            "invalid_enum:register_channel": "review",
            "negative_cost": "quarantine",
            "unknown_store": "quarantine"
        }
    },
    "campaign_audience": {
        "record_key": "concat_ws('|', campaign_id, member_id)",
        "rules": {
            "invalid_enum:group": "quarantine",
            "unknown_campaign": "quarantine",
            "unknown_member": "quarantine"
        }
    },
    "campaign_touches": {
        "record_key": "concat_ws('|', campaign_id, member_id, channel, strftime(sent_at, '%Y-%m-%d %H:%M:%S'))",
        "rules": {
            "future_date:sent_at": "quarantine",
            "invalid_enum:channel": "review",
            "unknown_campaign": "quarantine",
            "unknown_member": "quarantine"
        }
    },
    "campaigns": {
        "record_key": "campaign_id",
        "rules": {
            "duplicate_key": "quarantine",
            "invalid_date_range": "review",
            "invalid_enum:channel": "review",
            "invalid_enum:scenario": "review"
        }
    },
    "coupon_issues": {
        "record_key": "coupon_code",
        "rules": {
            "duplicate_in_delivery": "review",
            "future_date:issued_at": "quarantine",
            "unknown_member": "quarantine",
            "unknown_template": "review"
        }
    },
    "coupon_redemptions": {
        "record_key": "concat_ws('|', coupon_code, strftime(redeemed_at, '%Y-%m-%d %H:%M:%S'), coalesce(order_ref, ''))",
        "rules": {
            "coupon_redeemed_twice": "review",
            "future_date:redeemed_at": "quarantine",
            "unknown_coupon": "quarantine"
        }
    },
    "coupon_templates": {
        "record_key": "template_id",
        "rules": {
            "duplicate_key": "quarantine",
            "invalid_enum:coupon_type": "review"
        }
    },
    "members": {
        "record_key": "member_id",
        "rules": {
            "duplicate_in_delivery": "review",
            "future_date:registered_at": "review",
            "incomplete_profile": "quarantine",
            "invalid_enum:gender": "review",
            "invalid_enum:register_channel": "review",
            "invalid_enum:tier": "review",
            "unknown_register_store": "review"
        }
    },
    "miniapp_orders": {
        "record_key": "order_id",
        "rules": {
            "duplicate_in_delivery": "review",
            "future_date:created_at": "quarantine",
            "invalid_enum:status": "quarantine",
            "unknown_member": "review",
            "unknown_store": "quarantine"
        }
    },
    "order_amounts": {
        "record_key": "order_id",
        "rules": {
            "amount_outlier": "review"
        }
    },
    "points_ledger": {
        "record_key": "entry_id",
        "rules": {
            "duplicate_in_delivery": "review",
            "future_date:occurred_at": "quarantine",
            "invalid_enum:reason": "review",
            "unknown_member": "quarantine"
        }
    },
    "pos_order_lines": {
        "record_key": "concat_ws('|', store_code, order_no, cast(line_number as varchar))",
        "rules": {
            "amount_sign_mismatch": "review",
            "duplicate_in_delivery": "review",
            "future_date:ordered_at": "quarantine",
            "invalid_enum:order_type": "quarantine",
            "invalid_enum:payment_method": "review",
            "price_adjustment": "review",
            "quantity_sign_mismatch": "review",
            "unknown_member": "review",
            "unknown_store": "quarantine",
            "zero_price_line": "review",
            "zero_quantity": "review"
        }
    },
    "stores": {
        "record_key": "store_code",
        "rules": {
            "duplicate_key": "quarantine",
            "invalid_date_range": "review",
            "invalid_enum:store_type": "review"
        }
    }
}) }}
{%- endmacro %}
