"""How ``tani bench ingest`` turns its rounds into medians and judges issue 14's targets."""

from __future__ import annotations

import statistics
from typing import Any

from tani.bench.ingest_rounds import (
    LOSS_TARGET,
    add_ratios,
    latency_target,
    latency_verdict,
    medians,
    percentile,
    rate_reached,
    round_order,
    targets,
)


def _round(number: int, ceiling: int, one: int, two: int, cpu: float = 2.0) -> dict[str, Any]:
    result = {
        "round": number,
        "order": list(round_order(number)),
        "raw_ceiling": {"readings_per_s": ceiling, "lost": 0},
        "pipeline_1_worker": {"readings_per_s": one, "ingest_cpu_us_per_reading": cpu, "lost": 0},
        "pipeline_2_workers": {"readings_per_s": two, "ingest_cpu_us_per_reading": cpu, "lost": 0},
    }
    add_ratios(result)
    return result


def _latency(asked: float, achieved: float, p99: float | None, lost: int = 0) -> dict[str, Any]:
    return {"asked_readings_per_s": asked, "readings_per_s": achieved, "p99_s": p99, "lost": lost}


def _good_latency() -> list[tuple[int, bool, dict[str, Any]]]:
    return [
        (1, False, _latency(2000, 2000, 0.05)),
        (2, False, _latency(2000, 1999, 0.04)),
        (1, True, _latency(50_000, 49_800, 0.2)),
        (2, True, _latency(50_000, 50_000, 0.25)),
    ]


def test_rounds_alternate_which_side_runs_first() -> None:
    assert round_order(1) == ("raw_ceiling", "pipeline_1_worker", "pipeline_2_workers")
    assert round_order(2) == ("pipeline_2_workers", "pipeline_1_worker", "raw_ceiling")
    assert round_order(3) == round_order(1)


def test_each_ratio_is_against_its_own_rounds_ceiling() -> None:
    rounds = [_round(1, 200_000, 160_000, 180_000), _round(2, 100_000, 90_000, 95_000)]
    assert rounds[0]["pipeline_1_worker"]["ratio_to_raw_ceiling"] == 0.8
    assert rounds[1]["pipeline_1_worker"]["ratio_to_raw_ceiling"] == 0.9
    assert rounds[1]["pipeline_2_workers"]["ratio_to_raw_ceiling"] == 0.95


def test_medians_are_the_middle_of_the_rounds_not_a_ratio_of_medians() -> None:
    rounds = [
        _round(1, 240_000, 180_000, 200_000, cpu=2.4),
        _round(2, 150_000, 135_000, 140_000, cpu=3.0),
        _round(3, 200_000, 150_000, 190_000, cpu=2.2),
    ]
    one = medians(rounds)["pipeline_1_worker"]
    ratios = [r["pipeline_1_worker"]["ratio_to_raw_ceiling"] for r in rounds]
    assert one["rounds"] == 3
    assert one["ratio_to_raw_ceiling"] == statistics.median(ratios) == 0.75
    assert one["ingest_cpu_us_per_reading"] == 2.4
    assert one["readings_per_s"] == 150_000
    assert one["raw_ceiling_readings_per_s"] == {"median": 200_000, "min": 150_000, "max": 240_000}


def test_a_failed_run_leaves_its_round_out_of_that_worker_counts_median() -> None:
    rounds = [_round(n, 200_000, 170_000, 180_000) for n in (1, 2, 3)]
    rounds[1]["pipeline_2_workers"] = {"error": "ingest worker exited"}
    summary = medians(rounds)
    assert summary["pipeline_1_worker"]["rounds"] == 3
    assert summary["pipeline_2_workers"]["rounds"] == 2


def test_targets_judge_the_medians_with_the_issues_limits() -> None:
    rounds = [_round(n, 200_000, 170_000, 150_000, cpu=2.0) for n in (1, 2, 3)]
    met, notes = targets(medians(rounds), rounds, _good_latency())
    assert met == {
        "pipeline_1_worker median ratio >= 0.8": True,
        "pipeline_1_worker median <= 2.5 us of ingest CPU per reading": True,
        "pipeline_2_workers median ratio >= 0.8": False,
        "pipeline_2_workers median <= 2.5 us of ingest CPU per reading": True,
        "latency_1_worker p99 <= 100 ms at 2000 readings/s": True,
        "latency_2_workers p99 <= 100 ms at 2000 readings/s": True,
        "latency_1_worker p99 <= 300 ms at 50000 readings/s": True,
        "latency_2_workers p99 <= 300 ms at 50000 readings/s": True,
        LOSS_TARGET: True,
    }
    assert notes == {"pipeline_2_workers median ratio >= 0.8": "median 0.75"}


def test_fewer_than_three_rounds_are_reported_but_not_judged() -> None:
    rounds = [_round(n, 200_000, 190_000, 190_000, cpu=1.0) for n in (1, 2)]
    met, notes = targets(medians(rounds), rounds, _good_latency())
    key = "pipeline_1_worker median ratio >= 0.8"
    assert met[key] is None
    assert "median of 2 round(s)" in notes[key]
    assert "0.95" in notes[key]


def test_a_publisher_below_90_percent_of_the_rate_is_not_judged() -> None:
    assert rate_reached(50_000, 45_000)
    assert not rate_reached(50_000, 44_999)
    text, limit_s, issue_rate = latency_target(1, high=True)
    assert (text, limit_s, issue_rate) == (
        "latency_1_worker p99 <= 300 ms at 50000 readings/s",
        0.3,
        50_000.0,
    )
    met, why = latency_verdict(_latency(50_000, 30_000, 0.01), limit_s, issue_rate)
    assert met is None
    assert why is not None and "30000" in why and "90%" in why


def test_a_rate_below_the_issues_is_not_judged_and_a_slow_p99_fails() -> None:
    assert latency_verdict(_latency(1000, 1000, 0.01), 0.1, 2000)[0] is None
    assert latency_verdict(_latency(2000, 2000, 0.101), 0.1, 2000) == (False, "p99 101.0 ms")
    assert latency_verdict({"error": "watcher failed"}, 0.1, 2000)[0] is None


def test_any_loss_anywhere_fails_zero_loss_and_a_failed_run_leaves_it_unjudged() -> None:
    rounds = [_round(n, 200_000, 170_000, 180_000) for n in (1, 2, 3)]
    rounds[2]["raw_ceiling"]["lost"] = 5
    met, notes = targets(medians(rounds), rounds, _good_latency())
    assert met[LOSS_TARGET] is False
    assert notes[LOSS_TARGET] == "5 readings lost"
    rounds[2]["raw_ceiling"]["lost"] = 0
    latency = _good_latency()
    latency[3] = (2, True, {"error": "ingest worker exited"})
    met, _ = targets(medians(rounds), rounds, latency)
    assert met[LOSS_TARGET] is None


def test_percentiles() -> None:
    assert percentile([], 0.99) is None
    assert percentile([0.5], 0.99) == 0.5
    assert percentile([i / 100 for i in range(101)], 0.5) == 0.5
