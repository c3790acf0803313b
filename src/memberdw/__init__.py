"""memberdw: a member data warehouse for private-domain retail."""

import os

# No telemetry from the stack, whoever imports memberdw first.
for _name, _value in (("DO_NOT_TRACK", "1"), ("DBT_SEND_ANONYMOUS_USAGE_STATS", "false"),
                      ("GX_ANALYTICS_ENABLED", "false")):
    os.environ.setdefault(_name, _value)
