"""The CLV fit: BG/NBD and Gamma-Gamma by maximum likelihood (memberdw.clv) on every
member's purchase days up to the calibration end (int_clv_purchase_days), one row
(memberdw.clv_tables.fit_row says what each column holds).

fit_status 'fitted', or 'insufficient_history' with fit_note saying what is missing (too
few repeat buyers, too short a calibration period, no interior maximum) and null
parameters: the run says so instead of fitting nonsense.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from memberdw.clv_tables import fit_row

    days = dbt.ref("int_clv_purchase_days").df()
    calibration = dbt.ref("int_clv_calibration").df()
    return fit_row(days, calibration)
