"""Loss layers by name, each with the metrics that match it.

    name                    targets                          metrics
    softmax_cross_entropy   class: int labels (N,)           accuracy
    sigmoid_cross_entropy   multilabel: {0,1} (N, K)         mAP, per-label accuracy,
                                                             exact match
    euclidean               regression: real (N, D)          RMSE, R²
    mse                     regression: real (N, D)          RMSE, R²
    perceptron              class, two classes: {0, 1}       accuracy (one output unit)

``euclidean`` is Caffe's EuclideanLoss, ``½·Σ_d (y − t)²`` per example; ``mse`` is
``mean_d (y − t)²``. ``perceptron`` is ``max(0, −s·f(x))`` with ``s = ±1``: with plain
SGD, batch 1 and learning rate η its gradient step is Rosenblatt's rule, ``w ← w + η·s·x``
on a mistake (``s·f(x) ≤ 0``) and nothing otherwise.

A loss declares the targets it fits (a data set's ``info.target``); the trainer picks
``train.loss="auto"`` from them and rejects a loss that does not fit before compiling.
Every loss is computed from float32 outputs with log-sigmoid / log-softmax forms,
so extreme logits give finite values.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnlab.registry import Registry

TARGETS = ("class", "multilabel", "regression")


@dataclasses.dataclass(frozen=True)
class LossSpec:
  """A loss: per-example values, the targets it fits, and its metrics.

  ``fn(outputs, targets, **options) -> (N,)``; ``train_metrics(outputs, targets)`` →
  batch means; ``eval_sums(outputs, targets, mask)`` → sums over valid examples;
  ``finalize(sums, outputs, targets)`` → the split's metrics (``outputs``/``targets``
  only when ``needs_outputs``: for ranking metrics such as mAP). ``primary`` names
  the metric "best" tracks. ``num_outputs(num_classes)`` is the model's output width
  and ``num_classes_ok`` the class counts the loss accepts (None: any).
  ``ensemble_sums(outputs (R, N, K), targets, mask)`` (optional) scores R nets (runs)
  as one ensemble (``cnnlab.evaluate --ensemble``): sums over valid examples, each
  reported divided by the example count as the metric ``ensemble_<key>``.
  """
  fn: Callable[..., jax.Array]
  target: str
  summary: str
  train_metrics: Callable[[jax.Array, jax.Array], Dict[str, jax.Array]]
  eval_sums: Callable[[jax.Array, jax.Array, jax.Array], Dict[str, jax.Array]]
  finalize: Callable[..., Dict[str, float]]
  primary: str
  # The metrics (of the loss's own, train and eval) better low: declared here, once, and
  # written into each run's result.json, where reports read them (every other: higher).
  lower_is_better: Tuple[str, ...] = ("loss",)
  needs_outputs: bool = False
  num_outputs: Callable[[int], int] = lambda k: k
  num_classes_ok: Optional[Tuple[int, ...]] = None
  ensemble_sums: Optional[Callable[[jax.Array, jax.Array, jax.Array],
                                   Dict[str, jax.Array]]] = None

  def describe(self) -> str:
    return f"{self.target:<10} {self.summary}"

  def direction(self, metric: str) -> str:
    """``"lower"`` or ``"higher"``: which way ``metric`` (an ``ensemble_`` one as its
    members') is better."""
    name = metric[len(ENSEMBLE) + 1:] if metric.startswith(ENSEMBLE + "_") else metric
    return "lower" if name in self.lower_is_better else "higher"

  @property
  def higher_is_better(self) -> bool:
    """Whether the primary metric, which "best" tracks, is better high."""
    return self.direction(self.primary) == "higher"


ENSEMBLE = "ensemble"  # the metrics' prefix of ensembles of runs

LOSSES: Registry[LossSpec] = Registry("loss")


def register_loss(name: str, spec: LossSpec, overwrite: bool = False) -> LossSpec:
  if spec.target not in TARGETS:
    raise ValueError(f"loss {name!r}: target must be one of {TARGETS}, got {spec.target!r}")
  return LOSSES.add(name, spec, overwrite=overwrite)


def default_loss(target: str) -> str:
  """The loss ``train.loss="auto"`` picks for a data set's targets."""
  return {"class": "softmax_cross_entropy", "multilabel": "sigmoid_cross_entropy",
          "regression": "euclidean"}[target]


def check_fit(loss: str, data_name: str, target: str, num_classes: int) -> Optional[str]:
  """Why ``loss`` cannot train on a data set with these targets (None when it can)."""
  spec = LOSSES.get(loss)
  if spec.target != target:
    valid = [n for n in LOSSES.names() if LOSSES.get(n).target == target]
    return (f"loss {loss!r} needs {spec.target} targets, but data set {data_name!r} has "
            f"{target} targets; losses for it: {', '.join(valid)}")
  if spec.num_classes_ok is not None and num_classes not in spec.num_classes_ok:
    return (f"loss {loss!r} needs {' or '.join(map(str, spec.num_classes_ok))} classes, but "
            f"data set {data_name!r} has {num_classes}; pick two with data.classes=(a, b)")
  return None


# -- softmax cross-entropy ----------------------------------------------------


def softmax_cross_entropy(outputs, labels, num_classes: Optional[int] = None,
                          label_smoothing: float = 0.0):
  k = num_classes or outputs.shape[-1]
  targets = jax.nn.one_hot(labels, k)
  if not isinstance(label_smoothing, (int, float)) or label_smoothing:  # traced, or > 0
    targets = optax.smooth_labels(targets, label_smoothing)
  return optax.softmax_cross_entropy(outputs, targets)


def _class_sums(outputs, labels, mask, loss):
  m = mask.astype(jnp.float32)
  return {"loss_sum": (loss * m).sum(), "correct": ((outputs.argmax(-1) == labels) * m).sum(),
          "count": m.sum()}


def _class_ensemble(outputs, labels, mask):
  """Correct counts of R nets as one classifier, from their outputs ``(R, N, K)``.

  ``vote_accuracy``: each net votes for its top class and the plurality wins (Nielsen's
  "vote of five nets"); a tie goes to the tied class with the highest mean probability.
  ``softmax_accuracy``: the top class of the mean softmax.
  """
  m = mask.astype(jnp.float32)
  probs = jax.nn.softmax(outputs, axis=-1).mean(0)
  votes = jax.nn.one_hot(outputs.argmax(-1), outputs.shape[-1]).sum(0)
  tied_top = votes == votes.max(-1, keepdims=True)
  vote = jnp.where(tied_top, probs, -1.0).argmax(-1)
  return {"vote_accuracy": ((vote == labels) * m).sum(),
          "softmax_accuracy": ((probs.argmax(-1) == labels) * m).sum()}


def _class_finalize(sums, outputs=None, targets=None):
  n = np.asarray(sums["count"], np.float64)
  return {"accuracy": np.asarray(sums["correct"], np.float64) / n,
          "loss": np.asarray(sums["loss_sum"], np.float64) / n}


register_loss("softmax_cross_entropy", LossSpec(
    softmax_cross_entropy, "class",
    "−Σ t·log softmax(y), one of K classes; option label_smoothing",
    lambda y, t: {"accuracy": (y.argmax(-1) == t).mean()},
    lambda y, t, m: _class_sums(y, t, m, optax.softmax_cross_entropy_with_integer_labels(y, t)),
    _class_finalize, "accuracy", ensemble_sums=_class_ensemble))


# -- sigmoid cross-entropy (multi-label) ---------------------------------------


def sigmoid_cross_entropy(outputs, targets):
  return optax.sigmoid_binary_cross_entropy(outputs, targets.astype(outputs.dtype)).mean(-1)


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
  """Non-interpolated AP of one label: the mean precision at each positive's rank.

  Ties are broken by sorting stably on descending score; a label with no positive
  has AP nan (left out of the mean).
  """
  positives = np.asarray(positives, bool)
  if not positives.any():
    return float("nan")
  order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
  hits = positives[order]
  precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
  return float(precision_at[hits].mean())


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
  aps = [average_precision(scores[:, k], targets[:, k]) for k in range(targets.shape[1])]
  return float(np.nanmean(aps)) if not np.all(np.isnan(aps)) else float("nan")


def _multilabel_sums(outputs, targets, mask):
  m = mask.astype(jnp.float32)
  right = (outputs > 0) == (targets > 0)
  return {"loss_sum": (sigmoid_cross_entropy(outputs, targets) * m).sum(),
          "label_correct": (right.mean(-1) * m).sum(), "exact": (right.all(-1) * m).sum(),
          "count": m.sum()}


def _multilabel_finalize(sums, outputs=None, targets=None):
  n = np.asarray(sums["count"], np.float64)
  out = {"label_accuracy": np.asarray(sums["label_correct"], np.float64) / n,
         "exact_match": np.asarray(sums["exact"], np.float64) / n,
         "loss": np.asarray(sums["loss_sum"], np.float64) / n}
  if outputs is not None:
    out["map"] = np.float64(mean_average_precision(outputs, targets))
  return out


register_loss("sigmoid_cross_entropy", LossSpec(
    sigmoid_cross_entropy, "multilabel",
    "mean over labels of −t·log σ(y) − (1−t)·log σ(−y): several independent binary labels",
    lambda y, t: {"label_accuracy": ((y > 0) == (t > 0)).mean()},
    _multilabel_sums, _multilabel_finalize, "map", needs_outputs=True))


# -- Euclidean / MSE (regression) ----------------------------------------------


def euclidean(outputs, targets):
  return 0.5 * jnp.sum(jnp.square(outputs - targets), axis=-1)


def mse(outputs, targets):
  return jnp.mean(jnp.square(outputs - targets), axis=-1)


def _regression_sums(loss_fn):
  def sums(outputs, targets, mask):
    m = mask.astype(jnp.float32)
    err = jnp.square(outputs - targets) * m[:, None]
    t = targets * m[:, None]
    return {"loss_sum": (loss_fn(outputs, targets) * m).sum(), "sq_err": err.sum(0),
            "t_sum": t.sum(0), "t_sq_sum": (t * targets).sum(0), "count": m.sum()}
  return sums


def _regression_finalize(sums, outputs=None, targets=None):
  n = np.asarray(sums["count"], np.float64)
  sq = np.asarray(sums["sq_err"], np.float64)            # (..., D)
  t_sum = np.asarray(sums["t_sum"], np.float64)
  ss_tot = np.asarray(sums["t_sq_sum"], np.float64) - t_sum**2 / n[..., None]
  r2 = 1.0 - sq / np.where(ss_tot > 0, ss_tot, np.nan)  # per output dimension
  return {"rmse": np.sqrt(sq.sum(-1) / (n * sq.shape[-1])), "r2": np.nanmean(r2, axis=-1),
          "loss": np.asarray(sums["loss_sum"], np.float64) / n}


def _rmse(y, t):
  return {"rmse": jnp.sqrt(jnp.mean(jnp.square(y - t)))}


for _name, _fn, _summary in (
    ("euclidean", euclidean, "½·Σ_d (y − t)² per example (Caffe's EuclideanLoss)"),
    ("mse", mse, "mean_d (y − t)² per example")):
  register_loss(_name, LossSpec(_fn, "regression", _summary, _rmse, _regression_sums(_fn),
                                _regression_finalize, "rmse",
                                lower_is_better=("loss", "rmse")))


# -- the perceptron criterion ----------------------------------------------------


def perceptron(outputs, labels):
  """``max(0, −s·f)`` with ``s = 2·label − 1`` and ``f`` the single output; a tie is a mistake."""
  s = 2.0 * labels.astype(outputs.dtype) - 1.0
  margin = s * outputs[..., 0]
  return jnp.where(margin <= 0, -margin, 0.0)


def _perceptron_sums(outputs, labels, mask):
  m = mask.astype(jnp.float32)
  right = (outputs[..., 0] > 0) == (labels > 0)
  return {"loss_sum": (perceptron(outputs, labels) * m).sum(), "correct": (right * m).sum(),
          "count": m.sum()}


register_loss("perceptron", LossSpec(
    perceptron, "class",
    "max(0, −s·f(x)), s = ±1: with SGD at batch 1, Rosenblatt's rule w ← w + η·s·x on mistakes",
    lambda y, t: {"accuracy": ((y[..., 0] > 0) == (t > 0)).mean()},
    _perceptron_sums, _class_finalize, "accuracy", num_outputs=lambda k: 1,
    num_classes_ok=(2,)))


def make_loss(name: str, num_classes: int, label_smoothing: float = 0.0
              ) -> Callable[[Any, Any], jax.Array]:
  """The per-example loss ``(outputs, targets) -> (N,)`` with its options bound."""
  spec = LOSSES.get(name)
  if name == "softmax_cross_entropy":
    return lambda y, t: spec.fn(y, t, num_classes=num_classes, label_smoothing=label_smoothing)
  return spec.fn
