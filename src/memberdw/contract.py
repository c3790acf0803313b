"""The landing contract (docs/landing.md) as data: the one place that says
which entities exist, how each is delivered, and how each column is parsed.

Column kinds (parsing rules live in ``memberdw.parsing``):
  text      free text; empty means NULL
  int       optional sign and digits
  money     decimal yuan, at most two places -> DECIMAL(18,2)
  local_ts  ``YYYY-MM-DD HH:MM:SS`` Asia/Shanghai wall time -> TIMESTAMPTZ
  iso_ts    ISO-8601 with offset (``+08:00`` or ``Z``) -> TIMESTAMPTZ
  any_ts    either of the two above (sources the contract leaves unspecified)
  date      ``YYYY-MM-DD`` -> DATE
  month     ``YYYY-MM`` -> VARCHAR
  flag      ``0`` / ``1`` -> BOOLEAN
  mobile    any of the contract's mobile formats -> 11 digits (VARCHAR)
  json_list    a JSON array (mini-program coupon codes) -> JSON
  order_items  a JSON array of items whose quantity and amounts parse -> JSON
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "text"
    required: bool = False


@dataclass(frozen=True)
class Entity:
    source: str
    name: str
    format: str  # "csv" or "jsonl"
    columns: tuple[Column, ...]
    snapshot: bool = False

    @property
    def key(self) -> str:
        return f"{self.source}/{self.name}"

    @property
    def raw_table(self) -> str:
        return f"{self.source}__{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _cols(spec: str) -> tuple[Column, ...]:
    """``"member_id:text! mobile:mobile"`` -> Columns; ``!`` marks a required column."""
    out = []
    for token in spec.split():
        name, kind = token.split(":")
        out.append(Column(name, kind.rstrip("!"), kind.endswith("!")))
    return tuple(out)


ENTITIES: tuple[Entity, ...] = (
    Entity("crm", "members", "csv", _cols(
        "member_id:text! mobile:mobile unionid:text openid:text name:text gender:text "
        "birthday:date province:text city:text register_time:local_ts register_channel:text "
        "register_store_code:text referrer_member_id:text tier:text points_balance:int "
        "sms_opt_in:flag updated_at:local_ts! deleted:flag")),
    Entity("pos", "order_lines", "csv", _cols(
        "store_code:text! order_no:text! line_no:int! order_time:local_ts! member_id:text "
        "mobile:mobile sku_code:text category:text quantity:int! unit_price:money "
        "discount_amount:money paid_amount:money! coupon_code:text payment_method:text "
        "order_type:text! original_order_no:text")),
    Entity("miniapp", "orders", "jsonl", _cols(
        "order_id:text! openid:text unionid:text member_id:text store_code:text "
        "created_at:iso_ts! paid_at:iso_ts updated_at:iso_ts! status:text! items:order_items "
        "coupon_codes:json_list total_paid:money utm_source:text utm_medium:text "
        "utm_campaign:text shared_by_openid:text")),
    Entity("miniapp", "events", "jsonl", _cols(
        "event_id:text! openid:text unionid:text event_time:iso_ts! event_name:text! "
        "page:text sku_code:text campaign_id:text utm_source:text utm_medium:text "
        "utm_campaign:text shared_by_openid:text")),
    Entity("marketing", "coupon_templates", "csv", _cols(
        "template_id:text! name:text coupon_type:text! face_value:money "
        "threshold_amount:money category:text valid_days:int campaign_id:text "
        "unit_cost:money"), snapshot=True),
    Entity("marketing", "coupon_issues", "csv", _cols(
        "coupon_code:text! template_id:text! member_id:text campaign_id:text "
        "issued_at:iso_ts! claimed_at:iso_ts channel:text expires_at:iso_ts")),
    Entity("marketing", "coupon_redemptions", "csv", _cols(
        "coupon_code:text! member_id:text redeemed_at:iso_ts! order_ref:text "
        "store_code:text discount_amount:money")),
    Entity("marketing", "campaigns", "csv", _cols(
        "campaign_id:text! name:text scenario:text region:text channel:text "
        "start_date:date! end_date:date! budget:money cost:money target_segment:text"),
        snapshot=True),
    Entity("marketing", "acquisition_costs", "csv", _cols(
        "month:month! register_channel:text! store_code:text cost:money!")),
    Entity("marketing", "campaign_audience", "csv", _cols(
        "campaign_id:text! member_id:text! group:text! assigned_at:iso_ts")),
    Entity("marketing", "campaign_touches", "csv", _cols(
        "campaign_id:text! member_id:text! channel:text! sent_at:iso_ts! delivered:flag "
        "opened_at:iso_ts clicked_at:iso_ts")),
    Entity("stores", "stores", "csv", _cols(
        "store_code:text! name:text region:text province:text city:text store_type:text "
        "opened_on:date closed_on:date"), snapshot=True),
    Entity("stores", "targets", "csv", _cols(
        "store_code:text! month:month! sales_target:money!")),
    Entity("points", "ledger", "csv", _cols(
        "entry_id:text! member_id:text! occurred_at:any_ts! points:int! reason:text "
        "campaign_id:text gift_sku:text gift_cost:money")),
)

BY_KEY: dict[str, Entity] = {e.key: e for e in ENTITIES}
SOURCES: tuple[str, ...] = tuple(dict.fromkeys(e.source for e in ENTITIES))


def entities_of(source: str) -> list[Entity]:
    return [e for e in ENTITIES if e.source == source]
