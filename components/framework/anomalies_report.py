"""HTML report of ExampleValidator: anomalies per split, with severity and counts."""

from __future__ import annotations

from gristmill.components.framework.anomalies import SplitAnomalies
from gristmill.components.framework.html import esc, page, table


def _split_section(result: SplitAnomalies) -> str:
    status = ("<span class='ok'>blessed</span>" if result.blessed
              else "<span class='ERROR'>not blessed</span>")
    header = (f"<h2>Split {esc(result.split)}: {status} "
              f"<span class='muted'>{result.num_examples:,} examples, "
              f"{len(result.anomalies)} anomalies</span></h2>")
    if not result.anomalies:
        return header + "<p class='ok'>No anomalies.</p>"
    rows = sorted(result.anomalies, key=lambda a: (a.severity != "ERROR", a.feature or "", a.code))
    body = "".join(
        f"<tr><td class='l {esc(a.severity)}'>{esc(a.severity)}</td>"
        f"<td class='l'>{esc(a.feature or '(dataset)')}</td><td class='l'>{esc(a.code)}</td>"
        f"<td class='l'>{esc(a.description)}</td>"
        f"<td>{'' if a.count is None else f'{a.count:,.0f}'}</td>"
        f"<td>{'' if a.fraction is None else f'{a.fraction:.4f}'}</td></tr>" for a in rows)
    head = table(["severity", "feature", "code", "description", "count", "fraction / distance"],
                 [], left_columns=4)
    return header + head.replace("</table>", body + "</table>")


def render_anomalies_report(results: list[SplitAnomalies], title: str = "Anomalies") -> str:
    """Render the anomalies of several splits as one self-contained HTML page."""
    summary = table(["split", "examples", "errors", "warnings", "blessed"],
                    [[r.split, r.num_examples,
                      sum(a.severity == "ERROR" for a in r.anomalies),
                      sum(a.severity == "WARNING" for a in r.anomalies),
                      "yes" if r.blessed else "no"] for r in results])
    return page(title, summary + "".join(_split_section(r) for r in results))
