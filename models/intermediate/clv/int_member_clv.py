"""Per member CLV from the fit in int_clv_fit (memberdw.clv_tables.member_scores): P(alive),
expected purchase days over the horizon, expected spend per purchase day and CLV, for
every member of int_clv_member_summary. No rows when the fit was not made (int_clv_fit
says why)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from memberdw.clv_tables import member_scores

    summary = dbt.ref("int_clv_member_summary").df()
    return member_scores(summary, dbt.ref("int_clv_fit").df())
