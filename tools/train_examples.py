"""Train the two example models and write what `modelreg register` takes.

    python tools/train_examples.py OUT_DIR

For each model, OUT_DIR/<model>/ receives the weights (safetensors: no code runs on load),
the training config, the metrics (overall and per slice) and the train/test data files whose
sha256 is the datasets' content hash. The models are fitted on those files as written.

* iris-classifier — multinomial logistic regression on the iris data that scikit-learn ships.
* credit-default — logistic regression on a synthetic retail-credit data set generated here
  (no personal data), evaluated per age band and sex as a high-risk credit model must be.

Same inputs, same bytes, on any x86-64 or ARM machine. Both models minimise scikit-learn's
L2-penalised logistic loss, but by Newton's method written here rather than scikit-learn's
lbfgs, which goes through BLAS: its kernels and thread splits differ between CPUs, and
retrained weights differed by 7e-4 between two x86-64 machines. Here every step is an
IEEE 754 +, -, *, / or sqrt (correctly rounded, so the same on every CPU) in a fixed order:
element-wise NumPy operations (never a matrix product), every sum by `math.fsum` (exactly
rounded, so the order of the rows does not matter either), exp and log as polynomials of
those operations (the C library's and NumPy's SIMD versions differ in the last bit between
CPUs), a fixed number of iterations; metrics are exact fractions. The data come from NumPy's
seeded generator, whose samplers use the C library's exp and log, but are written rounded
(incomes to whole units, ratios to 4 decimals): the tests check the files' hashes exactly.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from sklearn.datasets import load_iris

DATA_REVISION = "2026.11"
IRIS = {"C": 1.0, "solver": "newton", "iterations": 20}
# A challenger for the demo: ten times the regularisation, for smaller, smoother weights. It
# still meets the model's accuracy threshold, but recalls fewer versicolor flowers.
IRIS_CHALLENGER = {**IRIS, "C": 0.1}
CREDIT = {"C": 0.5, "solver": "newton", "iterations": 20, "class_weight": "balanced"}
CREDIT_FEATURES = ["log_income", "debt_ratio", "credit_history_years", "late_payments",
                   "log_loan_amount"]


# --- arithmetic that gives the same bits on every CPU -------------------------------------
LN2_HI = 6.93147180369123816490e-01   # ln 2 split so that k * LN2_HI is exact (fdlibm)
LN2_LO = 1.90821492927058770002e-10
EXP_TAYLOR = [1 / math.factorial(n) for n in range(15)]        # |r| <= ln2/2: error < 1e-17
ATANH_SERIES = [1 / (2 * n + 1) for n in range(13)]            # |s| <= 0.172: error < 1e-19


def _exp(x: np.ndarray) -> np.ndarray:
    """e**x: x = k ln2 + r, a Taylor polynomial in r, times 2**k (exact)."""
    x = np.clip(x, -700.0, 700.0)
    k = np.rint(x / LN2_HI)
    r = (x - k * LN2_HI) - k * LN2_LO
    poly = np.full_like(r, EXP_TAYLOR[-1])
    for c in reversed(EXP_TAYLOR[:-1]):
        poly = poly * r + c
    return np.ldexp(poly, k.astype(np.int32))


def _log(x: np.ndarray) -> np.ndarray:
    """ln x for x > 0: x = m 2**e (exact), ln m = 2 atanh((m - 1) / (m + 1)) as a series."""
    m, e = np.frexp(x)
    low = m < 0.7071067811865476
    m = np.where(low, m * 2.0, m)
    e = np.where(low, e - 1, e).astype(np.float64)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    poly = np.full_like(s, ATANH_SERIES[-1])
    for c in reversed(ATANH_SERIES[:-1]):
        poly = poly * s2 + c
    return e * LN2_HI + (e * LN2_LO + 2.0 * s * poly)


def _fsum(values: np.ndarray) -> float:
    return math.fsum(values.tolist())


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting, in a fixed order."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] = m[r][c] - f * m[col][c]
    x = [0.0] * n
    for r in reversed(range(n)):
        x[r] = (m[r][n] - math.fsum([m[r][c] * x[c] for c in range(r + 1, n)])) / m[r][r]
    return x


# --- logistic regression -------------------------------------------------------------------
def _margins(x: np.ndarray, coef: list[list[float]], intercept: list[float]) -> list[np.ndarray]:
    out = []
    for w, b in zip(coef, intercept):
        z = np.full(len(x), b)
        for j, wj in enumerate(w):
            z = z + wj * x[:, j]
        out.append(z)
    return out


def _probabilities(margins: list[np.ndarray]) -> list[np.ndarray]:
    """Sigmoid for one margin (two classes), softmax for more."""
    if len(margins) == 1:
        return [1.0 / (1.0 + _exp(-margins[0]))]
    top = margins[0]
    for z in margins[1:]:
        top = np.maximum(top, z)
    e = [_exp(z - top) for z in margins]
    total = e[0]
    for ek in e[1:]:
        total = total + ek
    return [ek / total for ek in e]


def fit_logistic(x: np.ndarray, y: np.ndarray, *, C: float, iterations: int,
                 class_weight: str | None = None) -> dict[str, np.ndarray]:
    """Minimise C * sum_i s_i * loss_i + ||W||^2 / 2 (intercepts not penalised), scikit-learn's
    LogisticRegression objective: one margin for two classes, one per class (multinomial)
    for more. Newton's method from zero with the exact Hessian, a fixed number of steps."""
    classes = sorted({int(v) for v in y.tolist()})
    n, d = x.shape
    weight = np.ones(n)
    if class_weight == "balanced":   # n / (classes * count), as scikit-learn's "balanced"
        counts = {c: int(np.count_nonzero(y == c)) for c in classes}
        weight = np.array([n / (len(classes) * counts[int(v)]) for v in y.tolist()])
    targets = [(y == c).astype(np.float64) for c in (classes[1:] if len(classes) == 2 else classes)]
    k = len(targets)
    coef, intercept = [[0.0] * d for _ in range(k)], [0.0] * k
    columns = [x[:, j] for j in range(d)] + [np.ones(n)]   # the last one is the intercept's
    for _ in range(iterations):
        prob = _probabilities(_margins(x, coef, intercept))
        grad, hess = [], [[0.0] * (k * (d + 1)) for _ in range(k * (d + 1))]
        for a in range(k):
            residual = weight * (prob[a] - targets[a])
            for j, cj in enumerate(columns):
                penalty = coef[a][j] if j < d else 0.0
                grad.append(C * _fsum(residual * cj) + penalty)
            for b in range(a, k):
                curv = weight * prob[a] * ((1.0 if a == b else 0.0) - prob[b])
                for j, cj in enumerate(columns):
                    scaled = curv * cj
                    for m, cm in enumerate(columns):
                        r, c = a * (d + 1) + j, b * (d + 1) + m
                        if r <= c:   # symmetric: computed once, mirrored
                            hess[r][c] = hess[c][r] = C * _fsum(scaled * cm)
        for a in range(k):
            for j in range(d):
                hess[a * (d + 1) + j][a * (d + 1) + j] += 1.0
        if k > 1:
            # shifting every intercept by the same amount changes no probability: the Hessian
            # is singular along that direction and the gradient is zero there, so adding
            # u u^T (u: 1/sqrt(k) on each intercept) makes it invertible without moving along u
            for a in range(k):
                for b in range(k):
                    hess[a * (d + 1) + d][b * (d + 1) + d] += 1.0 / k
        step = _solve(hess, grad)
        for a in range(k):
            coef[a] = [coef[a][j] - step[a * (d + 1) + j] for j in range(d)]
            intercept[a] = intercept[a] - step[a * (d + 1) + d]
    if k > 1:
        centre = math.fsum(intercept) / k
        intercept = [b - centre for b in intercept]
    return {"coef": np.array(coef, dtype=np.float64),
            "intercept": np.array(intercept, dtype=np.float64),
            "classes": np.array(classes, dtype=np.int64)}


# --- metrics, as exact fractions -----------------------------------------------------------
def _accuracy(truth: list[int], pred: list[int]) -> Fraction:
    return Fraction(len([1 for t, p in zip(truth, pred) if t == p]), len(truth))


def _f1_macro(truth: list[int], pred: list[int]) -> Fraction:
    labels = sorted(set(truth) | set(pred))
    scores = []
    for c in labels:
        tp = len([1 for t, p in zip(truth, pred) if t == p == c])
        fp = len([1 for t, p in zip(truth, pred) if p == c != t])
        fn = len([1 for t, p in zip(truth, pred) if t == c != p])
        scores.append(Fraction(2 * tp, 2 * tp + fp + fn) if tp + fp + fn else Fraction(0))
    total = Fraction(0)
    for f1 in scores:
        total += f1
    return total / len(labels)


def _auc(truth: list[int], score: list[float]) -> Fraction:
    """The probability that a positive outscores a negative, ties counting half (ROC AUC)."""
    ranked = sorted(zip(score, truth))
    rank_sum, i = Fraction(0), 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        positives = len([1 for _, t in ranked[i:j] if t == 1])
        rank_sum += Fraction(positives * (i + 1 + j), 2)   # average rank of the tie group
        i = j
    pos = len([1 for t in truth if t == 1])
    neg = len(truth) - pos
    return (rank_sum - Fraction(pos * (pos + 1), 2)) / (pos * neg)


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


def _metric(name, value: Fraction, dataset, n, slice_="overall") -> dict:
    return {"name": name, "value": float(round(value, 4)), "dataset": dataset,
            "split": "test", "slice": slice_, "n": int(n)}


def _read_csv(path: Path) -> dict[str, list[str]]:
    header, *rows = path.read_text(encoding="utf-8").splitlines()
    cells = [row.split(",") for row in rows]
    return {name: [row[i] for row in cells] for i, name in enumerate(header.split(","))}


def features(model: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A data file of `model` as the model's inputs and labels (float() parses exactly)."""
    table = _read_csv(path)
    if model == "iris-classifier":
        x = [[float(v) for v in table[c]] for c in table if c != "species"]
        return np.array(x).T.copy(), np.array([int(v) for v in table["species"]])
    col = {c: np.array([float(v) for v in table[c]]) for c in table if c != "sex"}
    x = [_log(col["income"]), col["debt_ratio"], col["credit_history_years"],
         col["late_payments"], _log(col["loan_amount"])]
    return np.column_stack(x), np.array([int(v) for v in table["default"]])


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and (population) standard deviations."""
    n = len(x)
    centre = np.array([_fsum(x[:, j]) / n for j in range(x.shape[1])])
    spread = np.array([math.sqrt(_fsum((x[:, j] - centre[j]) * (x[:, j] - centre[j])) / n)
                       for j in range(x.shape[1])])
    return centre, spread


def fit_example(model: str, train_csv: Path, iris: dict | None = None
                ) -> dict[str, np.ndarray]:
    """The tensors of `model` fitted on its training file, as stored in model.safetensors
    (``iris``: other hyperparameters for the iris model)."""
    x, y = features(model, train_csv)
    if model == "iris-classifier":
        hyper = iris or IRIS
        return fit_logistic(x, y, C=hyper["C"], iterations=hyper["iterations"])
    centre, spread = _standardise(x)
    fitted = fit_logistic((x - centre) / spread, y, C=CREDIT["C"],
                          iterations=CREDIT["iterations"], class_weight=CREDIT["class_weight"])
    return {"coef": fitted["coef"], "intercept": fitted["intercept"],
            "feature_mean": centre, "feature_scale": spread}


def train_iris(out: Path, hyper: dict | None = None) -> dict:
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
    hyper = hyper or IRIS
    tensors = fit_example("iris-classifier", out / "iris-train.csv", hyper)
    save_file(tensors, str(out / "model.safetensors"),
              metadata=_meta({"model": "iris-classifier", "features": names,
                              "labels": list(iris.target_names)}))
    _config(out, {"model": "iris-classifier", "seed": 7, "features": names,
                  "hyperparameters": hyper})
    test_x, test_y = features("iris-classifier", out / "iris-test.csv")
    margins = _margins(test_x, tensors["coef"].tolist(), tensors["intercept"].tolist())
    best = np.argmax(np.column_stack(margins), axis=1)
    pred = [int(tensors["classes"][i]) for i in best.tolist()]
    truth = test_y.tolist()
    metrics = [_metric("accuracy", _accuracy(truth, pred), "iris-test", len(truth)),
               _metric("f1_macro", _f1_macro(truth, pred), "iris-test", len(truth))]
    for c, species in enumerate(iris.target_names):     # recall per species: one slice each
        rows = [i for i, t in enumerate(truth) if t == c]
        metrics.append(_metric("recall", _accuracy([truth[i] for i in rows],
                                                   [pred[i] for i in rows]),
                               "iris-test", len(rows), f"species={species}"))
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
             - 0.45 * (_log(income) - 10.4) + 0.25 * (_log(amount) - 9.2))
    default = (rng.random(n) < 1 / (1 + _exp(-logit))).astype(int)
    return age, sex, income, debt_ratio, history, late, amount, default


def _age_band(age: int) -> str:
    return "18-30" if age <= 30 else "31-50" if age <= 50 else "51+"


def train_credit(out: Path) -> dict:
    rng = np.random.default_rng(2026)
    age, sex, income, debt, hist, late, amount, y = _credit_data(rng, 4000)
    header = ["age", "sex", "income", "debt_ratio", "credit_history_years", "late_payments",
              "loan_amount", "default"]
    rows = [[int(age[i]), str(sex[i]), float(income[i]), float(debt[i]), int(hist[i]),
             int(late[i]), float(amount[i]), int(y[i])] for i in range(len(y))]
    train, test = slice(0, 3000), slice(3000, 4000)
    hashes = {"credit-applications-train": _write_csv(out / "credit-train.csv", header, rows[train]),
              "credit-applications-test": _write_csv(out / "credit-test.csv", header, rows[test])}
    tensors = fit_example("credit-default", out / "credit-train.csv")
    save_file(tensors, str(out / "model.safetensors"),
              metadata=_meta({"model": "credit-default", "features": CREDIT_FEATURES}))
    _config(out, {"model": "credit-default", "seed": 2026, "features": CREDIT_FEATURES,
                  "excluded_features": ["age", "sex"], "hyperparameters": CREDIT})
    test_x, test_y = features("credit-default", out / "credit-test.csv")
    z = (test_x - tensors["feature_mean"]) / tensors["feature_scale"]
    (margin,) = _margins(z, tensors["coef"].tolist(), tensors["intercept"].tolist())
    score = _probabilities([margin])[0].tolist()
    truth = test_y.tolist()
    ds = "credit-applications-test"
    metrics = [_metric("auc", _auc(truth, score), ds, len(truth)),
               _metric("accuracy", _accuracy(truth, [int(p >= 0.5) for p in score]), ds,
                       len(truth))]
    table = _read_csv(out / "credit-test.csv")
    groups = {"age_band": [_age_band(int(a)) for a in table["age"]], "sex": table["sex"]}
    for attr, values in groups.items():
        for value in sorted(set(values)):
            rows_in = [i for i, v in enumerate(values) if v == value]
            metrics.append(_metric("auc", _auc([truth[i] for i in rows_in],
                                               [score[i] for i in rows_in]),
                                   ds, len(rows_in), f"{attr}={value}"))
    (out / "metrics.json").write_text(json.dumps({"metrics": metrics}, indent=2) + "\n")
    return {k: (h, 3000 if k.endswith("train") else 1000) for k, h in hashes.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder for the training outputs")
    parser.add_argument("--challenger", action="store_true",
                        help="also train iris-classifier's challenger (IRIS_CHALLENGER) into "
                             "OUT/iris-classifier-challenger")
    args = parser.parse_args(argv)
    if args.challenger:
        (args.out / "iris-classifier-challenger").mkdir(parents=True, exist_ok=True)
        train_iris(args.out / "iris-classifier-challenger", IRIS_CHALLENGER)
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
