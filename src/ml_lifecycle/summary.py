"""The few lines every `kedro run` ends with: rows per stage, data quality, model, registry, where.

Catalog entries declare what they contribute in their metadata, never by name:

- ``summary: accounting``: a stage's row accounting (``in``, ``kept``, ``quarantined``), labelled
  by the dataset's section (JSONSectionDataset) or its name; ``summary: {accounting: <label>}``
  names the label; one that also counts values repaired (cleaning's ``clipped``, ``imputed``) adds
  a line of them, the top columns named;
- ``summary: data_quality``: the validation summary (``passed_gate``, ``failed``, ``expectations``);
- ``summary: evaluation``: test metrics of the ``model`` and the ``baseline`` side by side;
- ``summary: registry``: the gate's decision (``model_name``, ``version``, ``passed``, ``reasons``,
  ``champion``).

:class:`RunSummaryHooks` keeps what each such dataset saved and logs one block after the last node
(or, on a failed run, what ran and the node that failed). A challenger the gate rejected is a
WARNING of its own.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

from kedro.framework.hooks import hook_impl

from ml_lifecycle.core.errors import LifecycleError

logger = logging.getLogger(__name__)

MAX_LINES = 15
ROLES = ("accounting", "data_quality", "evaluation", "registry")
# The metric shown when the run's parameters name none (registry.metric), first present wins.
HEADLINE = ("roc_auc", "macro_f1", "rmse", "pr_auc", "accuracy", "mae", "r2")
LOWER_IS_BETTER = ("rmse", "mae", "log_loss", "brier")


def summary_role(metadata: dict[str, Any] | None, default_label: str) -> tuple[str, str] | None:
    """Returns (role, label) that `metadata` declares under `summary`, or None."""
    spec = (metadata or {}).get("summary")
    if spec is None:
        return None
    if isinstance(spec, str):
        role, label = spec, default_label
    elif isinstance(spec, dict) and len(spec) == 1:
        role, label = next(iter(spec.items()))
        label = str(label) if label else default_label
    else:
        raise ValueError(f"metadata.summary must be one of {', '.join(ROLES)}, not {spec!r}.")
    if role not in ROLES:
        raise ValueError(f"metadata.summary must be one of {', '.join(ROLES)}, not {role!r}.")
    return role, label


def _describe(dataset: Any) -> dict[str, Any]:
    try:
        return dict(dataset._describe() or {})
    except Exception:  # noqa: BLE001 - a dataset that cannot describe itself has no location
        return {}


def _location(dataset: Any) -> str | None:
    path = _describe(dataset).get("filepath") or getattr(dataset, "_filepath", None)
    return None if path is None else str(path)


def _common_folder(paths: list[str]) -> str | None:
    """Returns the deepest folder holding every path (URLs or local paths alike)."""
    folders = [p.rstrip("/").rsplit("/", 1)[0] for p in paths if "/" in p]
    if not folders:
        return None
    parts = [f.split("/") for f in folders]
    common = []
    for segment in zip(*parts, strict=False):
        if len(set(segment)) != 1:
            break
        common.append(segment[0])
    folder = "/".join(common)
    return folder if folder.strip("/:") else None


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def accounting_line(label: str, data: dict[str, Any]) -> str:
    """Returns `label: in N, kept N, quarantined N`."""
    counts = ", ".join(f"{k} {_n(data[k])}" for k in ("in", "kept", "quarantined") if k in data)
    return f"{label}: {counts or 'no counts'}"


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _top(counts: dict[str, int], what: str, top: int = 3) -> str:
    """Returns `N <what> (a n, b n, c n, k more)`: the total and the `top` columns by count."""
    ranked = sorted(((n, c) for c, n in counts.items() if n > 0), key=lambda x: (-x[0], x[1]))
    text = f"{sum(n for n, _ in ranked):,} {what}"
    if ranked:
        named = ", ".join(f"{c} {n:,}" for n, c in ranked[:top])
        more = f", {len(ranked) - top} more" if len(ranked) > top else ""
        text += f" ({named}{more})"
    return text


def repairs_line(label: str, data: dict[str, Any]) -> str:
    """Returns `label: N values clipped (column n, ...), N imputed (column n, ...)`, top 3 each."""
    clipped = {
        column: sum(_count(n) for n in sides.values()) if isinstance(sides, dict) else 0
        for column, sides in (data.get("clipped") or {}).items()
    }
    imputed = {column: _count(n) for column, n in (data.get("imputed") or {}).items()}
    return f"{label}: {_top(clipped, 'values clipped')}, {_top(imputed, 'imputed')}"


def data_quality_line(data: dict[str, Any]) -> str:
    """Returns whether the data passed the gate, with warnings, or stopped the run."""
    records = data.get("expectations") or []
    failed = [r for r in records if not r.get("success")]
    critical = [r.get("name", "?") for r in failed if r.get("severity") == "critical"]
    warnings = [r.get("name", "?") for r in failed if r.get("severity") != "critical"]
    suite = f"suite '{data['suite']}'" if data.get("suite") else "the suite"
    if not data.get("passed_gate", not critical):
        names = ", ".join(critical or data.get("failed") or ["?"])
        return f"data quality: STOPPED, {len(critical) or '?'} critical failure(s) of {suite}: " + (
            _short(names)
        )
    if warnings:
        return (
            f"data quality: passed with {len(warnings)} warning(s): {_short(', '.join(warnings))}"
        )
    return f"data quality: passed ({data.get('evaluated', len(records))} expectations of {suite})"


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def evaluation_line(
    data: dict[str, Any], metric: str | None = None, greater_is_better: bool | None = None
) -> str:
    """Returns the model against the baseline on `metric` (default: the first headline metric)."""
    model, baseline = data.get("model") or {}, data.get("baseline") or {}
    if metric is None or _number(model.get(metric)) is None:
        metric = next((k for k in HEADLINE if _number(model.get(k)) is not None), None)
    if metric is None:
        return "model vs baseline: no metric to compare"
    if greater_is_better is None:
        greater_is_better = metric not in LOWER_IS_BETTER
    ours, theirs = _number(model.get(metric)), _number(baseline.get(metric))
    if theirs is None:
        return f"model {metric} {ours:.4f} (no baseline)"
    gap = (ours - theirs) if greater_is_better else (theirs - ours)
    verdict = "model ahead" if gap > 0 else "baseline ahead" if gap < 0 else "tied"
    line = f"model vs baseline: {metric} {ours:.4f} vs {theirs:.4f} ({verdict} by {abs(gap):.4f})"
    if model.get("threshold_fallback"):  # evaluation refused a one-class tuned threshold
        tuned = _number(model.get("threshold_tuned"))
        line += f"; tuned threshold {tuned:.3f} refused, 0.5 used" if tuned is not None else ""
    return line


def registry_line(decision: dict[str, Any], committed: bool = True) -> tuple[int, str]:
    """Returns (log level, line): the gate's outcome and the champion after the run.

    The words follow the registry's own outcome (the `registry.outcome` tag): promoted, already
    the champion, rejected. `committed` is false on a failed run: no alias moved.
    """
    name, version = decision.get("model_name", "?"), str(decision.get("version", "?"))
    before = (decision.get("champion") or {}).get("version")
    before = None if before is None else str(before)
    reasons = "; ".join(decision.get("reasons") or []) or "no reason given"
    if not decision.get("passed"):
        stays = f"v{before}" if before else "none yet"
        return logging.WARNING, (
            f"registry: challenger {name} v{version} REJECTED ({_short(reasons, 120)}); "
            f"champion stays {stays}"
        )
    if not committed:
        stays = f"v{before}" if before else "none yet"
        return logging.INFO, (
            f"registry: {name} v{version} passed the gate but the run failed: "
            f"champion stays {stays}"
        )
    if before == version:
        return logging.INFO, f"registry: {name} v{version} is already the champion"
    previous = f" (previous: v{before})" if before else " (the first one)"
    return logging.INFO, f"registry: promoted {name} v{version} to champion{previous}"


def _fold(lines: list[str], room: int, prefix: str = "rows ") -> list[str]:
    """Returns `lines` in at most `room` lines, the surplus joined into the last one."""
    if len(lines) <= room:
        return lines
    if room <= 1:
        return ["; ".join(lines)]
    return [*lines[: room - 1], "; ".join(lines[room - 1 :])]


def summary_lines(  # noqa: PLR0913 - one run's facts, each named
    saved: dict[str, list[tuple[str, Any]]],
    header: str,
    reports: str | None,
    tracking_uri: str | None,
    failed: str | None = None,
    metric: str | None = None,
    greater_is_better: bool | None = None,
) -> list[tuple[int, str]]:
    """Returns the summary as (log level, line) pairs, at most MAX_LINES of them."""
    head = [(logging.INFO, header)]
    rows = []
    for label, data in saved.get("accounting", []):
        rows.append(f"  rows {accounting_line(label, data)}")
        if "clipped" in data or "imputed" in data:
            rows.append(f"  {repairs_line(label, data)}")
    rest: list[tuple[int, str]] = []
    for _, data in saved.get("data_quality", [])[-1:]:
        rest.append((logging.INFO, "  " + data_quality_line(data)))
    for _, data in saved.get("evaluation", [])[-1:]:
        rest.append((logging.INFO, "  " + evaluation_line(data, metric, greater_is_better)))
    for _, data in saved.get("registry", [])[-1:]:
        level, line = registry_line(data, committed=failed is None)
        rest.append((level, "  " + line))
    if reports:
        rest.append((logging.INFO, f"  reports: {reports}"))
    ui = "make mlflow-ui"
    if tracking_uri:
        ui = f"MLFLOW_TRACKING_URI={tracking_uri} make mlflow-ui"
    rest.append((logging.INFO, f"  MLflow: {ui}"))
    if failed:
        rest.append((logging.ERROR, f"  {failed}"))
    room = MAX_LINES - len(head) - len(rest)
    folded = _fold(rows, max(room, 1))
    return [*head, *((logging.INFO, line) for line in folded), *rest][:MAX_LINES]


def _project_error(error: BaseException) -> BaseException:
    """The project's own error behind `error`: Kedro's catalog re-raises a dataset's error as a
    DatasetError prefixed with the dataset's name, the original as its cause."""
    cause = error.__cause__
    while cause is not None:
        if isinstance(cause, LifecycleError):
            return cause
        cause = cause.__cause__
    return error


def _first_line(error: BaseException) -> str:
    error = _project_error(error)
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {_short(text[0], 160) if text else ''}".rstrip(": ")


class RunSummaryHooks:
    """Logs the run's summary after its last node, or what ran and where it failed."""

    def __init__(self) -> None:
        self._catalog: Any = None
        self._metric: str | None = None
        self._greater: bool | None = None
        self._reset()

    def _reset(self) -> None:
        self._saved: dict[str, list[tuple[str, Any]]] = {}
        self._locations: list[str] = []
        self._failed_node: str | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Reads the registry's primary metric, the one the summary compares."""
        try:
            registry = (context.params or {}).get("registry") or {}
        except Exception:  # noqa: BLE001 - parameters that do not load stop the run elsewhere
            registry = {}
        self._metric = registry.get("metric")
        greater = registry.get("greater_is_better")
        self._greater = greater if isinstance(greater, bool) else None

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        """Keeps the catalog, to read each saved dataset's metadata."""
        self._catalog = catalog

    @hook_impl
    def before_pipeline_run(self) -> None:
        """Starts with nothing collected."""
        self._reset()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Keeps what a dataset that declares `summary` in its metadata saved."""
        if self._catalog is None or not isinstance(data, dict):
            return
        try:
            dataset = self._catalog.get(dataset_name)
        except Exception:  # noqa: BLE001 - a name without a catalog entry contributes nothing
            return
        section = _describe(dataset).get("section")
        declared = summary_role(getattr(dataset, "metadata", None), section or dataset_name)
        if declared is None:
            return
        role, label = declared
        self._saved.setdefault(role, []).append((label, data))
        location = _location(dataset)
        if location:
            self._locations.append(location)

    @hook_impl
    def on_node_error(self, node: Any) -> None:
        """Remembers which node failed."""
        self._failed_node = getattr(node, "name", str(node))

    def _header(self, run_params: dict[str, Any] | None, ok: bool) -> str:
        params = run_params or {}
        pipelines = "+".join(params.get("pipeline_names") or ["__default__"])
        env = params.get("env") or "local"
        return f"Run summary ({pipelines}, env {env}): {'succeeded' if ok else 'FAILED'}"

    def _log(self, run_params: dict[str, Any] | None, failed: str | None) -> None:
        lines = summary_lines(
            self._saved,
            self._header(run_params, failed is None),
            _common_folder(self._locations),
            os.environ.get("MLFLOW_TRACKING_URI"),
            failed=failed,
            metric=self._metric,
            greater_is_better=self._greater,
        )
        block = [text for level, text in lines if level == logging.INFO]
        logger.info("\n".join(block))
        for level, text in lines:
            if level != logging.INFO:
                logger.log(level, text.strip())
        self._reset()

    # trylast: after CommitStaged moved the champion, so the registry line is what happened.
    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        """Logs the run's summary."""
        self._log(run_params, None)

    @hook_impl(trylast=True)
    def on_pipeline_error(self, error: BaseException, run_params: dict[str, Any]) -> None:
        """Logs what ran and, in one line, the node that failed and why."""
        where = f"node {self._failed_node}" if self._failed_node else "the run, before any node,"
        self._log(run_params, f"{where} failed: {_first_line(error)}")
