"""Scores from the results store as pandas frames, shared by the leaderboard, the paper
tables and the report figures."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from usbench.config import dotted
from usbench.store import ResultStore

_SHOWN_SETTINGS = 3  # settings named in a label; more are counted


def config_labels(frame: pd.DataFrame, configs: Mapping[str, dict] | None = None) -> pd.Series:
    """The preset name, suffixed where one (dataset, generator, preset) holds runs of
    different configs (``--set`` overrides, fallbacks, selector settings): those never share
    a row. The suffix names the settings in which the configs differ (``quick
    (conditioning=label-map)``; ``configs`` maps config hash → config dict), or the config
    hash where the configs are not given or show no difference."""
    labels = frame["preset"].copy()
    for (_, _, preset), group in frame.groupby(["dataset", "generator", "preset"]):
        hashes = sorted(set(group["config_hash"]))
        if len(hashes) < 2:
            continue
        names = _differences(hashes, configs or {})
        for config, index in group.groupby("config_hash").groups.items():
            labels[index] = f"{preset} ({names[config]})"
    return labels


def _differences(hashes: list[str], configs: Mapping[str, dict]) -> dict[str, str]:
    """Per config hash, the ``key=value`` settings that tell it from the others."""
    if not all(h in configs for h in hashes):
        return {h: h[:6] for h in hashes}
    flat = {h: dotted(configs[h]) for h in hashes}
    keys = sorted({k for f in flat.values() for k in f})
    differing = [k for k in keys if len({repr(f.get(k)) for f in flat.values()}) > 1]
    if not differing:
        return {h: h[:6] for h in hashes}
    out = {}
    for h in hashes:
        shown = [f"{k}={flat[h].get(k, '-')}" for k in differing[:_SHOWN_SETTINGS]]
        more = len(differing) - _SHOWN_SETTINGS
        out[h] = ", ".join(shown) + (f", +{more} more" if more > 0 else "")
    return out


def methods_by_config(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``generator`` naming the preset label where one (dataset, generator)
    has several (``bmap_ddpm quick (conditioning=label-map)``), so paper tables, which have
    a column per generator, never merge or drop runs of other configs."""
    if frame.empty:
        return frame
    several = frame.groupby(["dataset", "generator"])["preset"].transform("nunique") > 1
    out = frame.copy()
    out.loc[several, "generator"] = out.loc[several, "generator"] + " " + out.loc[several, "preset"]
    return out


def run_facts(runs: list[dict]) -> tuple[dict[str, str], dict[str, dict]]:
    """``(run id → run key, config hash → config)`` of ``runs`` (:meth:`ResultStore.runs`).
    Runs of one run key share their training and samples (jobs that differ only in metrics
    or tasks)."""
    keys, configs = {}, {}
    for run in runs:
        keys[run["run_id"]] = run["provenance"].get("run_key") or run["run_id"]
        configs[run["config_hash"]] = run["config"]
    return keys, configs


def once_per_training(
    frame: pd.DataFrame, keys: Mapping[str, str], columns: list[str]
) -> pd.DataFrame:
    """``frame`` without repeated scores of one training: rows of runs that share a run key
    (the same fit and samples, stored by jobs with other metrics or tasks) and agree on
    ``columns`` are counted once, so they never pass for several seeds."""
    if frame.empty:
        return frame
    key = frame["run_id"].map(lambda r: keys.get(r, r))
    return frame[~pd.concat([key.rename("_run_key"), frame[columns]], axis=1).duplicated()]


def long_scores(store: ResultStore, filters: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every ``ok`` score, one line per (dataset, generator, preset, setting, class,
    metric), averaged over runs: ``value`` = mean over runs, ``spread`` = std over runs
    when there are several, else the run's own spread; ``n`` = smallest N; ``runs``;
    ``steps`` (the generator's ``steps`` setting, "" if it has none); ``per_sample``
    pooled over runs; ``variant`` and ``pairing`` (paired metrics: ``source``,
    ``label-map`` or ``nearest-train``; "" otherwise) of the first run."""
    stored = store.runs()
    runs = {r["run_id"]: r for r in stored}
    keys, configs = run_facts(stored)
    records = []
    for s in store.scores():
        if s["status"] != "ok" or s["value"] is None:
            continue
        if any(s.get(k) != v for k, v in (filters or {}).items()):
            continue
        setting, cls = _split_group(s["grp"])
        metric = s["name"]
        if s["source"] == "task":
            metric = metric.split("/", 1)[1]
        config = runs[s["run_id"]]["config"]  # steps: the train section, or a flat key (older)
        steps = config.get("train", {}).get("steps", config.get("steps", ""))
        records.append({**{k: s[k] for k in ("dataset", "generator", "preset", "run_id",
                                             "config_hash")},
                        "source": s["source"], "task": s["name"].split("/")[0],
                        "setting": setting, "class": cls, "metric": metric, "steps": steps,
                        "value": s["value"], "spread": s["spread"], "n": s["n"],
                        "hib": bool(s["higher_is_better"]), "variant": s["variant"],
                        "per_sample": s["per_sample"],
                        "pairing": (s.get("details") or {}).get("pairing", "")})  # fmt: skip
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return frame
    frame = once_per_training(frame, keys, ["source", "task", "setting", "class", "metric"])
    frame["preset"] = config_labels(frame, configs)
    return _over_runs(frame)


def _split_group(group: str) -> tuple[str, str]:
    if "/class=" in group:
        setting, cls = group.split("/class=", 1)
        return setting, cls
    return group, ""


def _over_runs(frame: pd.DataFrame) -> pd.DataFrame:
    keys = ["dataset", "generator", "preset", "source", "task", "setting", "class", "metric",
            "steps"]  # fmt: skip
    out = []
    for key, group in frame.groupby(keys, sort=True):
        many = len(group) > 1
        pooled = [v for ps in group["per_sample"] if ps for v in ps]
        out.append({**dict(zip(keys, key, strict=True)),
                    "value": group["value"].mean(),
                    "spread": group["value"].std(ddof=1) if many else group["spread"].iloc[0],
                    "n": int(group["n"].min()), "runs": len(group), "hib": group["hib"].iloc[0],
                    "variant": group["variant"].iloc[0], "per_sample": pooled or None,
                    "pairing": group["pairing"].iloc[0]})  # fmt: skip
    return pd.DataFrame.from_records(out)
