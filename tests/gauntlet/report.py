"""Write the gauntlet's results table into docs/gauntlet.md (between two marker lines)."""

from __future__ import annotations

import json
from pathlib import Path

START = "<!-- gauntlet-table:start (written by python -m tests.gauntlet --write-docs) -->"
END = "<!-- gauntlet-table:end -->"


def explain_below_baseline(result: dict) -> str:
    """Why a completed model scores below the trivial baseline, from the run's own figures."""
    rows, base = result.get("parity_rows") or 0, result.get("baseline")
    ref = result.get("reference")
    higher = result.get("metric") == "accuracy"
    reasons = []
    distinct = result.get("distinct_rows")
    if distinct is not None and distinct < 100 and distinct * 2 <= (result.get("rows") or 0):
        reasons.append(f"only {distinct} distinct rows: ExampleGen's whole-row hash sends every "
                       "copy of a row to the same split, so eval holds feature patterns (and "
                       "labels) train never saw")
    if rows < 30:
        step = f"; one row is {100 / rows:.0f} accuracy points" if higher and rows else ""
        reasons.append(f"tiny eval split ({rows} rows{step})")
    model = result.get("model_metric")
    if not higher and model is not None and base and model > 10 * base:
        reasons.append("the model's error is over 10x the baseline's: eval rows hold feature "
                       "values far outside the train range (heavy tails), and z-scored "
                       "inputs extrapolate linearly")
    if ref is None:
        reasons.append("no reference model (no features or one class in train)")
    elif (ref <= base) if higher else (ref >= base):
        reasons.append(f"no signal at this size: a linear reference on the same features "
                       f"also fails to beat the baseline ({_fmt(ref)} vs {_fmt(base)})")
    else:
        reasons.append(f"MODEL QUALITY: a linear reference on the same features beats the "
                       f"baseline ({_fmt(ref)} vs {_fmt(base)}) but the built-in MLP does not")
    return "; ".join(reasons)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _outcome(result: dict) -> str:
    outcome = result.get("outcome", "?")
    extra = [k for k, key in (("stats", "stats_problems"), ("parity", "parity_problems"),
                              ("rows", "rows_lost")) if result.get(key)]
    return outcome + (f" ({', '.join(extra)} mismatch)" if extra else "")


def _detail(result: dict) -> str:
    if result.get("below_baseline"):
        return "below baseline: " + explain_below_baseline(result)
    for key in ("parity_problems", "stats_problems", "rows_lost"):
        if result.get(key):
            text = result[key][0]
            if text.startswith("pyfunc:") and "Error:" in text:  # not the data dump
                text = "pyfunc refused the raw rows: " + text.rsplit("Error:", 1)[1].strip()
            return text[:200]
    if result.get("outcome") != "completed":
        return (result.get("message") or "").splitlines()[0][:200] if result.get("message") \
            else ""
    return ""


def table(results: list[dict]) -> str:
    """One markdown row per dataset."""
    lines = ["| # | dataset | rows | cols | traits | target (task) | format | outcome | "
             "metric: model / baseline | detail |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(results, 1):
        metric = (f"{r['metric']}: {_fmt(r.get('model_metric'))} / {_fmt(r.get('baseline'))}"
                  if r.get("metric") else "")
        detail = _detail(r).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {i} | {r['name']} | {r.get('rows', '')} | {r.get('columns', '')} | "
                     f"{', '.join(r.get('traits', []))} | {r['target']} ({r.get('task', '-')}) | "
                     f"{r['primary']} | {_outcome(r)} | {metric} | {detail} |")
    return "\n".join(lines)


def write_table(path: Path, results: list[dict], summary: dict, left_out: dict,
                mode: str) -> None:
    """Replace the text between the markers in ``path`` (append the block if absent)."""
    block = "\n".join([START, "", f"Run: `{mode}`; summary:", "", "```json",
                       json.dumps(summary), "```", "",
                       f"Pool: {left_out}", "", table(results), "", END])
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
