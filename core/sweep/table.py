"""The sweep's table: one row per point, the Pareto fronts, and what fits each board.

:func:`make_table` turns the rows the points returned into a :class:`pandas.DataFrame`
and adds

* ``fits_board``: the point's estimated resources fit its own board (NA without a board);
  ``fits_board_synth`` the same by the synthesized figures, where synthesis ran;
* ``pareto_<R>`` for each resource R (LUT, FF, BRAM_18K, URAM, DSP): the point is on the
  Pareto front of estimated throughput against R among the successful points of its
  model: no other point is at least as fast and uses at most as much R, and better in one;
* ``cheapest_fit_for``: the boards for which this point is the cheapest that fits (the
  lowest largest share of any one resource of the board; of equals, the lowest sum of
  the shares), and ``fastest_fit_for``: the
  boards for which it is the fastest that fits.

:func:`board_table` gives the same per board (and model): the cheapest and the fastest
point that fits, with their throughput and largest share. A point built for one board
(``board`` set) is only weighed against that board; a point without a board against all.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from dfx.sweep.point import RESOURCES

#: the columns every sweep table has, in this order (the swept keys come after ``model``)
LEADING = ("point", "model")
TRAILING = (
    "status", "error", "estimated_fps", "estimated_latency_ns", "max_cycles", "slowest_layer",
    "target_met", *RESOURCES, "board", "fits_board", "max_board_share", "rtlsim_fps",
    "rtlsim_latency_cycles", "synth_tool", *(f"{r}_synth" for r in RESOURCES),
    "fits_board_synth", "WNS_ns", "fmax_mhz", "outputs", "build_seconds", "cpu_seconds",
    "steps_run",
    "steps_cached", "starts", "worker", "warnings", "failed_step", "build_dir",
)
#: the statuses of a point that has figures
BUILT = ("ok", "incomplete")


def _share(row, resources: dict, suffix: str = "", total: bool = False) -> float | None:
    """The largest share of one of the board's resources the point uses (1.0 = full),
    ``inf`` when it uses a resource the board does not have; None without figures.
    ``total``: the sum of the shares instead of the largest."""
    shares = []
    for kind in RESOURCES:
        used = row.get(f"{kind}{suffix}")
        if used is None or pd.isna(used):
            continue
        capacity = resources.get(kind) or 0
        if capacity <= 0:
            shares.append(0.0 if used == 0 else float("inf"))
        else:
            shares.append(float(used) / capacity)
    if not shares:
        return None
    return sum(shares) if total else max(shares)


def _boards():
    from dfx.board_registry import load_boards

    return {board.name: board for board in load_boards().values()}


def make_table(rows: Iterable[dict], swept_keys: Iterable[str] = (),
               boards: Iterable[str] | None = None) -> pd.DataFrame:
    """The sweep's DataFrame (see the module docstring), rows in point order.

    swept_keys: the grid's keys, placed after ``point`` and ``model``.
    boards:     the boards for ``cheapest_fit_for``/``fastest_fit_for`` (None: the boards
                the points name, or every known board when none does).
    """
    rows = sorted((dict(r) for r in rows), key=lambda r: r.get("point", 0))
    swept = [k for k in swept_keys if k not in LEADING and k != "board"]
    extra = sorted({k for r in rows for k in r} - set(LEADING) - set(swept) - set(TRAILING))
    columns = [*LEADING, *swept, *TRAILING, *extra]
    df = pd.DataFrame(rows, columns=columns, dtype=object)  # Python types, tidied below
    known = _boards()
    fits, fits_synth, shares = [], [], []
    for _, row in df.iterrows():
        board = known.get(row["board"]) if isinstance(row["board"], str) else None
        if board is None or row["status"] not in BUILT:
            fits.append(pd.NA), fits_synth.append(pd.NA), shares.append(None)
            continue
        share = _share(row, board.resources)
        synth = _share(row, board.resources, "_synth")
        shares.append(share)
        fits.append(pd.NA if share is None else share <= 1.0)
        fits_synth.append(pd.NA if synth is None else synth <= 1.0)
    df["fits_board"] = pd.array(fits, dtype="boolean")
    df["fits_board_synth"] = pd.array(fits_synth, dtype="boolean")
    df["max_board_share"] = pd.array(shares, dtype="Float64")
    for kind in RESOURCES:
        df[f"pareto_{kind}"] = pareto_front(df, kind)
    chosen = _board_names(df, boards, known)
    summary = board_table(df, chosen, known)
    for column, pick in (("cheapest_fit_for", "cheapest_point"),
                         ("fastest_fit_for", "fastest_point")):
        marks: dict[int, list[str]] = {}
        for _, entry in summary.iterrows():
            if not pd.isna(entry[pick]):
                marks.setdefault(int(entry[pick]), []).append(entry["board"])
        df[column] = [", ".join(marks.get(int(p), [])) or None for p in df["point"]]
    keep = [c for c in df.columns if c in _ALWAYS or c in swept or df[c].notna().any()]
    df = _tidy(df[keep].copy())
    df.attrs["boards"] = chosen
    return df


#: columns kept even when empty, so every sweep table has them
_ALWAYS = {*LEADING, "status", "error", "estimated_fps", "estimated_latency_ns", *RESOURCES,
           "board", "fits_board", "build_seconds", "worker",
           *(f"pareto_{r}" for r in RESOURCES), "cheapest_fit_for", "fastest_fit_for"}


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Integer columns as nullable Int64, numbers as float64, text as object."""
    for column in df.columns:
        values = df[column].dropna()
        if values.empty or str(df[column].dtype) in ("boolean", "Float64", "bool"):
            continue
        if values.map(lambda v: isinstance(v, bool)).all():
            df[column] = df[column].astype("boolean")
        elif values.map(lambda v: isinstance(v, int) and not isinstance(v, bool)).all():
            df[column] = df[column].astype("Int64")
        elif values.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool)).all():
            df[column] = df[column].astype("float64")
    return df


def pareto_front(df: pd.DataFrame, resource: str, fps: str = "estimated_fps") -> pd.Series:
    """Per row: on the Pareto front of ``fps`` (higher is better) against ``resource``
    (lower is better) among the built rows of the same model. Rows without both figures
    are not on it."""
    on_front = pd.Series(False, index=df.index)
    usable = df[df["status"].isin(BUILT) & df[fps].notna() & df[resource].notna()]
    for _, group in usable.groupby("model", sort=False, dropna=False):
        speed = group[fps].astype(float)
        cost = group[resource].astype(float)
        for index in group.index:
            s, c = speed[index], cost[index]
            dominated = ((speed >= s) & (cost <= c) & ((speed > s) | (cost < c))).any()
            on_front[index] = not dominated
    return on_front


def _board_names(df: pd.DataFrame, boards, known: dict) -> list[str]:
    if boards is not None:
        from dfx.board_registry import get_board

        return [get_board(name).name for name in boards]
    named = [b for b in df["board"].dropna().unique() if b in known]
    return named or list(known)


def board_table(df: pd.DataFrame, boards: Iterable[str] | None = None,
                known: dict | None = None) -> pd.DataFrame:
    """Per board (and model): how many built points fit it by their estimates, the
    cheapest that fits (the lowest largest share of any one resource) and the fastest
    that fits, with their throughput and that share."""
    known = known or _boards()
    names = list(boards) if boards is not None else _board_names(df, None, known)
    built = df[df["status"].isin(BUILT) & df["estimated_fps"].notna()]
    out = []
    for name in names:
        board = known.get(name)
        if board is None:
            continue
        for model, group in built.groupby("model", sort=False, dropna=False):
            # a point built for another board (another part) does not count for this one
            mine = group[group["board"].isna() | (group["board"] == name)]
            capacity = dict(board.resources)
            shares = mine.apply(lambda r, c=capacity: _share(r, c), axis=1) \
                if len(mine) else pd.Series(dtype=float)
            fitting = mine[shares.notna() & (shares <= 1.0)] if len(mine) else mine
            entry = {"board": name, "model": model, "part": board.part,
                     "points_fitting": len(fitting), "cheapest_point": pd.NA,
                     "cheapest_fps": None, "cheapest_share": None, "fastest_point": pd.NA,
                     "fastest_fps": None, "fastest_share": None}
            if len(fitting):
                share = shares[fitting.index]
                # cheapest: the lowest largest share; of equals, the lowest total share
                total = {i: _share(fitting.loc[i], capacity, total=True) for i in fitting.index}
                cheap = sorted(fitting.index, key=lambda i: (share[i], total[i],
                                                             -fitting.at[i, "estimated_fps"]))[0]
                fast = sorted(fitting.index, key=lambda i: (-fitting.at[i, "estimated_fps"],
                                                            share[i]))[0]
                entry.update(cheapest_point=int(fitting.at[cheap, "point"]),
                             cheapest_fps=float(fitting.at[cheap, "estimated_fps"]),
                             cheapest_share=float(share[cheap]),
                             fastest_point=int(fitting.at[fast, "point"]),
                             fastest_fps=float(fitting.at[fast, "estimated_fps"]),
                             fastest_share=float(share[fast]))
            out.append(entry)
    table = pd.DataFrame(out, columns=["board", "model", "part", "points_fitting",
                                       "cheapest_point", "cheapest_fps", "cheapest_share",
                                       "fastest_point", "fastest_fps", "fastest_share"])
    for column in ("cheapest_point", "fastest_point"):
        table[column] = table[column].astype("Int64")
    return table


def write_table(df: pd.DataFrame, folder: Path, boards: pd.DataFrame | None = None
                ) -> dict[str, Path]:
    """``sweep.csv`` and ``sweep.parquet`` (and ``boards.csv``) in ``folder``; the paths.
    Parquet needs pyarrow (the ``sweep`` extra); without it, only the CSV files are
    written and ``parquet`` is missing from the result."""
    folder = Path(folder)
    written = {"csv": folder / "sweep.csv"}
    df.to_csv(written["csv"], index=False)
    try:
        import pyarrow  # noqa: F401  (pandas' Parquet engine)
    except ImportError:
        pass
    else:
        written["parquet"] = folder / "sweep.parquet"
        _for_parquet(df).to_parquet(written["parquet"], index=False)
    if boards is not None:
        written["boards"] = folder / "boards.csv"
        boards.to_csv(written["boards"], index=False)
    return written


def _for_parquet(df: pd.DataFrame) -> pd.DataFrame:
    """Columns of mixed Python values (a swept list key, enums) as text: Parquet columns
    have one type."""
    out = df.copy()
    out.attrs = {}
    for column in out.columns:
        if out[column].dtype == object:
            values = out[column].dropna()
            if not values.map(lambda v: isinstance(v, str)).all():
                out[column] = out[column].map(lambda v: v if v is None or
                                              (not isinstance(v, list) and pd.isna(v))
                                              else _text(v))
    return out


def _text(value) -> str:
    if isinstance(value, list | tuple):
        return ",".join(_text(v) for v in value)
    return str(value)
