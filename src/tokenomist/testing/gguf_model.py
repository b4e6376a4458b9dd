"""Write a random-weight Llama-architecture GGUF model that llama.cpp can serve.

The weights are random: the cost of inference does not depend on them (the article's
measurements were also taken on random weights), only the text does. The tokenizer is a
small SentencePiece-style vocabulary (byte tokens and some word pieces). Two rules keep
llama.cpp happy: every token string is unique, and the byte tokens 0x80-0xFF are marked
UNUSED so random weights cannot emit invalid UTF-8.

    python -m tokenomist.testing.gguf_model out.gguf --size tiny
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokenomist.bench.prompts import WORDS

SIZES = {
    # name: (embedding, blocks, feed-forward, heads, kv heads, context)
    "tiny": (64, 2, 128, 4, 4, 8192),
    "small": (512, 8, 1536, 8, 8, 8192),
    "medium": (1024, 16, 3072, 16, 8, 8192),
}



@dataclass(frozen=True)
class ModelShape:
    embedding: int
    blocks: int
    feed_forward: int
    heads: int
    kv_heads: int
    context: int

    @property
    def head_dim(self) -> int:
        return self.embedding // self.heads


def _vocab() -> tuple[list[str], list[float], list[int]]:
    import gguf

    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        types.append(gguf.TokenType.BYTE if b < 0x80 else gguf.TokenType.UNUSED)
    seen = set(tokens)
    for piece in [f"▁{w}" for w in WORDS] + list("abcdefghijklmnopqrstuvwxyz") + ["▁"]:
        if piece not in seen:
            seen.add(piece)
            tokens.append(piece)
            types.append(gguf.TokenType.NORMAL)
    scores = [0.0] * 3 + [-1000.0] * 256 + [-float(i) for i in range(len(tokens) - 259)]
    return tokens, scores, [int(t) for t in types]


def hf_config(shape: ModelShape, dtype: str = "f32") -> dict[str, object]:
    """The Hugging Face ``config.json`` of the model ``write_model`` writes (for the
    architecture accounting: same shapes, same vocabulary size, untied output)."""
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": shape.embedding, "num_hidden_layers": shape.blocks,
        "intermediate_size": shape.feed_forward, "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.kv_heads, "head_dim": shape.head_dim,
        "vocab_size": len(_vocab()[0]), "max_position_embeddings": shape.context,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False,
        "hidden_act": "silu", "torch_dtype": "float16" if dtype == "f16" else "float32",
    }


def write_hf_config(path: Path, shape: ModelShape, dtype: str = "f32") -> Path:
    import json
    path.write_text(json.dumps(hf_config(shape, dtype), indent=2) + "\n", encoding="utf-8")
    return path


def write_model(path: Path, shape: ModelShape, seed: int = 0, dtype: str = "f32") -> Path:
    """Write the model; returns the path."""
    import gguf

    rng = np.random.default_rng(seed)
    np_dtype = np.float16 if dtype == "f16" else np.float32
    tokens, scores, types = _vocab()
    vocab = len(tokens)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tokenomist random test model")
    w.add_context_length(shape.context)
    w.add_embedding_length(shape.embedding)
    w.add_block_count(shape.blocks)
    w.add_feed_forward_length(shape.feed_forward)
    w.add_head_count(shape.heads)
    w.add_head_count_kv(shape.kv_heads)
    w.add_rope_dimension_count(shape.head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(1 if dtype == "f16" else 0)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_chat_template(
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}")

    def tensor(name: str, rows: int, cols: int | None = None) -> None:
        if cols is None:
            data = np.ones(rows, dtype=np.float32)  # norms stay f32
        else:
            data = (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np_dtype)
        w.add_tensor(name, data)

    e, f = shape.embedding, shape.feed_forward
    kv = shape.kv_heads * shape.head_dim
    tensor("token_embd.weight", vocab, e)
    tensor("output_norm.weight", e)
    # only word pieces can win: special and byte tokens get zero logits, word pieces large
    # random ones, so greedy decoding never emits EOS or text-less tokens
    out = (rng.standard_normal((vocab, e)) / np.sqrt(e) * 20.0).astype(np_dtype)
    normal = np.array([t == int(gguf.TokenType.NORMAL) and tok.startswith("▁") and len(tok) > 1
                       for t, tok in zip(types, tokens, strict=True)])
    out[~normal] = 0.0
    w.add_tensor("output.weight", out)
    for i in range(shape.blocks):
        p = f"blk.{i}."
        tensor(p + "attn_norm.weight", e)
        tensor(p + "attn_q.weight", e, e)
        tensor(p + "attn_k.weight", kv, e)
        tensor(p + "attn_v.weight", kv, e)
        tensor(p + "attn_output.weight", e, e)
        tensor(p + "ffn_norm.weight", e)
        tensor(p + "ffn_gate.weight", f, e)
        tensor(p + "ffn_up.weight", f, e)
        tensor(p + "ffn_down.weight", e, f)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--dtype", choices=("f32", "f16"), default="f32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", type=Path, help="also write the matching HF config.json here")
    args = ap.parse_args()
    shape = ModelShape(*SIZES[args.size])
    write_model(args.out, shape, args.seed, args.dtype)
    print(args.out)
    if args.config:
        print(write_hf_config(args.config, shape, args.dtype))


if __name__ == "__main__":
    main()
