"""The inspect page of one trained run: an HTML page with PNG figures and the arrays
behind them (``inspect.npz``), written by ``python -m cnnlab.inspect``.

Sections: receptive fields (computed and measured on the trained weights), filters of
every conv layer, feature maps of every layer for the chosen examples, per-feature top-k
examples with their deconvnet / guided-backprop projections (cropped to the receptive
field of the strongest position, Zeiler & Fergus 2014 Fig. 2), saliency, SmoothGrad,
integrated gradients and occlusion for the chosen examples, and layer similarity (linear
CKA) within the net and against other runs (other seeds, other poolings).
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
from typing import Dict, List, Optional, Sequence

import jax
import numpy as np

from cnnlab.inspect import attribution, figures, receptive, similarity
from cnnlab.inspect.load import LoadedRun, example_arrays
from cnnlab.ops import shapes

STYLE = """body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em}
figure{margin:1em 0}img{max-width:100%}figcaption{font-size:0.9em;color:#444}
table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #ccc;padding:2px 6px}
td.bad{color:#b00;font-weight:bold}code{background:#f4f4f4}"""


@dataclasses.dataclass
class Options:
  examples: int = 4
  split: str = "test"
  top_k: int = 9
  features: int = 6          # features shown per projected layer
  project: Sequence[str] = ()  # layers whose features are projected (default: the first 2)
  rule: str = "deconvnet"
  pool_size: int = 0         # examples searched for the top-k (first N of the split; 0: all)
  cka_examples: int = 512
  occlusion_patch: int = 0   # 0: a quarter of the input's side
  ig_steps: int = 64
  seed: int = 0

  # the least each count can be (CKA's unbiased estimator needs 4 examples a batch)
  LEAST = {"examples": 1, "top_k": 1, "features": 1, "pool_size": 0, "cka_examples": 4,
           "occlusion_patch": 0, "ig_steps": 1}

  def __post_init__(self):
    for name, least in self.LEAST.items():
      if getattr(self, name) < least:
        raise ValueError(f"{name} must be >= {least}, got {getattr(self, name)}")
    if self.rule not in attribution.RULES:
      raise ValueError(f"rule {self.rule!r} unknown; valid: {', '.join(attribution.RULES)}")


def _layers(run: LoadedRun) -> List[str]:
  """The geometry's layers that are modules with a feature map, in order."""
  names = [getattr(g, "name", g[0] if isinstance(g, tuple) else None)
           for g in (run.model.geometry() or [])]
  return list(receptive.spatial_layers(run.model, run.variables, run.input_shape, names))


def _kernels(params, prefix: str = "") -> Dict[str, np.ndarray]:
  """Every conv kernel (3+ dims) by module path, in creation order."""
  out: Dict[str, np.ndarray] = {}
  for k, v in params.items():
    path = f"{prefix}/{k}" if prefix else k
    if isinstance(v, dict):
      out.update(_kernels(v, path))
    elif k == "kernel" and getattr(v, "ndim", 0) >= 3:
      out[prefix] = np.asarray(v, np.float32)
  return out


def _crop(x: np.ndarray, geoms: Sequence[shapes.Geometry], where: Sequence[int]) -> np.ndarray:
  """The part of one example ``x`` inside the receptive field of position ``where``,
  zero-padded to the full field where it reaches past the input."""
  out = np.zeros(tuple(g.receptive_field for g in geoms) + x.shape[-1:], x.dtype)
  src, dst = [], []
  for g, p, n in zip(geoms, where, x.shape[:-1]):
    lo, hi = g.interval(int(p))
    a, b = max(lo, 0), min(hi, n - 1)
    src.append(slice(a, b + 1))
    dst.append(slice(a - lo, a - lo + b - a + 1))
  out[tuple(dst)] = x[tuple(src)]
  return out


class Page:
  """Collects sections (HTML) and arrays while the figures are written."""

  def __init__(self, out_dir: str, run: LoadedRun):
    self.out_dir, self.run = out_dir, run
    self.sections: List[str] = []
    self.arrays: Dict[str, np.ndarray] = {}
    self.stats: Dict[str, object] = {}  # numbers for summary.json
    os.makedirs(out_dir, exist_ok=True)

  def title(self, what: str, layer: str = "") -> str:
    return f"{self.run.name} · {layer + ' · ' if layer else ''}{what}"

  def path(self, name: str) -> str:
    return os.path.join(self.out_dir, name.replace("/", "_") + ".png")

  def figure(self, heading: str, image: str, caption: str) -> None:
    self.sections.append(
        f"<h3>{html.escape(heading)}</h3><figure><img src=\"{html.escape(os.path.basename(image))}"
        f"\" alt=\"{html.escape(caption)}\"><figcaption>{html.escape(caption)}</figcaption>"
        f"</figure>")

  def write(self, command: str) -> str:
    c = self.run.config
    head = (f"<h1>{html.escape(self.run.name)}</h1><p>model <code>{html.escape(c.model.name)}"
            f"</code>, pool <code>{html.escape(str(c.model.get('pool', '')))}</code>, act "
            f"<code>{html.escape(str(c.model.get('act', '')))}</code>, data <code>"
            f"{html.escape(c.data.name)}</code>, step {self.run.step}; "
            f"<code>{html.escape(command)}</code></p>")
    doc = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
           f"{html.escape(self.run.name)} — inspect</title><style>{STYLE}</style></head><body>"
           f"{head}\n" + "\n".join(self.sections) + "\n</body></html>\n")
    path = os.path.join(self.out_dir, "index.html")
    with open(path, "w") as f:
      f.write(doc)
    np.savez_compressed(os.path.join(self.out_dir, "inspect.npz"), **self.arrays)
    return path


def receptive_section(page: Page, layers: List[str]) -> None:
  run = page.run
  rows = receptive.receptive_field_rows(run.model, run.variables, run.input_shape)
  cells = []
  for r in rows:
    g = r.geometry
    m = "—" if r.measured is None else ("equal" if r.agrees else "differs: " + str(r.measured))
    bad = " class=bad" if r.agrees is False else ""
    cells.append(f"<tr><td>{html.escape(g.name)}</td><td>{g.size}</td><td>{g.jump}</td>"
                 f"<td>{g.receptive_field}</td><td>{g.start:.1f}</td><td>"
                 f"{html.escape(str(r.computed))}</td><td{bad}>{html.escape(m)}</td></tr>")
  page.arrays["receptive_fields"] = np.array(
      [(r.geometry.size, r.geometry.jump, r.geometry.receptive_field, r.geometry.start)
       for r in rows], np.float64).reshape(-1, 4)
  page.sections.append(
      "<h2>Receptive fields</h2><p>Per spatial axis: output size, jump (input pixels between "
      "outputs), field and centre of the first output, from the model's geometry; the "
      "input intervals of the first, middle and last positions; measured: the extent of "
      "the input gradient of those positions on the trained weights.</p><table><tr><th>layer"
      "</th><th>size</th><th>jump</th><th>field</th><th>start</th><th>computed intervals"
      "</th><th>measured</th></tr>" + "".join(cells) + "</table>")


def filters_section(page: Page) -> None:
  page.sections.append("<h2>Filters</h2>")
  for name, kernel in _kernels(page.run.variables["params"]).items():
    if kernel.ndim < 3:
      continue
    img = figures.filters(kernel, page.path(f"filters_{name}"), page.title("filters", name))
    page.figure(name, img, page.title("filters", name))


def feature_section(page: Page, x: np.ndarray, xn: np.ndarray, layers: List[str]) -> None:
  run = page.run
  got = receptive.outputs_fn(run.model, tuple(layers))(run.variables, xn)
  page.sections.append("<h2>Feature maps</h2>")
  for name in layers:
    maps = np.asarray(got[name])
    page.arrays[f"features/{name}"] = maps
    img = figures.feature_maps(xn, maps, page.path(f"features_{name}"),
                               page.title("feature maps", name))
    page.figure(name, img, page.title("feature maps", name))


def attribution_section(page: Page, x: np.ndarray, xn: np.ndarray, labels, o: Options) -> None:
  run = page.run
  model, v = run.model, run.variables
  pred = np.asarray(run.apply(xn, preprocess=False)).argmax(-1)
  sal = attribution.saliency(model, v, xn, pred)
  smooth = attribution.smoothgrad(model, v, xn, pred, seed=o.seed)
  ig, err = attribution.integrated_gradients(model, v, xn, pred, steps=o.ig_steps)
  delta = ig.reshape(len(ig), -1).sum(1) - err  # f(x) − f(baseline)
  page.stats["ig_completeness_relative_error_max"] = float(
      np.max(np.abs(err) / np.maximum(np.abs(delta), 1e-12)))
  patch = o.occlusion_patch or max(1, min(xn.shape[1:-1]) // 4)
  occ = attribution.occlusion(model, v, xn, pred, patch=patch, stride=max(1, patch // 2))
  page.arrays.update({"saliency": sal, "smoothgrad": smooth, "integrated_gradients": ig,
                      "ig_completeness_error": err, "occlusion": occ, "predicted": pred})
  # how much the most important patch matters: the probability's largest drop
  full = np.asarray(jax.nn.softmax(run.apply(xn, preprocess=False)))[np.arange(len(xn)), pred]
  page.stats["occlusion_largest_drop"] = [
      float(f - o.min()) for f, o in zip(full, occ.reshape(len(occ), -1))]
  names = ["saliency", "smoothgrad", "integrated gradients", "occlusion"]
  caps = [f"label {int(y)} · predicted {int(p)}" for y, p in zip(labels, pred)]
  img = figures.attributions(xn, [sal, smooth, ig, occ], names, page.path("attributions"),
                             page.title("saliency · SmoothGrad · IG · occlusion"), caps)
  page.sections.append(
      f"<h2>Attributions</h2><p>For the predicted class. Integrated gradients: {o.ig_steps} "
      f"Gauss–Legendre steps from a zero (mean) baseline; completeness error (Σ attributions "
      f"− (f(x) − f(0))): max {np.abs(err).max():.2e}, relative "
      f"{page.stats['ig_completeness_relative_error_max']:.2%}. Occlusion: the class "
      f"probability with a {patch}-wide patch set to the mean, per patch position.</p>")
  page.figure("attributions", img, page.title("saliency · SmoothGrad · IG · occlusion"))


def projection_section(page: Page, pool_x: np.ndarray, layers: List[str], o: Options) -> None:
  run = page.run
  geoms = [{g.name: g for g in shapes.receptive_fields(run.model.geometry(), n)}
           for n in run.input_shape[:-1]]
  page.sections.append(
      f"<h2>Top-{o.top_k} projections ({o.rule})</h2><p>For each feature, the {o.top_k} "
      f"examples (of the first {len(pool_x)} of the {o.split} split) with its strongest "
      f"activation; that activation alone projected back to the input, cropped to its "
      f"receptive field, beside the input patch.</p>")
  for name in list(o.project) or layers[:2]:
    idx, _ = attribution.top_activations(run.model, run.variables, pool_x, name, o.top_k)
    feats = list(range(min(o.features, idx.shape[0])))
    projs, patches = [], []
    for c in feats:
      xs = pool_x[idx[c]]
      p, _, where = attribution.projection(run.model, run.variables, xs, name, c, o.rule)
      g = [axis[name] for axis in geoms]
      projs.append([_crop(p[j], g, where[j]) for j in range(len(xs))])
      patches.append([_crop(xs[j], g, where[j]) for j in range(len(xs))])
    projs, patches = np.asarray(projs), np.asarray(patches)
    page.arrays[f"projections/{name}"] = projs
    page.arrays[f"top_examples/{name}"] = idx[feats]
    img = figures.projections(patches, projs, page.path(f"projections_{name}"),
                              page.title(f"top-{o.top_k} {o.rule} projections", name))
    page.figure(name, img, page.title(f"top-{o.top_k} {o.rule} projections", name))


def similarity_section(page: Page, xn: np.ndarray, layers: List[str],
                       others: Sequence[LoadedRun]) -> None:
  run = page.run
  names = layers + ["head"]
  feats = similarity.layer_features(run.model, run.variables, xn, names)
  names = [n for n in names if feats.get(n)]
  feats = {n: feats[n] for n in names}
  page.stats["fraction_of_zero_activations"] = {
      n: float(np.mean([np.mean(b == 0) for b in feats[n]])) for n in names}
  within = similarity.cka_matrix(feats, feats)
  page.arrays["cka/within"] = within
  page.sections.append(f"<h2>Layer similarity</h2><p>Linear CKA, unbiased minibatch "
                       f"estimator (Nguyen et al. 2021), over {len(xn)} examples.</p>")
  img = figures.similarity(within, names, names, page.path("cka_within"),
                           page.title("linear CKA between layers"))
  page.figure("within the net", img, page.title("linear CKA between layers"))
  for other in others:
    other_names = [n for n in _layers(other) + ["head"]]
    of = similarity.layer_features(other.model, other.variables, xn, other_names)
    of = {n: of[n] for n in other_names if of.get(n)}
    m = similarity.cka_matrix(feats, of)
    page.arrays[f"cka/{other.name}"] = m
    page.stats[f"cka_same_layer/{other.name}"] = {
        n: float(m[i, list(of).index(n)]) for i, n in enumerate(names) if n in of}
    title = page.title(f"linear CKA against {other.name}")
    img = figures.similarity(m, names, list(of), page.path(f"cka_{other.name}"), title)
    page.figure(f"against {other.name}", img, title)


def inspect_run(run: LoadedRun, out_dir: str, options: Optional[Options] = None,
                others: Sequence[LoadedRun] = (), command: str = "") -> str:
  """Writes the page of ``run`` into ``out_dir``; returns the path of its ``index.html``.
  ``others``: runs to compare layer by layer (CKA) on the same examples."""
  o = options or Options()
  images, labels = example_arrays(run, o.split)
  x, y = images[:o.examples], labels[:o.examples]
  xn = np.asarray(run.preprocess(x))
  layers = _layers(run)
  unknown = [n for n in o.project if n not in layers]
  if unknown:  # before anything is computed or written
    raise ValueError(f"--project: no layer {unknown[0]!r}; the layers: {', '.join(layers)}")
  page = Page(out_dir, run)
  receptive_section(page, layers)
  filters_section(page)
  if layers:
    feature_section(page, x, xn, layers)
  attribution_section(page, x, xn, y, o)
  if layers:
    pool_x = np.asarray(run.preprocess(images[:o.pool_size or len(images)]))
    projection_section(page, pool_x, layers, o)
  cka_x = np.asarray(run.preprocess(images[:o.cka_examples]))
  similarity_section(page, cka_x, layers, others)
  page.arrays["examples"] = xn
  page.arrays["labels"] = np.asarray(y)
  with open(os.path.join(out_dir, "summary.json"), "w") as f:
    json.dump({"run": run.name, "workdir": run.workdir, "step": run.step, "layers": layers,
               "ig_completeness_error_max": float(np.abs(page.arrays["ig_completeness_error"]
                                                         ).max()),
               "compared_with": [r.name for r in others], **page.stats}, f, indent=1)
  return page.write(command)
