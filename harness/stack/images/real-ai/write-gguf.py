#!/usr/bin/env python3
"""Writes a synthetic GGUF model for llama.cpp's llama-server: llama architecture, a
byte-level SentencePiece-style vocabulary, random weights.

Compute per token depends on the architecture (dimensions, layers, heads, vocabulary), not
on the weights, so a synthetic model with a production model's dimensions loads a GPU like
that model does; its text is noise (the backend constrains it to valid JSON with a schema).

    write-gguf.py NAME DIMS_JSON OUT.gguf

DIMS_JSON: {"dim", "layers", "heads", "kv_heads", "ffn", "vocab", "ctx", "dtype": "f32"|"f16"};
the presets live in harness/config/real-ai-config.ts (LLM_PRESETS).
"""
import json
import sys

import numpy as np
from gguf import GGUFWriter, TokenType

SPECIAL = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]


# Words the HSI prompts and answers use: with every substring of each (leading U+2581 = space)
# in the vocabulary, SentencePiece-style merging gives about 3-4 characters per token, as a
# real tokenizer does on this text, instead of one token per character.
WORDS = """
You are a home security analyst review object detections from one camera and rate the risk they
represent Answer with JSON only no other text integer low medium high critical summary reasoning
sentence short explanation Risk bands Camera Batch Time window unknown Detections confidence at size
more Rate of this activity the in to is was for on by an it as be or not person bicycle car motorcycle
bus truck boat bird cat dog horse backpack umbrella handbag suitcase front door driveway backyard side
gate garden street yard night day detected moving near entrance activity vehicle parked walking
normal unusual suspicious multiple people animal package delivery visitor seen
"""


def vocabulary(size):
    """Specials, the 256 byte tokens, printable ASCII and U+2581, digit pairs, word pieces, then padding."""
    tokens, scores, types = [], [], []
    seen = set()

    def add(text, score, kind):
        if text in seen:
            return
        seen.add(text)
        tokens.append(text)
        scores.append(score)
        types.append(kind)

    for i, t in enumerate(SPECIAL):
        add(t, 0.0, TokenType.UNKNOWN if i == 0 else TokenType.CONTROL)
    for b in range(256):
        add("<0x%02X>" % b, 0.0, TokenType.BYTE)
    for c in ["\u2581"] + [chr(c) for c in range(0x21, 0x7F)]:
        add(c, -1.0, TokenType.NORMAL)
    for a in range(10):
        for b in range(10):
            add("%d%d" % (a, b), -0.5, TokenType.NORMAL)
    for word in WORDS.split():
        for form in (word, "\u2581" + word, word.lower(), "\u2581" + word.lower()):
            for i in range(len(form)):
                for j in range(i + 2, len(form) + 1):
                    add(form[i:j], float(j - i), TokenType.NORMAL)
    if size < len(tokens):
        raise SystemExit("vocabulary of %d is smaller than the %d base tokens" % (size, len(tokens)))
    while len(tokens) < size:
        tokens.append("<unused%d>" % len(tokens))
        scores.append(-1000.0)
        types.append(TokenType.UNUSED)
    return tokens, scores, types


def tensor(rng, shape, dtype, std=0.02):
    a = rng.standard_normal(shape, dtype=np.float32) * std
    return a.astype(np.float16) if dtype == "f16" else a


def write(preset_name, p, out):
    rng = np.random.default_rng(20261201)
    dim, layers, heads, kv_heads, ffn, vocab, dtype = p["dim"], p["layers"], p["heads"], p["kv_heads"], p["ffn"], p["vocab"], p["dtype"]
    head_dim = dim // heads
    w = GGUFWriter(out, "llama")
    w.add_name("hsi-chaos-synthetic-" + preset_name)
    w.add_description("synthetic weights (random); dimensions of preset " + preset_name)
    w.add_context_length(p["ctx"])
    w.add_embedding_length(dim)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(1 if dtype == "f16" else 0)
    tokens, scores, types = vocabulary(vocab)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    ones = np.ones(dim, dtype=np.float32)
    w.add_tensor("token_embd.weight", tensor(rng, (vocab, dim), dtype))
    w.add_tensor("output_norm.weight", ones)
    w.add_tensor("output.weight", tensor(rng, (vocab, dim), dtype))
    for i in range(layers):
        b = "blk.%d." % i
        w.add_tensor(b + "attn_norm.weight", ones)
        w.add_tensor(b + "attn_q.weight", tensor(rng, (dim, dim), dtype))
        w.add_tensor(b + "attn_k.weight", tensor(rng, (kv_heads * head_dim, dim), dtype))
        w.add_tensor(b + "attn_v.weight", tensor(rng, (kv_heads * head_dim, dim), dtype))
        w.add_tensor(b + "attn_output.weight", tensor(rng, (dim, dim), dtype))
        w.add_tensor(b + "ffn_norm.weight", ones)
        w.add_tensor(b + "ffn_gate.weight", tensor(rng, (ffn, dim), dtype))
        w.add_tensor(b + "ffn_up.weight", tensor(rng, (ffn, dim), dtype))
        w.add_tensor(b + "ffn_down.weight", tensor(rng, (dim, ffn), dtype))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: write-gguf.py NAME DIMS_JSON OUT.gguf\n")
        return 2
    write(argv[1], json.loads(argv[2]), argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
