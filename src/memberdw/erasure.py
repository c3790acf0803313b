"""Erasure: a member the CRM marks ``deleted = 1`` leaves every table of the warehouse.

The contract makes ``deleted = 1`` an erasure request: the person's personal data must
leave the warehouse. Staging is rebuilt from ``raw`` on every run, so erasing in ``raw``
(and in ``meta``, which keeps the rejected text and the flagged keys) erases everywhere
downstream; the transform DAG calls ``erase`` before it builds staging and ``compact``
after it has rebuilt the marts. What an erasure does (docs/pii.md, "Erasure"):

- the member's CRM records keep no name, mobile, unionid, openid or birthday, and every
  row that pointed at the member (CRM records and referrals, POS lines, mini-program
  orders, coupons issued and redeemed, campaign audience and touches, points, the row
  flags of the quality rules) points at one tombstone member_id instead (the dbt var
  ``erased_member_id``), the same for every erased member, so the facts stay for the books
  and every total still reconciles, but no fact leads back to the person;
- their mobile, unionid and openid are removed wherever they occur (a POS line with the
  typed mobile, mini-program orders and events, share links), except a value that a member
  who is not erased holds too: that is that member's data as well;
- rejected text in ``meta.quarantine`` keeps its reason and shape, with the member's name,
  mobile (in any of the contract's formats), unionid and openid masked and their member_id
  replaced by the tombstone;
- ``meta.erasure_log`` records the member_id whose erasure was requested (the CRM's own key,
  which the CRM keeps; it lets a file that arrives late be erased too), when it was asked
  and when it was done, and ``meta.erasure_passes``/``meta.erasure_changes`` how many rows of
  which table each pass that changed anything changed: no personal data;
- an incremental marts build lists what it rebuilt (``int_*_touched``: orders, members,
  visitors as they were before the build, an erased member's member_id and hashes among
  them); after a build that followed an erasure ``compact`` empties those lists;
- ``compact`` then rewrites the working file, so blocks that held the old values (DuckDB
  does not overwrite freed space) are gone from the disk: once the oldest erasure not yet
  compacted is ``MEMBERDW_COMPACT_AFTER_DAYS`` days old (default 7; 0: on the run that
  erases). The rewrite costs a read and a write of the whole file, so a daily run pays it
  at most once in that many days rather than on every day that brings a request; the
  serving file, which BI reads, is written anew on the day itself.

A member_id once erased stays erased: rows that arrive later with it are re-keyed on the
next run. A mobile, unionid or openid that arrives later without the member_id cannot be
recognised: the warehouse no longer knows it.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from memberdw import warehouse

log = logging.getLogger(__name__)

MASK = "[erased]"
COMPACT_AFTER_VARIABLE = "MEMBERDW_COMPACT_AFTER_DAYS"
DEFAULT_COMPACT_AFTER_DAYS = 7
IDENTIFIERS = ("mobile", "unionid", "openid")
# Personal fields of a CRM record cleared on erasure.
CRM_PERSONAL_FIELDS = ("mobile", "unionid", "openid", "name", "birthday")
# (table, member_id column) re-keyed to the tombstone.
MEMBER_KEYS = (
    ("crm__members", "member_id"),
    ("crm__members", "referrer_member_id"),
    ("pos__order_lines", "member_id"),
    ("miniapp__orders", "member_id"),
    ("marketing__coupon_issues", "member_id"),
    ("marketing__coupon_redemptions", "member_id"),
    ("marketing__campaign_audience", "member_id"),
    ("marketing__campaign_touches", "member_id"),
    ("points__ledger", "member_id"),
)
# (table, identifier column, kind) cleared. A sale whose only link to the person was one
# of these stays a sale to no member, as it was before the erasure: staging matches an
# erased member by no mobile or openid.
IDENTIFIER_COLUMNS = (
    ("pos__order_lines", "mobile", "mobile"),
    ("miniapp__orders", "openid", "openid"),
    ("miniapp__orders", "unionid", "unionid"),
    ("miniapp__orders", "shared_by_openid", "openid"),
    ("miniapp__events", "openid", "openid"),
    ("miniapp__events", "unionid", "unionid"),
    ("miniapp__events", "shared_by_openid", "openid"),
)
# A mobile in any contract format (``13800138000``, ``+86 138 0013 8000``,
# ``138-0013-8000``, ``8613800138000``) inside free text.
MOBILE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?8[ -]?6[ -]?)?1[ -]?[3-9](?:[ -]?\d){9}(?!\d)")


@dataclass
class ErasureReport:
    members_erased: int = 0
    rows_changed: dict[str, int] = field(default_factory=dict)  # "schema.table.column" -> rows


def tombstone() -> str:
    from memberdw.pipeline import dbt_vars

    return str(dbt_vars()["erased_member_id"])


def erase(warehouse_dir: str | Path, run_id: str | None = None) -> ErasureReport:
    """Carry out every erasure request in ``raw.crm__members`` not yet carried out, and
    re-key rows landed since the last pass that carry an erased member_id. Idempotent: a
    second call changes nothing. One transaction."""
    con = warehouse.connect(Path(warehouse_dir))
    try:
        with warehouse.transaction(con):
            report = _erase(con, run_id or f"erase_{uuid.uuid4().hex[:12]}", tombstone())
    finally:
        con.close()
    log.info("erasure: %d member(s) erased, rows changed %s", report.members_erased,
             report.rows_changed or "none")
    return report


def _erase(con, run_id: str, dead: str) -> ErasureReport:
    report = ErasureReport()
    (since,) = con.execute("select max(ran_at) from meta.erasure_passes").fetchone()
    (ran_at,) = con.execute("select now()").fetchone()
    # Any delivered record with deleted = 1 is a request, a rejected one too (a bad
    # birthday does not make the request less of one); it stays granted even if a later
    # record of the member says deleted = 0 (an erasure cannot be taken back).
    con.execute(f"""
        create or replace temp table rejected_crm as
        select source_file, quarantined_at,
               {', '.join(f"try(json_extract_string(raw_record, '$.{c}')) as {c}"
                          for c in ('member_id', 'deleted', 'updated_at', 'unionid', 'openid',
                                    'name'))},
               -- as raw holds it: 11 digits, whatever the format delivered
               nullif(right(regexp_replace(try(json_extract_string(raw_record, '$.mobile')),
                                           '[^0-9]', '', 'g'), 11), '') as mobile
        from meta.quarantine
        where source = 'crm' and entity = 'members' and starts_with(raw_record, '{{')
    """)
    con.execute("""
        create or replace temp table erasing as
        with requests as (
            select member_id, updated_at as requested_at, _source_file as request_file
            from raw.crm__members
            where deleted
            union all
            select member_id,
                   coalesce(try_strptime(updated_at, '%Y-%m-%d %H:%M:%S')::timestamptz,
                            quarantined_at),
                   source_file
            from rejected_crm
            where deleted = '1' and member_id is not null
        )
        select member_id, min(requested_at) as requested_at,
               arg_min(request_file, requested_at) as request_file
        from requests
        where member_id <> ? and member_id not in (select member_id from meta.erasure_log)
        group by member_id
    """, [dead])
    (report.members_erased,) = con.execute("select count(*) from erasing").fetchone()
    # The identifiers of the members being erased, from every version of their record,
    # less those a member who is not erased holds too; and their names, for the text.
    con.execute(f"""
        create or replace temp table erased_values as
        with theirs as (
            {' union all '.join(
                f"select '{kind}' as kind, {kind} as value from {table}"
                f" where member_id in (select member_id from erasing)"
                for kind in (*IDENTIFIERS, 'name')
                for table in ('raw.crm__members', 'rejected_crm'))}
        ),
        kept as (
            {' union all '.join(
                f"select '{kind}' as kind, {kind} as value from raw.crm__members"
                f" where member_id <> ? and member_id not in (select member_id from erasing)"
                f" and not deleted"
                for kind in IDENTIFIERS)}
        )
        select distinct theirs.kind, theirs.value from theirs
        anti join kept on theirs.kind = kept.kind and theirs.value = kept.value
        where theirs.value is not null and length(theirs.value) >= 2
    """, [dead] * len(IDENTIFIERS))

    def changed(table: str, column: str, count: int) -> None:
        if count:
            key = f"{table if '.' in table else 'raw.' + table}.{column}"
            report.rows_changed[key] = report.rows_changed.get(key, 0) + count

    # The newly erased: everything they left, in every table.
    if report.members_erased:
        personal = ", ".join(f"{c} = null" for c in CRM_PERSONAL_FIELDS)
        (n,) = con.execute(f"update raw.crm__members set {personal}, _erased_at = ?"
                           f" where member_id in (select member_id from erasing)",
                           [ran_at]).fetchone()
        changed("crm__members", "personal_fields", n)
        for table, column, kind in IDENTIFIER_COLUMNS:
            (n,) = con.execute(
                f"update raw.{table} set {column} = null, _erased_at = ? where {column} in"
                f" (select value from erased_values where kind = '{kind}')", [ran_at]).fetchone()
            changed(table, column, n)
    # Member keys: the newly erased everywhere, the erased before in rows landed since.
    for table, column in MEMBER_KEYS:
        (n,) = con.execute(
            f"update raw.{table} set {column} = ?, _erased_at = ? where {column} in"
            f" (select member_id from erasing) or (_loaded_at > ? and {column} in"
            f" (select member_id from meta.erasure_log))", [dead, ran_at, since]).fetchone()
        changed(table, column, n)
    changed("meta.dq_row_flags", "member_id", _rekey_flags(con, dead))
    changed("meta.quarantine", "raw_record", _mask_quarantine(con, dead, since))

    con.execute("""
        insert into meta.erasure_log (member_id, requested_at, request_file, erased_at, run_id)
        select member_id, requested_at, request_file, ?, ? from erasing
    """, [ran_at, run_id])
    # A pass that changed nothing leaves no row, so the log (and mart_erasure_log) only
    # grows when something was erased; the next pass then looks back a little further.
    if report.members_erased or report.rows_changed:
        con.execute("insert into meta.erasure_passes values (?, ?, ?, ?)",
                    [run_id, ran_at, report.members_erased, sum(report.rows_changed.values())])
    for key, rows in report.rows_changed.items():
        table, column = key.rsplit(".", 1)
        con.execute("insert into meta.erasure_changes values (?, ?, ?, ?)",
                    [run_id, table, column, rows])
    return report


def _rekey_flags(con, dead: str) -> int:
    """The quality rules' row flags of erased members: their member_id, and in the record
    key (a member_id, or fields joined by ``|`` that include it), the tombstone."""
    (n,) = con.execute("""
        update meta.dq_row_flags set
            record_key = array_to_string(list_transform(string_split(record_key, '|'),
                                         lambda x: case when x = member_id then ? else x end), '|'),
            member_id = ?
        where member_id in (select member_id from erasing)
           or member_id in (select member_id from meta.erasure_log)
    """, [dead, dead]).fetchone()
    return n


def _mask_quarantine(con, dead: str, since) -> int:
    """Mask the erased members' personal data in rejected text: their member_id becomes the
    tombstone, their name, mobile, unionid and openid ``[erased]``. Rows rejected before
    this pass are searched for the newly erased, rows rejected since the last pass for
    every member_id ever erased too."""
    new_ids = [r[0] for r in con.execute("select member_id from erasing").fetchall()]
    old_ids = [r[0] for r in con.execute("select member_id from meta.erasure_log").fetchall()]
    values = con.execute("select kind, value from erased_values").fetchall()
    mobiles = {v for k, v in values if k == "mobile"}
    texts = sorted({v for k, v in values if k != "mobile"}, key=len, reverse=True)

    def masker(ids: list[str]):
        id_pattern = (re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, ids)) + r")(?![\w-])")
                      if ids else None)

        def mask(text: str) -> str:
            if id_pattern:
                text = id_pattern.sub(dead, text)
            for value in texts:
                text = text.replace(value, MASK)
            if mobiles:
                text = MOBILE_IN_TEXT.sub(
                    lambda m: MASK if re.sub(r"\D", "", m.group())[-11:] in mobiles
                    else m.group(), text)
            return text
        return mask

    changed = 0
    batches = [("true", masker(new_ids) if new_ids else None)]
    if since is not None and old_ids:
        batches.append(("quarantined_at > ?", masker(old_ids)))
    for where, mask in batches:
        if mask is None:
            continue
        params = [since] if "?" in where else []
        rows = con.execute(f"select rowid, raw_record from meta.quarantine where {where}"
                           f" and raw_record is not null", params).fetchall()
        updates = [(masked, rowid) for rowid, text in rows if (masked := mask(text)) != text]
        if updates:
            con.executemany("update meta.quarantine set raw_record = ? where rowid = ?", updates)
        changed += len(updates)
    return changed


def _empty_change_lists(con) -> None:
    """After a marts build that followed an erasure, empty its lists of what it rebuilt
    (the intermediate ``int_*_touched`` tables): they name the rows as they were before the
    build, the erased members' old member_id and hashes among them. Nothing reads them
    after the build but publish's delta, which such a build does not use."""
    from memberdw import incremental

    if not incremental.marts_position(con).get("erased"):
        return
    lists = sorted(t for (t,) in con.execute(
        "select table_schema || '.' || table_name from information_schema.tables"
        " where table_schema = 'intermediate' and starts_with(table_name, 'int_')"
        " and ends_with(table_name, '_touched')").fetchall())
    for table in lists:
        con.execute(f"delete from {table}")
    log.info("erasure: emptied %s", ", ".join(lists) or "no change lists")


def compact_after_days() -> float:
    """How many days an erasure's freed blocks may stay in the working file."""
    value = os.environ.get(COMPACT_AFTER_VARIABLE, "")
    try:
        days = float(value) if value else DEFAULT_COMPACT_AFTER_DAYS
    except ValueError:
        days = -1
    if not days >= 0:
        raise ValueError(f"{COMPACT_AFTER_VARIABLE} must be a number of days, 0 or more;"
                         f" got {value!r}")
    return days


def compact(warehouse_dir: str | Path) -> bool:
    """Rewrite the working file once an erasure not yet compacted is due (the oldest is
    ``compact_after_days`` old; the module's docstring): DuckDB reuses
    freed blocks but does not overwrite them, so the old values of erased rows (and of the
    staging and mart tables dbt replaced since) stay readable in the file until it is
    rewritten. The copy (every schema, table, view, constraint and comment) is written
    beside the file and renamed over it; a run killed midway leaves the old file and the
    erasure still pending. Returns whether the file was rewritten."""
    warehouse_dir = Path(warehouse_dir)
    path = warehouse.working_path(warehouse_dir)
    staged = path.with_name(f".{path.name}.compact.tmp")
    staged.unlink(missing_ok=True)
    con = warehouse.connect(warehouse_dir)
    try:
        _empty_change_lists(con)
        days = compact_after_days()
        (pending, due) = con.execute(
            "select count(*), coalesce(min(erased_at) <= now() - to_seconds(?), false)"
            " from meta.erasure_log where compacted_at is null", [days * 86400]).fetchone()
        if not due:
            if pending:
                log.info("erasure: %d erasure(s) not yet compacted; the working file is"
                         " rewritten once the oldest is %g day(s) old (%s)", pending, days,
                         COMPACT_AFTER_VARIABLE)
            return False
        con.execute("force checkpoint")  # nothing of the old file left only in its WAL
        (source,) = con.execute("select current_database()").fetchone()
        con.execute(f"attach '{staged}' as compacted")
        con.execute(f"copy from database {source} to compacted")
        con.execute("update compacted.meta.erasure_log set compacted_at = now()"
                    " where compacted_at is null")
        con.execute("detach compacted")
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    os.replace(staged, path)
    log.info("erasure: %d erasure(s) compacted, %s rewritten (%.1f MB)", pending, path,
             path.stat().st_size / 1e6)
    return True

