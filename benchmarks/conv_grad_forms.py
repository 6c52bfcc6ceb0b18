"""conv2 of FashionNet on XLA's CPU backend: its forward, input and filter gradients as
XLA convolutions vs as shifted slices + one matmul (an im2col without the patches op).

    python benchmarks/conv_grad_forms.py

Checks that every form agrees with XLA's, then prints the median ms of each (5 rounds
of 20 calls). Recorded in NOTES.md §4: the slice + matmul forms were slower.
"""
import time, jax, jax.numpy as jnp, numpy as np
N,H,W,C,O,K = 100,14,14,16,32,5
x = jax.random.normal(jax.random.PRNGKey(0),(N,H,W,C)); w = jax.random.normal(jax.random.PRNGKey(1),(K,K,C,O))*0.1
dy = jax.random.normal(jax.random.PRNGKey(2),(N,H,W,O))
dn = ("NHWC","HWIO","NHWC")
conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1,1), "SAME", dimension_numbers=dn)
_, vjp = jax.vjp(conv, x, w)
xla_dw = jax.jit(lambda x,w,dy: jax.vjp(conv, x, w)[1](dy)[1])
xla_dx = jax.jit(lambda x,w,dy: jax.vjp(conv, x, w)[1](dy)[0])
def slice_dw(x, w, dy):
  p = K//2; xp = jnp.pad(x, ((0,0),(p,p),(p,p),(0,0)))
  pats = jnp.stack([xp[:, i:i+H, j:j+W, :] for i in range(K) for j in range(K)], axis=3)  # N,H,W,KK,C
  return jnp.einsum("nhwkc,nhwo->kco", pats, dy).reshape(K,K,C,O)
def slice_dw2(x, w, dy):
  p = K//2; xp = jnp.pad(x, ((0,0),(p,p),(p,p),(0,0)))
  pats = jnp.concatenate([xp[:, i:i+H, j:j+W, :] for i in range(K) for j in range(K)], axis=-1).reshape(-1, K*K*C)
  return (pats.T @ dy.reshape(-1, O)).reshape(K,K,C,O)
def slice_dx(x, w, dy):
  # dx = conv(dy, flipped w transposed) : full correlation
  wt = jnp.flip(w, (0,1)).transpose(0,1,3,2)
  return jax.lax.conv_general_dilated(dy, wt, (1,1), "SAME", dimension_numbers=dn)
def slice_dx2(x, w, dy):
  p = K//2; dyp = jnp.pad(dy, ((0,0),(p,p),(p,p),(0,0)))
  pats = jnp.concatenate([dyp[:, i:i+H, j:j+W, :] for i in range(K) for j in range(K)], axis=-1).reshape(-1, K*K*O)
  wt = jnp.flip(w, (0,1)).transpose(0,1,3,2).reshape(K*K*O, C)
  return (pats @ wt).reshape(N,H,W,C)
def fwd_mm(x, w, dy):
  p = K//2; xp = jnp.pad(x, ((0,0),(p,p),(p,p),(0,0)))
  pats = jnp.concatenate([xp[:, i:i+H, j:j+W, :] for i in range(K) for j in range(K)], axis=-1).reshape(-1, K*K*C)
  return (pats @ w.reshape(-1, O)).reshape(N,H,W,O)
fs = dict(xla_fwd=jax.jit(lambda x,w,dy: conv(x,w)), fwd_mm=jax.jit(fwd_mm), xla_dw=xla_dw, slice_dw=jax.jit(slice_dw), slice_dw2=jax.jit(slice_dw2), xla_dx=xla_dx, slice_dx=jax.jit(slice_dx), slice_dx2=jax.jit(slice_dx2))
ref = {k: np.asarray(f(x,w,dy)) for k,f in fs.items()}
np.testing.assert_allclose(ref["slice_dw"], ref["xla_dw"], rtol=1e-3, atol=1e-2)
np.testing.assert_allclose(ref["slice_dw2"], ref["xla_dw"], rtol=1e-3, atol=1e-2)
np.testing.assert_allclose(ref["slice_dx"], ref["xla_dx"], rtol=1e-3, atol=1e-3)
np.testing.assert_allclose(ref["slice_dx2"], ref["xla_dx"], rtol=1e-3, atol=1e-3)
np.testing.assert_allclose(ref["fwd_mm"], ref["xla_fwd"], rtol=1e-3, atol=1e-3)
res = {k: [] for k in fs}
for r in range(5):
  for k, f in fs.items():
    t = time.perf_counter()
    for _ in range(20): o = f(x,w,dy)
    o.block_until_ready(); res[k].append((time.perf_counter()-t)/20*1e3)
for k, v in res.items():
  print(k, "%.2f ms" % np.median(v))
