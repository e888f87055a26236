"""Issue 14's ingest targets, judged from ``tani bench ingest``'s rounds: pure functions.

A round is one raw-ceiling run and one pipeline run per worker count, each into a database of
its own; a pipeline run's ratio is against the ceiling of its own round, since the ceiling
moves from run to run on a shared machine. The throughput targets judge the median over the
rounds (at least :data:`MIN_ROUNDS` of them), the latency targets each latency run, provided its
publisher really reached the rate asked. Nothing here touches a process or a socket.
"""

from __future__ import annotations

import statistics
from typing import Any

RAW_CEILING = "raw_ceiling"
WORKER_COUNTS = (1, 2)
# Fewer rounds than this give no median worth judging: one disturbed run would decide it.
MIN_ROUNDS = 3
# Issue 14: ingest throughput over InfluxDB's own ceiling, and ingest's CPU per reading.
RATIO_TARGET = 0.8
CPU_US_TARGET = 2.5
# Issue 14 item 2: (readings/s, p99 publish -> queryable limit in seconds).
LOW_RATE_TARGET = (2000.0, 0.1)
HIGH_RATE_TARGET = (50_000.0, 0.3)
# A latency run whose publisher fell below this share of the asked rate measured another rate.
RATE_REACHED = 0.9
LOSS_TARGET = "zero loss in every run of every round"

Verdict = tuple[bool | None, str | None]  # (met, why it was not judged or not met)


def pipeline_name(workers: int) -> str:
    """The name of the pipeline runs with ``workers`` ingest workers (``pipeline_2_workers``)."""
    return f"pipeline_{worker_suffix(workers)}"


def worker_suffix(workers: int) -> str:
    """``1_worker``, ``2_workers``."""
    return "1_worker" if workers == 1 else f"{workers}_workers"


def round_order(number: int) -> tuple[str, ...]:
    """The runs of round ``number`` (from 1) in the order they run.

    Odd rounds measure the ceiling first, even rounds last (the pipeline runs reversed too), so
    InfluxDB slowing down or speeding up over a round (compactions of earlier runs, other users
    of the machine) does not always fall on the same side of the ratio.
    """
    order = (RAW_CEILING, *(pipeline_name(w) for w in WORKER_COUNTS))
    return order if number % 2 else order[::-1]


def percentile(ordered: list[float], fraction: float) -> float | None:
    """The ``fraction`` percentile (0.5, 0.99) of sorted values, inclusive method; None if none."""
    if not ordered:
        return None
    if len(ordered) == 1:
        return round(ordered[0], 4)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return round(cuts[round(fraction * 100) - 1], 4)


def add_ratios(one_round: dict[str, Any]) -> None:
    """Give each pipeline run of a finished round its ratio to that round's ceiling."""
    ceiling = one_round.get(RAW_CEILING, {}).get("readings_per_s")
    for workers in WORKER_COUNTS:
        run = one_round.get(pipeline_name(workers))
        if run is None or "error" in run:
            continue
        ratio = round(run["readings_per_s"] / ceiling, 3) if ceiling else None
        # Beside the readings/s it divides, where a reader of the JSON looks for it.
        one_round[pipeline_name(workers)] = {
            "readings_per_s": run["readings_per_s"],
            "ratio_to_raw_ceiling": ratio,
            **run,
        }


def medians(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per worker count, the median over the rounds whose pipeline run and ceiling both worked."""
    result: dict[str, Any] = {}
    for workers in WORKER_COUNTS:
        name = pipeline_name(workers)
        runs = [
            (r[name], r[RAW_CEILING]["readings_per_s"])
            for r in rounds
            if r.get(name, {}).get("ratio_to_raw_ceiling") is not None
        ]
        ceilings = [ceiling for _, ceiling in runs]
        result[name] = {
            "rounds": len(runs),
            "ratio_to_raw_ceiling": _median([run["ratio_to_raw_ceiling"] for run, _ in runs], 3),
            "ingest_cpu_us_per_reading": _median(
                [run["ingest_cpu_us_per_reading"] for run, _ in runs], 2
            ),
            "readings_per_s": _median([run["readings_per_s"] for run, _ in runs], 0),
            "raw_ceiling_readings_per_s": {
                "median": _median(ceilings, 0),
                "min": min(ceilings, default=None),
                "max": max(ceilings, default=None),
            },
        }
    return result


def _median(values: list[float], digits: int) -> float | None:
    if not values:
        return None
    middle = round(statistics.median(values), digits)
    return int(middle) if digits == 0 else middle


def throughput_verdicts(summary: dict[str, Any]) -> list[tuple[str, Verdict]]:
    """(target, verdict) for the median ratio and the median CPU of each worker count."""
    verdicts: list[tuple[str, Verdict]] = []
    for workers in WORKER_COUNTS:
        name = pipeline_name(workers)
        median = summary[name]
        ratio, cpu = median["ratio_to_raw_ceiling"], median["ingest_cpu_us_per_reading"]
        for key, value, met in (
            (
                f"{name} median ratio >= {RATIO_TARGET}",
                ratio,
                ratio is not None and ratio >= RATIO_TARGET,
            ),
            (
                f"{name} median <= {CPU_US_TARGET} us of ingest CPU per reading",
                cpu,
                cpu is not None and cpu <= CPU_US_TARGET,
            ),
        ):
            if median["rounds"] < MIN_ROUNDS:
                why = (
                    f"not judged: the median of {median['rounds']} round(s) (measured {value}), "
                    f"not of at least {MIN_ROUNDS}"
                )
                verdicts.append((key, (None, why)))
            else:
                verdicts.append((key, (met, None if met else f"median {value}")))
    return verdicts


def latency_target(workers: int, high: bool) -> tuple[str, float, float]:
    """(target text, p99 limit in s, issue 14's rate) of a latency run at the low or high rate."""
    issue_rate, limit_s = HIGH_RATE_TARGET if high else LOW_RATE_TARGET
    name = f"latency_{worker_suffix(workers)}"
    return f"{name} p99 <= {limit_s * 1000:g} ms at {issue_rate:g} readings/s", limit_s, issue_rate


def latency_verdict(run: dict[str, Any], limit_s: float, issue_rate: float) -> Verdict:
    """Whether a latency run's p99 meets ``limit_s`` at the issue's rate; why not judged if not.

    Only a run whose publisher reached :data:`RATE_REACHED` of the asked rate, and whose asked
    rate is the issue's at least, is judged: anything else measured a lighter load.
    """
    if "error" in run:
        return None, f"the run failed: {run['error'][:200]}"
    asked, achieved = run["asked_readings_per_s"], run["readings_per_s"]
    if asked < issue_rate:
        return None, f"asked {asked:g} readings/s, below issue 14's {issue_rate:g}"
    if not rate_reached(asked, achieved):
        return None, (
            f"the publisher reached {achieved:g} readings/s, below {RATE_REACHED:.0%} of the "
            f"{asked:g} asked: not that load"
        )
    p99 = run.get("p99_s")
    if p99 is None:
        return None, "no probe message became visible"
    if p99 > limit_s:
        return False, f"p99 {p99 * 1000:.1f} ms"
    return True, None


def rate_reached(asked: float, achieved: float) -> bool:
    """Whether a publisher's achieved rate is at least :data:`RATE_REACHED` of the asked one."""
    return achieved >= RATE_REACHED * asked


def loss_verdict(rounds: list[dict[str, Any]], latency: list[dict[str, Any]]) -> Verdict:
    """Zero loss in every run of every round and every latency run; None if a run failed."""
    runs = [run for r in rounds for run in r.values() if isinstance(run, dict)] + latency
    failed = [run["error"] for run in runs if "error" in run]
    if failed:
        return None, f"{len(failed)} run(s) failed, first: {failed[0][:200]}"
    lost = sum(run["lost"] for run in runs)
    return (lost == 0, None if lost == 0 else f"{lost} readings lost")


def targets(
    summary: dict[str, Any],
    rounds: list[dict[str, Any]],
    latency: list[tuple[int, bool, dict[str, Any]]],
) -> tuple[dict[str, bool | None], dict[str, str]]:
    """Issue 14's targets ({target: met, None if not judged}) and why, where not met or judged.

    ``summary`` is :func:`medians` of ``rounds``; ``latency`` holds (workers, at the high
    rate, run) for each latency run.
    """
    judged = throughput_verdicts(summary)
    for workers, high, run in latency:
        text, limit_s, issue_rate = latency_target(workers, high)
        judged.append((text, latency_verdict(run, limit_s, issue_rate)))
    judged.append((LOSS_TARGET, loss_verdict(rounds, [run for _, _, run in latency])))
    met: dict[str, bool | None] = {}
    notes: dict[str, str] = {}
    for key, (value, why) in judged:
        met[key] = value
        if why is not None:
            notes[key] = why
    return met, notes
