"""Whether a DAG kept its shape across versions: same tasks, same wiring, the same schedule in meaning.

Airflow 3 changed three defaults silently; each is named with its fix rather than shown as a bare diff:
a DAG without `schedule` ran daily on 2.x and never runs on 3.x; catchup defaulted to True and now to False;
cron strings and timedeltas now make trigger timetables (logical_date is the run time, not the start of the
data interval) unless [scheduler] create_cron_data_intervals / create_delta_data_intervals say otherwise.

The last one harms only a DAG that reads data-interval values, so it is not a shape change by itself:
`interval_change` names it, and the suite fails the DAGs that read those values and warns once about the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mwaa_verify.environments.base import DagShape

DAY_SECONDS = 86400.0


def shape_changes(source: DagShape, target: DagShape) -> list[str]:
    problems = []
    missing = sorted(set(source.task_ids) - set(target.task_ids))
    added = sorted(set(target.task_ids) - set(source.task_ids))
    if missing:
        problems.append(f"tasks missing on the target: {', '.join(missing)}")
    if added:
        problems.append(f"tasks only on the target: {', '.join(added)}")
    lost = sorted(set(source.edges) - set(target.edges))
    gained = sorted(set(target.edges) - set(source.edges))
    if lost:
        problems.append("dependencies missing on the target: " + ", ".join(f"{a} >> {b}" for a, b in lost))
    if gained:
        problems.append("dependencies only on the target: " + ", ".join(f"{a} >> {b}" for a, b in gained))
    problems += schedule_changes(source.schedule, target.schedule)
    if source.catchup and not target.catchup:
        problems.append(
            "catchup changed True -> False: Airflow 3 defaults catchup to False ([scheduler] catchup_by_default); "
            "set catchup=True on the DAG to keep backfilling missed intervals"
        )
    elif source.catchup != target.catchup:
        problems.append(f"catchup changed {source.catchup} -> {target.catchup}")
    return problems


def schedule_changes(source: Mapping[str, Any], target: Mapping[str, Any]) -> list[str]:
    if source["kind"] == "delta" and source["expression"] == DAY_SECONDS and target["kind"] == "none":
        return [
            "schedule changed from every day to None: a DAG without `schedule` ran daily on Airflow 2 and never "
            "runs on Airflow 3; set schedule='@daily' (or what it should be) explicitly"
        ]
    if (source["kind"], source["expression"], source["timezone"]) != (
        target["kind"],
        target["expression"],
        target["timezone"],
    ):
        return [f"schedule changed: {_describe(source)} -> {_describe(target)}"]
    return []


@dataclass(frozen=True)
class IntervalChange:
    """A cron or timedelta schedule that had data intervals on the source and is a trigger timetable on the
    target: runs happen at the same times, but logical_date (and ds, ts, data_interval_start) is the run time
    instead of the start of the interval."""

    dag_id: str
    expression: str
    timetable: str  # the target's, e.g. CronTriggerTimetable
    option: str  # [scheduler] option that restores Airflow 2's behaviour

    def problem(self, reads: Sequence[object]) -> str:
        """The shape failure of a DAG that reads data-interval values (`reads`: where, each `file:line: key`)."""
        return (
            f"schedule {self.expression!r} is now a {self.timetable} (Airflow 3's default [scheduler] {self.option} "
            f"= False): logical_date, ds and ts are the run time instead of the start of the data interval, and "
            f"data_interval_start equals data_interval_end; this DAG reads those values ("
            + "; ".join(map(str, reads))
            + f"), so each run would process a different interval than on the source; set [scheduler] "
            f"{self.option} = True on the target to keep Airflow 2's behaviour"
        )


def interval_change(source: DagShape, target: DagShape) -> IntervalChange | None:
    before, after = source.schedule, target.schedule
    same = (before["kind"], before["expression"], before["timezone"]) == (
        after["kind"],
        after["expression"],
        after["timezone"],
    )
    if same and before["kind"] in {"cron", "delta"} and before["data_interval"] and not after["data_interval"]:
        option = "create_cron_data_intervals" if before["kind"] == "cron" else "create_delta_data_intervals"
        expression = before["expression"] if before["kind"] == "cron" else f"every {before['expression']:g} s"
        return IntervalChange(source.dag_id, str(expression), after["timetable"].rsplit(".", 1)[-1], option)
    return None


def _describe(schedule: Mapping[str, Any]) -> str:
    kind = schedule["kind"]
    if kind == "cron":
        return f"cron {schedule['expression']!r}" + (f" ({schedule['timezone']})" if schedule["timezone"] else "")
    if kind == "delta":
        return f"every {schedule['expression']:g} s"
    return {"none": "None (manual only)", "once": "@once", "continuous": "@continuous", "asset": "asset-triggered"}.get(
        kind, schedule.get("summary") or kind
    )
