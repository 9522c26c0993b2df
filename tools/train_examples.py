"""Train the two example models deterministically and write what `modelreg register` takes.

    python tools/train_examples.py OUT_DIR

For each model, OUT_DIR/<model>/ receives the weights (safetensors: no code runs on load),
the training config, the metrics (overall and per slice) and the train/test data files whose
sha256 is the datasets' content hash. Same inputs, same bytes: the runs are reproducible.

* iris-classifier — logistic regression on the iris data that scikit-learn ships.
* credit-default — logistic regression on a synthetic retail-credit data set generated here
  (no personal data), evaluated per age band and sex as a high-risk credit model must be.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

DATA_REVISION = "2026.11"


def _write_csv(path: Path, header: list[str], rows: list[list]) -> str:
    lines = [",".join(header)]
    for row in rows:
        lines.append(",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _meta(info: dict) -> dict[str, str]:
    # one key: safetensors writes metadata keys in hash order, which changes between runs
    return {"modelreg": json.dumps(info, sort_keys=True)}


def _config(out: Path, config: dict) -> None:
    import yaml

    (out / "train-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _metric(name, value, dataset, n, slice_="overall") -> dict:
    return {"name": name, "value": round(float(value), 4), "dataset": dataset,
            "split": "test", "slice": slice_, "n": int(n)}


def train_iris(out: Path) -> dict:
    iris = load_iris()
    x, y = iris.data, iris.target
    order = np.random.default_rng(7).permutation(len(y))
    train, test = order[:120], order[120:]
    names = [n.replace(" (cm)", "").replace(" ", "_") for n in iris.feature_names]
    hashes = {
        "iris-train": _write_csv(out / "iris-train.csv", names + ["species"],
                                 [[*map(float, x[i]), int(y[i])] for i in train]),
        "iris-test": _write_csv(out / "iris-test.csv", names + ["species"],
                                [[*map(float, x[i]), int(y[i])] for i in test]),
    }
    params = {"C": 1.0, "max_iter": 500, "solver": "lbfgs"}
    clf = LogisticRegression(**params).fit(x[train], y[train])
    pred = clf.predict(x[test])
    save_file({"coef": clf.coef_.astype(np.float64), "intercept": clf.intercept_.astype(np.float64),
               "classes": clf.classes_.astype(np.int64)},
              str(out / "model.safetensors"),
              metadata=_meta({"model": "iris-classifier", "features": names,
                              "labels": list(iris.target_names)}))
    _config(out, {"model": "iris-classifier", "seed": 7, "features": names,
                  "hyperparameters": params})
    metrics = [_metric("accuracy", accuracy_score(y[test], pred), "iris-test", len(test)),
               _metric("f1_macro", f1_score(y[test], pred, average="macro"), "iris-test",
                       len(test))]
    (out / "metrics.json").write_text(json.dumps({"metrics": metrics}, indent=2) + "\n")
    return {"iris-train": (hashes["iris-train"], len(train)),
            "iris-test": (hashes["iris-test"], len(test))}


def _credit_data(rng: np.random.Generator, n: int):
    age = rng.integers(18, 80, n)
    sex = rng.choice(["F", "M"], n)
    income = np.round(rng.lognormal(10.4, 0.45, n), 0)
    debt_ratio = np.round(np.clip(rng.beta(2, 5, n), 0, 1), 4)
    history = np.clip(age - 18 - rng.integers(0, 10, n), 0, None)
    late = rng.poisson(0.6, n)
    amount = np.round(rng.lognormal(9.2, 0.6, n), 0)
    logit = (-1.2 + 3.1 * debt_ratio + 0.55 * late - 0.035 * history
             - 0.45 * (np.log(income) - 10.4) + 0.25 * (np.log(amount) - 9.2))
    default = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    features = np.column_stack([np.log(income), debt_ratio, history, late, np.log(amount)])
    return age, sex, income, debt_ratio, history, late, amount, features, default


def _age_band(age: int) -> str:
    return "18-30" if age <= 30 else "31-50" if age <= 50 else "51+"


def train_credit(out: Path) -> dict:
    rng = np.random.default_rng(2026)
    age, sex, income, debt, hist, late, amount, feats, y = _credit_data(rng, 4000)
    header = ["age", "sex", "income", "debt_ratio", "credit_history_years", "late_payments",
              "loan_amount", "default"]
    rows = [[int(age[i]), str(sex[i]), float(income[i]), float(debt[i]), int(hist[i]),
             int(late[i]), float(amount[i]), int(y[i])] for i in range(len(y))]
    train, test = slice(0, 3000), slice(3000, 4000)
    hashes = {"credit-applications-train": _write_csv(out / "credit-train.csv", header, rows[train]),
              "credit-applications-test": _write_csv(out / "credit-test.csv", header, rows[test])}
    mean, scale = feats[train].mean(axis=0), feats[train].std(axis=0)
    z = (feats - mean) / scale
    params = {"C": 0.5, "max_iter": 1000, "solver": "lbfgs", "class_weight": "balanced"}
    clf = LogisticRegression(**params).fit(z[train], y[train])
    score = clf.predict_proba(z[test])[:, 1]
    yt = y[test]
    save_file({"coef": clf.coef_.astype(np.float64), "intercept": clf.intercept_.astype(np.float64),
               "feature_mean": mean, "feature_scale": scale},
              str(out / "model.safetensors"),
              metadata=_meta({"model": "credit-default",
                              "features": ["log_income", "debt_ratio", "credit_history_years",
                                           "late_payments", "log_loan_amount"]}))
    _config(out, {"model": "credit-default", "seed": 2026,
                  "features": ["log_income", "debt_ratio", "credit_history_years",
                               "late_payments", "log_loan_amount"],
                  "excluded_features": ["age", "sex"], "hyperparameters": params})
    ds = "credit-applications-test"
    metrics = [_metric("auc", roc_auc_score(yt, score), ds, len(yt)),
               _metric("accuracy", accuracy_score(yt, score >= 0.5), ds, len(yt))]
    bands = np.array([_age_band(a) for a in age[test]])
    for attr, values in (("age_band", bands), ("sex", sex[test])):
        for value in sorted(set(values)):
            mask = values == value
            metrics.append(_metric("auc", roc_auc_score(yt[mask], score[mask]), ds,
                                   int(mask.sum()), f"{attr}={value}"))
    (out / "metrics.json").write_text(json.dumps({"metrics": metrics}, indent=2) + "\n")
    return {k: (h, 3000 if k.endswith("train") else 1000) for k, h in hashes.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder for the training outputs")
    args = parser.parse_args(argv)
    datasets = {}
    for name, train in (("iris-classifier", train_iris), ("credit-default", train_credit)):
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        datasets.update(train(folder))
    manifest = {k: {"revision": DATA_REVISION, "sha256": h, "rows": n}
                for k, (h, n) in sorted(datasets.items())}
    (args.out / "datasets.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
