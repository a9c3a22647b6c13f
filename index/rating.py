"""The rating model in an index folder: predicted stars for a user of the ratings, or for
someone new from a few ratings. numpy only (no TensorFlow at query time).

Files (copied from a rating run by `build --rating-run`, listed and hashed like every file):
    rating_users.npy, rating_items.npy   [n, dim + 1]: the vector, then the bias
    rating_mlp.npz                       the MLP branch's layers (empty without one)
    rating_items.arrow, rating_users.arrow, rating_rated_*.npy   as for the ranking model

prediction = mean + b_u + b_i + u . v (with the GMF branch) + MLP([u, v]), clipped to the
ratings' scale: the formula of trainer/recommend/rating_model.py, applied to its export.
Someone new is folded in by ridge regression of their stars on the rated items' vectors and
biases (closed form, no retraining); a model with an MLP branch cannot be folded in so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.folder import IndexFolderError, check_file, read_arrow
from index.ranking import RankingError, RatedItems, copy_model, scale_of

FILES = {"users": "rating_users.npy", "items": "rating_items.npy", "mlp": "rating_mlp.npz",
         "rated_indptr": "rating_rated_indptr.npy", "rated_items": "rating_rated_items.npy",
         "items_table": "rating_items.arrow", "users_table": "rating_users.arrow"}
RUN_FILES = {"users": "users", "items": "items", "mlp": "mlp", "rated_indptr": "rated_indptr",
             "rated_items": "rated_items"}


@dataclass
class Rating(RatedItems):
    users: np.ndarray = None  # [n_users, dim + 1]
    items: np.ndarray = None  # [n_items, dim + 1]
    layers: list[tuple[np.ndarray, np.ndarray]] = None  # hidden (w, b) ..., then the output
    mean: float = 0.0
    low: float = 1.0
    high: float = 5.0
    gmf: bool = True

    def predict(self, user_vector: np.ndarray, items: list[int]) -> np.ndarray:
        """Predicted stars of `items` for a user vector [dim + 1] (vector, bias)."""
        v = np.asarray(self.items[items], dtype=np.float64)
        u = np.asarray(user_vector, dtype=np.float64)
        dim = len(u) - 1
        stars = self.mean + u[dim] + v[:, dim]
        if self.gmf:
            stars += v[:, :dim] @ u[:dim]
        if self.layers:
            x = np.hstack([np.broadcast_to(u[:dim], (len(v), dim)), v[:, :dim]])
            for w, b in self.layers[:-1]:
                x = np.maximum(x @ w + b, 0.0)
            w, b = self.layers[-1]
            stars += (x @ w + b)[:, 0]
        return np.clip(stars, self.low, self.high)

    def fold_in(self, rated: dict[int, float], l2: float = 1.0) -> np.ndarray:
        """A user vector [dim + 1] for someone who gave `rated` (item -> stars): ridge
        regression of stars - mean - item bias on the items' vectors and a bias."""
        if self.layers:
            raise RankingError("this rating model has an MLP branch: predictions for someone "
                               "new need a model without one (rate.mlp_branch = false)")
        items = sorted(rated)
        v = np.asarray(self.items[items], dtype=np.float64)
        dim = v.shape[1] - 1
        x = np.hstack([v[:, :dim] if self.gmf else np.zeros((len(v), dim)),
                       np.ones((len(v), 1))])
        y = np.array([rated[i] for i in items]) - self.mean - v[:, dim]
        return np.linalg.solve(x.T @ x + l2 * np.eye(dim + 1), x.T @ y)


def open_rating(folder: Path, entry: dict) -> Rating:
    """The rating part of an index folder (every file checked against the manifest first)."""
    paths = {role: check_file(folder, e) for role, e in entry["files"].items()}
    users_table = read_arrow(paths["users_table"])
    with np.load(paths["mlp"]) as arrays:
        hidden = sum(1 for k in arrays.files if k.startswith("w") and k != "w_out")
        layers = [(arrays[f"w{k}"], arrays[f"b{k}"]) for k in range(hidden)]
        if "w_out" in arrays.files:
            layers.append((arrays["w_out"], arrays["b_out"]))
    return Rating(rated_indptr=np.load(paths["rated_indptr"]),
                  rated_items=np.load(paths["rated_items"], mmap_mode="r"),
                  items_table=read_arrow(paths["items_table"]),
                  user_ids={str(s): i for i, s in
                            enumerate(users_table.column("source_id").to_pylist())},
                  users=np.load(paths["users"], mmap_mode="r"),
                  items=np.load(paths["items"], mmap_mode="r"), layers=layers,
                  mean=float(entry["mean"]), low=float(entry["low"]),
                  high=float(entry["high"]), gmf=bool(entry["gmf"]),
                  scale=scale_of(entry) or (float(entry["low"]), float(entry["high"])))


def build_rating(run_dir: Path, staging: Path, index_id: str, tables_id: str,
                 states: dict[str, list[int]]) -> dict:
    """Copy a rating run's export into `staging`; the manifest entry."""
    from conf.manifest import RATING_KIND, RATING_SCHEMA_VERSION, read_manifest

    manifest = read_manifest(run_dir, RATING_KIND, RATING_SCHEMA_VERSION, "rating run",
                             "train one with `python -m trainer rate`", IndexFolderError)
    try:
        files, counts = copy_model(run_dir, manifest, staging, index_id, tables_id, FILES,
                                   RUN_FILES, states)
        predict = manifest["predict"]
        return {"files": files, "run": {"folder": str(run_dir.resolve()), "id": manifest["id"]},
                **counts, **{k: predict[k] for k in ("mean", "low", "high", "gmf")},
                "scale": manifest.get("scale"),
                "summary": manifest["summary"]}
    except (KeyError, TypeError) as e:
        raise IndexFolderError(f"{run_dir / 'manifest.json'}: missing or bad field {e} "
                               "(written by another version?); train it again with `python "
                               "-m trainer rate`") from e
