#!/usr/bin/python3
"""Golden files for VkDiffusion: the paper's transformer (PAPER.md sections 1, 2 and 4) in float64 PyTorch.

Writes Tests/Golden/ar.safetensors and Tests/Golden/mdm.safetensors: initial parameters, the batch, the loss,
the unclipped gradients, the gradient norm, and the parameters after 3 AdamW steps with global-norm clipping.
See tools/golden/README.md for the exact contents and how to regenerate.

Run with Debian's interpreter, which sees python3-torch: /usr/bin/python3 tools/golden/make_golden.py
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

CONFIG = {
    "layers": 2,
    "d_model": 64,
    "heads": 4,
    "head_dim": 16,
    "ffn": (8 * 64 // 3) // 64 * 64,  # floor((8*64/3)/64)*64 = 128
    "byte_vocab": 256,
    "eod_id": 256,
    "mask_id": 257,
    "vocab_rows": 320,  # 258 ids padded to a multiple of 64; cross-entropy runs over all 320 logits
    "seq_len": 32,
    "batch": 3,
    "rope_theta": 10000.0,
    "rms_eps": 1e-5,
    "init_std": 0.02,
}
OPTIMIZER = {
    "name": "torch.optim.AdamW",
    "lr": 1e-3,
    "beta1": 0.9,
    "beta2": 0.95,
    "eps": 1e-8,
    "weight_decay": 0.1,
    "weight_decay_on": "2-D tensors only (embedding included, norm weights excluded)",
    "clip_grad_norm": 1.0,
    "clip_rule": "torch.nn.utils.clip_grad_norm_: g *= min(1, max_norm / (total_norm + 1e-6)), total_norm = global L2 over all grads",
    "update_rule": "p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; "
                   "p -= lr/(1-b1^k) * m / (sqrt(v)/sqrt(1-b2^k) + eps)",
    "steps": 3,
    "batch_per_step": "the same batch (same tokens, t and masks) every step",
}
MDM_EPS = 1e-3
MDM_T = [0.15, 0.5, 0.93]
NORM_PERTURBATION_STD = 0.1
SEED = 1234


def param_names(layers):
    names = ["model.embed_tokens.weight"]
    for i in range(layers):
        prefix = f"model.layers.{i}."
        names += [prefix + "input_layernorm.weight", prefix + "self_attn.qkv_proj.weight",
                  prefix + "self_attn.o_proj.weight", prefix + "post_attention_layernorm.weight",
                  prefix + "mlp.gate_up_proj.weight", prefix + "mlp.down_proj.weight"]
    return names + ["model.norm.weight"]


def init_params(cfg, rng, perturb_norms):
    """N(0, 0.02) everywhere, output projections N(0, 0.02/sqrt(2*layers)), norms 1 (+ N(0, 0.1) for the golden).

    Values are rounded to float32 and back, so the float32 tensors stored in the file are exactly the
    starting point of the float64 computation.
    """
    d, f, layers, std = cfg["d_model"], cfg["ffn"], cfg["layers"], cfg["init_std"]
    out_std = std / math.sqrt(2 * layers)
    shapes = {}
    shapes["model.embed_tokens.weight"] = ((cfg["vocab_rows"], d), std)
    for i in range(layers):
        prefix = f"model.layers.{i}."
        shapes[prefix + "input_layernorm.weight"] = ((d,), None)
        shapes[prefix + "self_attn.qkv_proj.weight"] = ((3 * cfg["heads"] * cfg["head_dim"], d), std)
        shapes[prefix + "self_attn.o_proj.weight"] = ((d, cfg["heads"] * cfg["head_dim"]), out_std)
        shapes[prefix + "post_attention_layernorm.weight"] = ((d,), None)
        shapes[prefix + "mlp.gate_up_proj.weight"] = ((2 * f, d), std)
        shapes[prefix + "mlp.down_proj.weight"] = ((d, f), out_std)
    shapes["model.norm.weight"] = ((d,), None)
    params = {}
    for name in param_names(layers):
        shape, sigma = shapes[name]
        if sigma is None:
            value = np.ones(shape)
            if perturb_norms:
                value = value + rng.normal(0.0, NORM_PERTURBATION_STD, shape)
        else:
            value = rng.normal(0.0, sigma, shape)
        params[name] = torch.tensor(value.astype(np.float32).astype(np.float64), requires_grad=True)
    return params


def rms_norm(x, weight, eps):
    return x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope(x, theta):
    """x: [B, heads, T, head_dim]; GPT-NeoX rotate-half with angles duplicated over both halves."""
    seq_len, head_dim = x.shape[-2], x.shape[-1]
    inv_freq = theta ** (-torch.arange(0, head_dim // 2, dtype=torch.float64) * 2 / head_dim)
    angles = torch.arange(seq_len, dtype=torch.float64)[:, None] * inv_freq[None, :]
    angles = torch.cat((angles, angles), dim=-1)
    return x * torch.cos(angles) + rotate_half(x) * torch.sin(angles)


def forward(params, cfg, input_ids, causal):
    """Logits [B, T, vocab_rows] of the pre-norm decoder with a tied LM head."""
    heads, head_dim = cfg["heads"], cfg["head_dim"]
    width = heads * head_dim
    x = params["model.embed_tokens.weight"][input_ids]
    batch, seq_len, _ = x.shape
    for i in range(cfg["layers"]):
        prefix = f"model.layers.{i}."
        h = rms_norm(x, params[prefix + "input_layernorm.weight"], cfg["rms_eps"])
        qkv = h @ params[prefix + "self_attn.qkv_proj.weight"].T
        q, k, v = (qkv[..., j * width:(j + 1) * width].reshape(batch, seq_len, heads, head_dim).transpose(1, 2)
                   for j in range(3))
        q, k = rope(q, cfg["rope_theta"]), rope(k, cfg["rope_theta"])
        scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim)
        if causal:
            future = torch.triu(torch.ones(seq_len, seq_len, dtype=torch.bool), diagonal=1)
            scores = scores.masked_fill(future, float("-inf"))
        attended = torch.softmax(scores, dim=-1) @ v
        attended = attended.transpose(1, 2).reshape(batch, seq_len, width)
        x = x + attended @ params[prefix + "self_attn.o_proj.weight"].T
        h = rms_norm(x, params[prefix + "post_attention_layernorm.weight"], cfg["rms_eps"])
        gate_up = h @ params[prefix + "mlp.gate_up_proj.weight"].T
        gate, up = gate_up[..., :cfg["ffn"]], gate_up[..., cfg["ffn"]:]
        x = x + (torch.nn.functional.silu(gate) * up) @ params[prefix + "mlp.down_proj.weight"].T
    x = rms_norm(x, params["model.norm.weight"], cfg["rms_eps"])
    return x @ params["model.embed_tokens.weight"].T


def token_ce(logits, targets):
    """Per-position cross-entropy over all logits (padding rows included): [B, T]."""
    return torch.logsumexp(logits, dim=-1) - logits.gather(-1, targets[..., None])[..., 0]


def ar_loss(params, cfg, batch):
    tokens = batch["tokens"]
    logits = forward(params, cfg, tokens[:, :-1], causal=True)
    return token_ce(logits, tokens[:, 1:]).mean()


def mdm_loss(params, cfg, batch):
    tokens, mask, p = batch["tokens"], batch["mask"], batch["p"]
    inputs = torch.where(mask, torch.full_like(tokens, cfg["mask_id"]), tokens)
    logits = forward(params, cfg, inputs, causal=False)
    weighted = torch.where(mask, token_ce(logits, tokens) / p[:, None], torch.zeros_like(p[:, None]))
    return weighted.sum() / tokens.numel()


def random_bytes(rng, shape, eod_id, eod_count):
    tokens = rng.integers(0, 256, size=shape)
    flat = tokens.reshape(-1)
    flat[rng.choice(flat.size, size=eod_count, replace=False)] = eod_id
    return flat.reshape(shape)


def make_batch(objective, cfg, rng):
    batch_size, seq_len = cfg["batch"], cfg["seq_len"]
    if objective == "ar":
        tokens = random_bytes(rng, (batch_size, seq_len + 1), cfg["eod_id"], eod_count=5)
        return {"tokens": torch.tensor(tokens, dtype=torch.long)}
    tokens = random_bytes(rng, (batch_size, seq_len), cfg["eod_id"], eod_count=5)
    t = np.array(MDM_T[:batch_size], dtype=np.float32)
    # p from the float32 t as stored, so a reader of the file computes the same p in float64.
    p = (1 - MDM_EPS) * t.astype(np.float64) + MDM_EPS
    while True:
        mask = rng.random((batch_size, seq_len)) < p[:, None]
        if mask.any(axis=1).all() and not mask.all(axis=1).any():
            break
    return {"tokens": torch.tensor(tokens, dtype=torch.long), "t": t, "mask": torch.tensor(mask),
            "p": torch.tensor(p)}


def train(objective, cfg, params, batch):
    """Loss, unclipped gradients and their norm at the start, losses before each step, parameters after 3 steps."""
    loss_fn = ar_loss if objective == "ar" else mdm_loss
    names = list(params)
    decay = [params[n] for n in names if params[n].dim() == 2]
    no_decay = [params[n] for n in names if params[n].dim() != 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": OPTIMIZER["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=OPTIMIZER["lr"], betas=(OPTIMIZER["beta1"], OPTIMIZER["beta2"]), eps=OPTIMIZER["eps"])
    losses, initial_grads, initial_norm = [], None, None
    for step in range(OPTIMIZER["steps"]):
        optimizer.zero_grad()
        loss = loss_fn(params, cfg, batch)
        loss.backward()
        losses.append(loss.item())
        norm = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm=OPTIMIZER["clip_grad_norm"])
        if step == 0:
            initial_norm = norm.item()
            # clip_grad_norm_ scaled the grads in place; undo it for the stored unclipped gradient.
            scale = min(1.0, OPTIMIZER["clip_grad_norm"] / (initial_norm + 1e-6))
            initial_grads = {n: params[n].grad.detach() / scale for n in names}
        optimizer.step()
    return losses, initial_grads, initial_norm, {n: params[n].detach().clone() for n in names}


def to_f32(tensor):
    return np.asarray(tensor.detach().numpy() if torch.is_tensor(tensor) else tensor, dtype=np.float32)


def write_safetensors(path, tensors, metadata):
    """safetensors by hand: u64 LE header length, JSON header, then the raw little-endian data back to back."""
    dtypes = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8"}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtypes[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # pad so the data starts 8-byte aligned (allowed by the format)
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(encoded)))
        file.write(encoded)
        for blob in blobs:
            file.write(blob)


def read_safetensors(path):
    with open(path, "rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(length))
        data = file.read()
    dtypes = {"F32": np.float32, "I32": np.int32, "U8": np.uint8}
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype=np.dtype(dtypes[entry["dtype"]]).newbyteorder("<"))
        tensors[name] = tensors[name].reshape(entry["shape"])
    return header.get("__metadata__", {}), tensors


# ---------- independent checks ----------

def numpy_loss(objective, cfg, params, batch):
    """A second forward written without torch: per-head loops, RoPE as explicit pair rotations (i, i + half)."""
    p = {n: v.detach().numpy() for n, v in params.items()}
    heads, head_dim, half = cfg["heads"], cfg["head_dim"], cfg["head_dim"] // 2
    width = heads * head_dim
    tokens = batch["tokens"].numpy()
    if objective == "ar":
        inputs, targets, causal = tokens[:, :-1], tokens[:, 1:], True
    else:
        mask = batch["mask"].numpy()
        inputs, targets, causal = np.where(mask, cfg["mask_id"], tokens), tokens, False

    def norm(x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + cfg["rms_eps"]) * w

    def rotate(vec, pos):
        out = np.empty_like(vec)
        for i in range(half):
            angle = pos * cfg["rope_theta"] ** (-2.0 * i / head_dim)
            c, s = math.cos(angle), math.sin(angle)
            out[i] = vec[i] * c - vec[i + half] * s
            out[i + half] = vec[i + half] * c + vec[i] * s
        return out

    total = 0.0
    for b in range(inputs.shape[0]):
        x = p["model.embed_tokens.weight"][inputs[b]]
        seq_len = x.shape[0]
        for layer in range(cfg["layers"]):
            prefix = f"model.layers.{layer}."
            h = norm(x, p[prefix + "input_layernorm.weight"])
            qkv = h @ p[prefix + "self_attn.qkv_proj.weight"].T
            attended = np.zeros((seq_len, width))
            for head in range(heads):
                cols = slice(head * head_dim, (head + 1) * head_dim)
                q = np.array([rotate(qkv[i, :width][cols], i) for i in range(seq_len)])
                k = np.array([rotate(qkv[i, width:2 * width][cols], i) for i in range(seq_len)])
                v = qkv[:, 2 * width:][:, cols]
                for i in range(seq_len):
                    visible = i + 1 if causal else seq_len
                    scores = k[:visible] @ q[i] / math.sqrt(head_dim)
                    weights = np.exp(scores - scores.max())
                    attended[i, cols] = (weights / weights.sum()) @ v[:visible]
            x = x + attended @ p[prefix + "self_attn.o_proj.weight"].T
            h = norm(x, p[prefix + "post_attention_layernorm.weight"])
            gate_up = h @ p[prefix + "mlp.gate_up_proj.weight"].T
            gate, up = gate_up[:, :cfg["ffn"]], gate_up[:, cfg["ffn"]:]
            x = x + (gate / (1 + np.exp(-gate)) * up) @ p[prefix + "mlp.down_proj.weight"].T
        logits = norm(x, p["model.norm.weight"]) @ p["model.embed_tokens.weight"].T
        for i in range(seq_len):
            row = logits[i]
            ce = np.log(np.exp(row - row.max()).sum()) + row.max() - row[targets[b, i]]
            if objective == "ar":
                total += ce
            elif mask[b, i]:
                total += ce / batch["p"][b].item()
    return total / targets.size


def gradcheck_small_model():
    """torch.autograd.gradcheck of both losses on a smaller double model (all parameters at once)."""
    cfg = dict(CONFIG, layers=1, d_model=8, heads=2, head_dim=4, ffn=8, vocab_rows=264, seq_len=5, batch=3)
    rng = np.random.default_rng(7)
    for objective in ("ar", "mdm"):
        params = init_params(cfg, rng, perturb_norms=True)
        for name in params:  # larger weights so every path contributes visibly
            params[name] = (params[name].detach() * (1 if params[name].dim() == 1 else 10)).requires_grad_()
        batch = make_batch(objective, cfg, rng)
        names = list(params)
        loss_fn = ar_loss if objective == "ar" else mdm_loss

        def loss_of(*values):
            return loss_fn(dict(zip(names, values)), cfg, batch)

        assert torch.autograd.gradcheck(loss_of, tuple(params[n] for n in names), eps=1e-6, atol=1e-7, rtol=1e-5)
        print(f"gradcheck {objective}: ok")


def causality_check(cfg, params, batch):
    """AR logits at position i must not change when a later input token changes."""
    tokens = batch["tokens"][:, :-1].clone()
    base = forward(params, cfg, tokens, causal=True)
    changed = tokens.clone()
    changed[:, 20] = (changed[:, 20] + 1) % 256
    other = forward(params, cfg, changed, causal=True)
    assert torch.equal(base[:, :20], other[:, :20]) and not torch.equal(base[:, 20:], other[:, 20:])
    print("causality: ok")


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    out_dir = os.path.join(root, "Tests", "Golden")
    os.makedirs(out_dir, exist_ok=True)
    gradcheck_small_model()
    for index, objective in enumerate(("ar", "mdm")):
        rng = np.random.default_rng(SEED + index)
        params = init_params(CONFIG, rng, perturb_norms=True)
        batch = make_batch(objective, CONFIG, rng)
        initial = {n: v.detach().clone() for n, v in params.items()}
        reference = numpy_loss(objective, CONFIG, params, batch)
        if objective == "ar":
            causality_check(CONFIG, params, batch)
        losses, grads, grad_norm, final = train(objective, CONFIG, params, batch)
        assert abs(reference - losses[0]) < 1e-12 * abs(reference), (reference, losses[0])
        print(f"{objective}: loss {losses[0]:.12f} (numpy {reference:.12f}), grad_norm {grad_norm:.6f}, "
              f"losses {['%.8f' % v for v in losses]}")

        tensors = {n: to_f32(v) for n, v in initial.items()}
        tensors["tokens"] = batch["tokens"].numpy().astype(np.int32)
        if objective == "mdm":
            tensors["t"] = batch["t"]
            tensors["mask"] = batch["mask"].numpy().astype(np.uint8)
        tensors["loss"] = to_f32([losses[0]])
        for n in initial:
            tensors["grad." + n] = to_f32(grads[n])
        tensors["grad_norm"] = to_f32([grad_norm])
        for k, value in enumerate(losses, start=1):
            tensors[f"loss_step{k}"] = to_f32([value])
        for n in initial:
            tensors["step3." + n] = to_f32(final[n])
        metadata = {
            "objective": objective,
            "config": json.dumps(CONFIG),
            "optimizer": json.dumps(OPTIMIZER),
            "mdm": json.dumps({"eps": MDM_EPS, "p": "(1 - eps) * float64(t) + eps",
                               "loss": "sum over masked of CE / p[b], divided by B*T"}) if objective == "mdm" else "",
            "init": json.dumps({"std": CONFIG["init_std"], "out_proj_std": "0.02 / sqrt(2 * layers)",
                                "norm_weights": f"1 + N(0, {NORM_PERTURBATION_STD}) (perturbed for the golden; "
                                                "training initialises them to 1)",
                                "rounding": "parameters rounded to float32 before the float64 computation"}),
            "computed_in": "float64",
            "torch_version": torch.__version__,
            "seed": str(SEED + index),
        }
        path = os.path.join(out_dir, f"{objective}.safetensors")
        write_safetensors(path, tensors, {k: v for k, v in metadata.items() if v != ""})
        meta_back, back = read_safetensors(path)
        assert meta_back["objective"] == objective and all(np.array_equal(back[n], tensors[n]) for n in tensors)
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    sys.exit(main())
