#!/usr/bin/env python3
"""Times the training step of VkDiffusion's transformer in PyTorch (CUDA; eager fp32 without TF32, or eager with
bf16 autocast as PyTorch users train), for the ratio
VkDiffusion / PyTorch tokens/s on the same GPU (scripts/gpu-check.sh runs it beside `vkdiff bench step`).

The model is PAPER §1 as VkDiffusion builds it: pre-norm decoder, RMSNorm (eps 1e-5), fused QKV,
rotate-half RoPE (theta 10000), SwiGLU, tied LM head, no biases; AR (causal, shifted) or MDM
(bidirectional, masks drawn per step with p = (1 - 1e-3) t + 1e-3, loss weighted by 1/p, normalised
by B*L); AdamW (0.9, 0.95, 1e-8, weight decay 0.1 on 2-D tensors) with global-norm clipping at 1.0.

usage: step_bench.py --preset 7M --objective mdm --vocab bytes --seq 256 --batch 8 [--steps 20] [--precision fp32|bf16]
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

PRESETS = {"tiny": (64, 4, 16, 2, 128), "mini": (128, 4, 32, 2, 320), "7M": (128, 4, 32, 3, 320),
           "14M": (224, 7, 32, 4, 576), "44M": (512, 8, 64, 8, 1344)}
VOCABS = {"bytes": (257, 257, 320), "gpt2": (50257, 50257, 50304)}  # text ids, mask id, padded rows


def rms_norm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class Model(torch.nn.Module):
    def __init__(self, d, heads, head_dim, layers, f, vocab_rows):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        std, out_std = 0.02, 0.02 / math.sqrt(2 * layers)
        p = lambda *shape, s=std: torch.nn.Parameter(torch.randn(*shape) * s)
        self.embed = p(vocab_rows, d)
        self.blocks = torch.nn.ModuleList()
        for _ in range(layers):
            block = torch.nn.Module()
            block.norm1 = torch.nn.Parameter(torch.ones(d))
            block.qkv = p(3 * d, d)
            block.o = p(d, d, s=out_std)
            block.norm2 = torch.nn.Parameter(torch.ones(d))
            block.gate_up = p(2 * f, d)
            block.down = p(d, f, s=out_std)
            self.blocks.append(block)
        self.norm = torch.nn.Parameter(torch.ones(d))

    def forward(self, tokens, causal, cos, sin):
        b, t = tokens.shape
        x = self.embed[tokens]
        for block in self.blocks:
            qkv = (rms_norm(x, block.norm1) @ block.qkv.T).view(b, t, 3, self.heads, self.head_dim)
            q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            x = x + a.transpose(1, 2).reshape(b, t, -1) @ block.o.T
            gate, up = (rms_norm(x, block.norm2) @ block.gate_up.T).chunk(2, dim=-1)
            x = x + (F.silu(gate) * up) @ block.down.T
        return rms_norm(x, self.norm) @ self.embed.T


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="7M")
    parser.add_argument("--objective", default="mdm", choices=["mdm", "ar"])
    parser.add_argument("--vocab", default="bytes", choices=list(VOCABS))
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    args = parser.parse_args()
    # bf16: torch.autocast over the forward and the loss (fp32 master weights and optimizer, as AMP defines it).
    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.precision == "bf16")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 like VkDiffusion's kernels
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device("cuda")
    d, heads, head_dim, layers, f = PRESETS[args.preset]
    text_ids, mask_id, rows = VOCABS[args.vocab]
    model = Model(d, heads, head_dim, layers, f, rows).to(device)
    params = list(model.parameters())
    optimizer = torch.optim.AdamW([{"params": [p for p in params if p.dim() == 2], "weight_decay": 0.1},
                                   {"params": [p for p in params if p.dim() != 2], "weight_decay": 0.0}],
                                  lr=2e-4, betas=(0.9, 0.95), eps=1e-8)
    inv_freq = 10000.0 ** (-torch.arange(0, head_dim, 2, device=device).float() / head_dim)
    angles = torch.arange(args.seq, device=device).float()[:, None] * inv_freq[None, :]
    angles = torch.cat((angles, angles), dim=-1)
    cos, sin = angles.cos(), angles.sin()
    b, t = args.batch, args.seq

    def loss_of_batch():
        window = torch.randint(0, text_ids, (b, t + 1), device=device)
        if args.objective == "ar":
            logits = model(window[:, :-1], True, cos, sin)
            return F.cross_entropy(logits.reshape(-1, rows).float(), window[:, 1:].reshape(-1))
        tokens = window[:, :-1]
        p = (1 - 1e-3) * torch.rand(b, 1, device=device) + 1e-3
        mask = torch.rand(b, t, device=device) < p
        logits = model(torch.where(mask, torch.full_like(tokens, mask_id), tokens), False, cos, sin)
        nll = F.cross_entropy(logits.reshape(-1, rows).float(), tokens.reshape(-1), reduction="none").view(b, t)
        return (nll * mask / p).sum() / (b * t)

    def step():
        with autocast():
            loss = loss_of_batch()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        return loss

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / args.steps
    mode = "eager bf16 autocast" if args.precision == "bf16" else "eager fp32 (no TF32)"
    print(json.dumps({"framework": f"pytorch {torch.__version__} {mode}", "device": torch.cuda.get_device_name(), "precision": args.precision,
                      "preset": args.preset, "objective": args.objective, "vocab": args.vocab, "seq": t, "batch": b,
                      "step_ms": seconds * 1000, "tokens_per_s": b * t / seconds}))


if __name__ == "__main__":
    main()
