"""Scores from the results store as pandas frames, shared by the leaderboard, the paper
tables and the report figures."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from usbench.store import ResultStore


def config_labels(frame: pd.DataFrame) -> pd.Series:
    """The preset name, suffixed with the config hash where one (dataset, generator, preset)
    holds runs of different configs (``--set`` overrides, fallbacks): those never share a row.
    """
    distinct = frame.groupby(["dataset", "generator", "preset"])["config_hash"].transform("nunique")
    suffix = " (" + frame["config_hash"].str[:6] + ")"
    return frame["preset"].where(distinct == 1, frame["preset"] + suffix)


def long_scores(store: ResultStore, filters: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every ``ok`` score, one line per (dataset, generator, preset, setting, class,
    metric), averaged over runs: ``value`` = mean over runs, ``spread`` = std over runs
    when there are several, else the run's own spread; ``n`` = smallest N; ``runs``;
    ``steps`` (the generator's ``steps`` setting, "" if it has none); ``per_sample``
    pooled over runs; ``variant`` and ``pairing`` (paired metrics: ``source``,
    ``label-map`` or ``nearest-train``; "" otherwise) of the first run."""
    runs = {r["run_id"]: r for r in store.runs()}
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
    frame["preset"] = config_labels(frame)
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
