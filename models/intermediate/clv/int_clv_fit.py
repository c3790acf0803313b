"""The CLV fit: BG/NBD and Gamma-Gamma by maximum likelihood (memberdw.clv) on the members'
histories up to the calibration end (int_clv_member_summary), one row
(memberdw.clv_tables.fit_row says what each column holds).

The summary is grouped in the database, by distinct (x, t_x, T) and (x, mean spend), so
only those rows reach Python. fit_status 'fitted', or 'insufficient_history' with fit_note
saying what is missing (too few repeat buyers, too short a calibration period, no
interior maximum) and null parameters: the run says so instead of fitting nonsense.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from memberdw.clv_tables import fit_row

    summary = dbt.ref("int_clv_member_summary")
    # in a fixed order: the likelihoods and the holdout prediction are float sums over
    # these rows, and a group-by hands its groups over in no particular order (which would
    # move the fit's last digits from one build, or engine, to the next)
    triples = summary.aggregate(
        "frequency, recency_days, tenure_days, count(*) as member_count,"
        " sum(holdout_purchase_count) as holdout_purchase_count",
        "frequency, recency_days, tenure_days").order("frequency, recency_days, tenure_days").df()
    spends = summary.filter("frequency > 0").aggregate(
        "frequency, monetary_value, count(*) as member_count",
        "frequency, monetary_value").order("frequency, monetary_value").df()
    return fit_row(triples, spends, dbt.ref("int_clv_calibration").df())
