"""``date_part`` as ONNX arithmetic: calendar parts of seconds since 1970-01-01 (UTC).

Follows :func:`gristmill.engine.transform_elementwise.date_part` exactly: the time of day from
the floored seconds, the proleptic Gregorian date from the day number with Howard Hinnant's
``civil_from_days`` (integer arithmetic, exact in doubles for any realistic timestamp),
Monday = 0 for ``day_of_week``; missing (NaN) and infinite seconds give NaN.
"""

from __future__ import annotations

from gristmill.engine.onnx_graph import GraphBuilder

_TIME_OF_DAY = {"hour": (3600.0, 24.0), "minute": (60.0, 60.0), "second": (1.0, 60.0)}
PARTS = ("year", "month", "day", "hour", "minute", "second", "day_of_week", "day_of_year")


class _Arithmetic:
    def __init__(self, b: GraphBuilder):
        self.b = b

    def floor_div(self, x: str, by: float) -> str:
        return self.b.op("Floor", [self.b.op("Div", [x, self.b.const(by)])])

    def mod(self, x: str, by: float) -> str:
        """Non-negative ``x mod by`` (Python's ``%``)."""
        return self.sub(x, self.mul(self.floor_div(x, by), by))

    def add(self, x: str, y: str | float) -> str:
        return self.b.op("Add", [x, y if isinstance(y, str) else self.b.const(float(y))])

    def sub(self, x: str, y: str | float) -> str:
        return self.b.op("Sub", [x, y if isinstance(y, str) else self.b.const(float(y))])

    def mul(self, x: str, y: float) -> str:
        return self.b.op("Mul", [x, self.b.const(float(y))])


def date_part(b: GraphBuilder, seconds: str, part: str) -> str:
    """Append the nodes of ``part`` of ``seconds`` (double ``[N]``); returns a double ``[N]``."""
    a = _Arithmetic(b)
    finite = b.op("Not", [b.op("IsInf", [seconds])])
    whole = b.op("Floor", [seconds])
    days = a.floor_div(whole, 86400.0)
    if part in _TIME_OF_DAY:
        unit, modulo = _TIME_OF_DAY[part]
        out = a.mod(a.floor_div(whole, unit), modulo)
    elif part == "day_of_week":
        out = a.mod(a.add(days, 3.0), 7.0)  # 1970-01-01 was a Thursday
    else:
        out = _calendar(a, days, part)
    return b.where(finite, out, b.const(float("nan")))


def _calendar(a: _Arithmetic, days: str, part: str) -> str:
    z = a.add(days, 719468.0)
    era = a.floor_div(z, 146097.0)
    doe = a.sub(z, a.mul(era, 146097.0))
    yoe = a.floor_div(a.sub(a.add(a.sub(doe, a.floor_div(doe, 1460.0)),
                                  a.floor_div(doe, 36524.0)), a.floor_div(doe, 146096.0)),
                      365.0)
    doy = a.sub(doe, a.sub(a.add(a.mul(yoe, 365.0), a.floor_div(yoe, 4.0)),
                           a.floor_div(yoe, 100.0)))
    mp = a.floor_div(a.add(a.mul(doy, 5.0), 2.0), 153.0)
    if part == "day":
        return a.add(a.sub(doy, a.floor_div(a.add(a.mul(mp, 153.0), 2.0), 5.0)), 1.0)
    b = a.b
    month = b.where(b.op("Less", [mp, b.const(10.0)]), a.add(mp, 3.0), a.sub(mp, 9.0))
    if part == "month":
        return month
    early = b.cast(b.op("LessOrEqual", [month, b.const(2.0)]), "float64")
    year = a.add(a.add(yoe, a.mul(era, 400.0)), early)
    if part == "year":
        return year
    # day_of_year: days since 1 January of that year (day 306 of the March-based year
    # before it), plus one
    prior = a.sub(year, 1.0)
    era0 = a.floor_div(prior, 400.0)
    yoe0 = a.sub(prior, a.mul(era0, 400.0))
    doe0 = a.add(a.sub(a.add(a.mul(yoe0, 365.0), a.floor_div(yoe0, 4.0)),
                       a.floor_div(yoe0, 100.0)), 306.0)
    january_first = a.sub(a.add(a.mul(era0, 146097.0), doe0), 719468.0)
    return a.add(a.sub(days, january_first), 1.0)
