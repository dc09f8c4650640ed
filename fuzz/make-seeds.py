#!/usr/bin/env python3
"""make-seeds.py: writes the committed seed corpora under fuzz/corpus/ that
cannot be cut from the repository's own files: tiny llama2.c v1 checkpoints
(`lumi synth` writes v0), a tiny GGUF (llama, f32, with
an embedded sentencepiece vocabulary) and a tiny Hugging Face checkpoint in
the fuzz_safetensors input layout (2-byte little-endian length of config.json,
config.json, then model.safetensors). Written from the formats' specs with
random weights; run from the repository root. The other corpora are cut from
models/, configs/ and a results folder (see fuzz/README.md)."""
import json, os, random, struct

D, H, L, NH, KV, V, CTX = 8, 16, 1, 2, 1, 16, 16
rnd = random.Random(13)


def floats(n):
    return struct.pack("<%df" % n, *[rnd.uniform(-0.5, 0.5) for _ in range(n)])


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(path):
    kv_dim = D // NH * KV
    tensors = [("token_embd.weight", [D, V]), ("output_norm.weight", [D])]
    for name, ne in [("attn_norm", [D]), ("ffn_norm", [D]), ("attn_q", [D, D]), ("attn_k", [D, kv_dim]),
                     ("attn_v", [D, kv_dim]), ("attn_output", [D, D]), ("ffn_gate", [D, H]), ("ffn_down", [H, D]),
                     ("ffn_up", [D, H])]:
        tensors.append(("blk.0.%s.weight" % name, ne))
    pieces = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in (0x0A, 0x20)] + \
             ["\u2581", "a", "b", "\u2581a", "\u2581b", "ab", "ba", "\u2581ab", "c", "\u2581c", "abc"]
    kvs = [("general.architecture", 8, gguf_str("llama")),
           ("llama.embedding_length", 4, struct.pack("<I", D)),
           ("llama.feed_forward_length", 4, struct.pack("<I", H)),
           ("llama.block_count", 4, struct.pack("<I", L)),
           ("llama.attention.head_count", 4, struct.pack("<I", NH)),
           ("llama.attention.head_count_kv", 4, struct.pack("<I", KV)),
           ("llama.context_length", 4, struct.pack("<I", CTX)),
           ("llama.attention.layer_norm_rms_epsilon", 6, struct.pack("<f", 1e-5)),
           ("tokenizer.ggml.model", 8, gguf_str("llama")),
           ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, V) + b"".join(gguf_str(p) for p in pieces)),
           ("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, V) + struct.pack("<%df" % V, *[-float(i) for i in range(V)])),
           ("tokenizer.ggml.token_type", 9, struct.pack("<IQ", 5, V) + struct.pack("<%di" % V, *([2, 3, 3, 6, 6] + [1] * (V - 5)))),
           ("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 1)),
           ("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 2))]
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gguf_str(k) + struct.pack("<I", t) + v
    data, offs = b"", []
    for name, ne in tensors:
        offs.append(len(data))
        n = 1
        for x in ne:
            n *= x
        data += floats(n)
        data += b"\0" * (-len(data) % 32)
    for (name, ne), off in zip(tensors, offs):
        out += gguf_str(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne) + struct.pack("<IQ", 0, off)
    out += b"\0" * (-len(out) % 32)
    open(path, "wb").write(out + data)


def hf(path):
    kv_dim = D // NH * KV
    shapes = {"model.embed_tokens.weight": [V, D], "model.norm.weight": [D]}
    p = "model.layers.0."
    shapes.update({p + "input_layernorm.weight": [D], p + "post_attention_layernorm.weight": [D],
                   p + "self_attn.q_proj.weight": [D, D], p + "self_attn.k_proj.weight": [kv_dim, D],
                   p + "self_attn.v_proj.weight": [kv_dim, D], p + "self_attn.o_proj.weight": [D, D],
                   p + "mlp.gate_proj.weight": [H, D], p + "mlp.down_proj.weight": [D, H], p + "mlp.up_proj.weight": [H, D]})
    header, data = {}, b""
    for name, shape in shapes.items():
        n = 1
        for x in shape:
            n *= x
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + 4 * n]}
        data += floats(n)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    st = struct.pack("<Q", len(h)) + h + data
    cfg = json.dumps({"hidden_size": D, "intermediate_size": H, "num_hidden_layers": L, "num_attention_heads": NH,
                      "num_key_value_heads": KV, "vocab_size": V, "max_position_embeddings": CTX,
                      "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True,
                      "hidden_act": "silu"}).encode()
    open(path, "wb").write(struct.pack("<H", len(cfg)) + cfg + st)


def llama2c_v1(path, shared):
    """256-byte header (magic "ak42", version 1, the 7 ints, shared flag), then
    every weight in the v1 order; only the count matters to the loader."""
    kv_dim = D // NH * KV
    hdr = struct.pack("<Ii7iB", 0x616B3432, 1, D, H, L, NH, KV, V, CTX, 1 if shared else 0)
    n = L * 2 * D + D + V * D + L * (D * D + 2 * kv_dim * D + D * D + 3 * H * D) + (0 if shared else V * D)
    open(path, "wb").write(hdr + b"\0" * (256 - len(hdr)) + floats(n))


os.makedirs("fuzz/corpus/llama2c", exist_ok=True)
llama2c_v1("fuzz/corpus/llama2c/tiny-v1-shared.bin", True)
llama2c_v1("fuzz/corpus/llama2c/tiny-v1-unshared.bin", False)
os.makedirs("fuzz/corpus/gguf", exist_ok=True)
os.makedirs("fuzz/corpus/safetensors", exist_ok=True)
gguf("fuzz/corpus/gguf/tiny-llama.gguf")
hf("fuzz/corpus/safetensors/tiny-hf.bin")
