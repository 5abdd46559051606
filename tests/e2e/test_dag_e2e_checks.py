"""The Airflow/kfp e2e comparison masks what legitimately differs between two homes, and
nothing else: a changed metric in the same model card still counts as a mismatch."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dag_e2e_checks import compare_trees  # noqa: E402

CARD = ("<title>Model card: penguin, model {id}</title><p>Candidate model #{id}, node Pusher "
        "(execution {id})</p><table><tr><td class='l'>model artifact</td><td class=''>{id}"
        "</td></tr></table><h3>Examples (artifact {id}, span 0)</h3><table><tr>"
        "<td class='l'>examples</td>"
        "<td class='l'>Examples</td><td class='l'>{id}</td><td class='l'>CsvExampleGen</td>"
        "<td class='l'>examples</td><td class='l'>{home}/x</td><td class='l'>blake2b:{hash}"
        "</td></tr><tr><td class='l'>training epoch_seconds</td><td class=''>{seconds}</td>"
        "</tr><tr><td class='l'>accuracy</td><td class=''>{accuracy}</td></tr></table>"
        "<p>run {run}</p>")


def _card(directory: Path, **fields) -> Path:
    directory.mkdir(parents=True)
    (directory / "model_card.html").write_text(CARD.format(home=directory, **fields))
    return directory


def test_store_ids_timings_paths_hashes_and_run_ids_are_masked(tmp_path):
    left = _card(tmp_path / "a", id=1, hash="aa" * 8, seconds="0.0073", accuracy="0.97",
                 run="r1")
    right = _card(tmp_path / "b", id=2, hash="bb" * 8, seconds="0.0082", accuracy="0.97",
                  run="penguin__manual__1")
    assert compare_trees(left, right, [left, right], ("r1", "penguin__manual__1")) == []


def test_a_changed_metric_is_still_a_mismatch(tmp_path):
    left = _card(tmp_path / "a", id=1, hash="aa" * 8, seconds="1", accuracy="0.97", run="r")
    right = _card(tmp_path / "b", id=1, hash="aa" * 8, seconds="1", accuracy="0.96", run="r")
    assert compare_trees(left, right, [left, right], ("r",)) == ["model_card.html"]
