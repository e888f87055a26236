"""Run a selection of scenarios and put their results in one JSON object.

Scenarios run ``params.jobs`` at a time (each on its own stack, ports and directory), the long
outages first, so the full run fits its time budget on two cores. Whatever happens (a scenario
fails, Ctrl-C, SIGTERM), every child process is killed, every stack stopped, the temporary
directory removed, and the JSON printed, a scenario that did not complete carrying ``error``.
"""

from __future__ import annotations

import inspect
import json
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from tani.chaos import clocks, kills, outages, poison, procs
from tani.chaos.context import Aborted, Context
from tani.chaos.members import scaled_settings
from tani.chaos.params import FULL, SHORT, Params
from tani.stack import Stack, StackConfigError

Scenario = Callable[[Context], dict[str, Any]]


def fuzz(ctx: Context) -> dict[str, Any]:
    """The parsers of untrusted bytes fed mutated inputs (``tani.chaos.fuzz``)."""
    try:
        from tani.chaos.fuzz import fuzz_parsers
    except ImportError as exc:
        raise RuntimeError(f"tani.chaos.fuzz is not available: {exc}") from exc
    wanted = {"inputs_per_parser": ctx.params.fuzz_inputs_per_parser, "seed": ctx.seed}
    accepted = inspect.signature(fuzz_parsers).parameters
    kwargs = {k: v for k, v in wanted.items() if k in accepted}
    ctx.say(f"fuzz_parsers({kwargs})")
    results = fuzz_parsers(**kwargs)
    counts = {
        key: sum(int(r.get(key, 0)) for r in results.values() if isinstance(r, dict))
        for key in ("inputs", "undeclared", "bad_output")
    }
    return {**counts, "arguments": kwargs, "parsers": results}


# In the order long ones first: the order scenarios are started in.
SCENARIOS: dict[str, Scenario] = {
    "influx_down": outages.influx_down,
    "broker_down": outages.broker_down,
    "gateway_kill": kills.gateway_kill,
    "ingest_kill_one_worker": kills.ingest_kill_one_worker,
    "ingest_kill_shared": kills.ingest_kill_shared,
    "ingest_worker_dies": kills.ingest_worker_dies,
    "broker_kill_influx_down": outages.broker_kill_influx_down,
    "outbox_disk_full": outages.outbox_disk_full,
    "clock_behind": clocks.clock_behind,
    "clock_2019": clocks.clock_2019,
    "clock_jump": clocks.clock_jump,
    "poison": poison.poison,
    "fuzz": fuzz,
}


class UnknownScenarioError(ValueError):
    """A scenario name that is not in :data:`SCENARIOS`."""


def _run_one(name: str, params: Params, seed: int, root: Path, abort: threading.Event) -> Any:
    ctx = Context(name, params, seed, root, abort)
    started = time.monotonic()
    ctx.say("starting")
    try:
        result = {**SCENARIOS[name](ctx), "error": None}
    except Aborted:
        result = {"error": "interrupted"}
    except Exception as exc:
        ctx.say(f"failed:\n{traceback.format_exc()}")
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result["seconds"] = round(time.monotonic() - started, 1)
    ctx.say(f"done in {result['seconds']} s" + (f": {result['error']}" if result["error"] else ""))
    return result


def _stop_leftover_stacks(root: Path) -> None:
    """Stop any stack a scenario could not stop itself (its thread was stuck, say)."""
    for record in root.glob("*/stack/stack.json"):
        try:
            Stack.from_state_dir(record.parent).down()
        except (StackConfigError, OSError) as exc:
            print(f"[chaos] could not stop the stack in {record.parent}: {exc}", file=sys.stderr)


def run(
    names: list[str], params: Params, seed: int, keep_dir: Path | None = None
) -> dict[str, Any]:
    """Run ``names`` (in :data:`SCENARIOS` order); the JSON-ready result."""
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise UnknownScenarioError(
            f"unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}"
        )
    ordered = [n for n in SCENARIOS if n in names]
    root = Path(tempfile.mkdtemp(prefix="tani-chaos-", dir=keep_dir))
    abort = threading.Event()
    results: dict[str, Any] = {}
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for name in ordered:
        todo.put(name)

    lanes = max(1, min(params.jobs, len(ordered)))
    running = [lanes]
    running_lock = threading.Lock()
    finished = threading.Event()

    def lane() -> None:
        try:
            while not abort.is_set():
                try:
                    name = todo.get_nowait()
                except queue.Empty:
                    return
                results[name] = _run_one(name, params, seed, root, abort)
        finally:
            with running_lock:
                running[0] -= 1
                if running[0] == 0:
                    finished.set()

    started = time.monotonic()
    # The main thread polls a flag with sleep, and never joins a lane: a Thread.join (or
    # is_alive) interrupted by Ctrl-C can mark a running thread as finished on Python 3.11.
    try:
        for n in range(lanes):
            threading.Thread(target=lane, name=f"chaos-lane-{n}", daemon=True).start()
        while not finished.is_set():
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("[chaos] interrupted: stopping every scenario", file=sys.stderr, flush=True)
        abort.set()
        deadline = time.monotonic() + 60
        try:
            while not finished.is_set() and time.monotonic() < deadline:
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("[chaos] interrupted again: killing everything now", file=sys.stderr)
    finally:
        killed = procs.kill_all()
        if killed:
            print(f"[chaos] killed {killed} leftover child processes", file=sys.stderr)
        _stop_leftover_stacks(root)
        if keep_dir is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"[chaos] files kept in {root}", file=sys.stderr)
    scenarios = {n: results.get(n, {"error": "interrupted before it started"}) for n in ordered}
    return {
        "benchmark": "chaos",
        "mode": params.mode,
        "seed": seed,
        "interrupted": abort.is_set(),
        "scenarios": scenarios,
        "summary": _summary(scenarios),
        "parameters": {**params.as_dict(), "scaled_settings": scaled_settings(params)},
        "seconds": round(time.monotonic() - started, 1),
    }


def _summary(scenarios: dict[str, Any]) -> dict[str, Any]:
    counted = {n: r for n, r in scenarios.items() if "committed" in r}
    return {
        "ran": sum(1 for r in scenarios.values() if r.get("error") is None),
        "errors": sorted(n for n, r in scenarios.items() if r.get("error") is not None),
        "lost": {n: r["lost"] for n, r in counted.items()},
        "duplicated": {n: r["duplicated"] for n, r in counted.items()},
        "not_recovered": sorted(n for n, r in counted.items() if not r["recovered_by_itself"]),
    }


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM (and SIGINT) end the run the way Ctrl-C does: cleanly, with the JSON printed."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main_json(
    names: list[str] | None,
    short: bool,
    seed: int,
    jobs: int | None = None,
    keep_dir: Path | None = None,
) -> tuple[str, bool]:
    """The chaos run's one JSON object (all scenarios when ``names`` is empty), and whether
    the run was interrupted."""
    params = SHORT if short else FULL
    if jobs is not None:
        params = replace(params, jobs=jobs)
    with _interruptible():
        result = run(list(names or SCENARIOS), params, seed, keep_dir)
    return json.dumps(result, indent=2), bool(result["interrupted"])
