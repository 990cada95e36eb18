"""A random-weight translation package of the real size, built locally with no download.

A Transformer-base (6 encoder + 6 decoder layers, d_model 512, 8 heads, feed-forward 2048,
int8) with a shared vocabulary of 32,000 entries: a SentencePiece unigram model trained on the
benchmark's own text (a few thousand pieces is all that text supports), padded with pieces
that never match any input up to the full size. The weights are random, so the model emits
gibberish and (with a 32k vocabulary) practically never emits </s>: every sentence decodes
to the maximum decoding length, which makes decoding cost depend only on the number of
sentences, the beam size and that limit.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import sentencepiece as spm

LAYERS = 6
D_MODEL = 512
HEADS = 8
FFN = 2048
VOCAB = 32_000
SP_PIECES = 6_000  # what SentencePiece may learn from the local text (fewer if it cannot)


def train_padded_sentencepiece(lines: list[str]) -> bytes:
    """Train a unigram model on lines, then pad its vocabulary to VOCAB pieces."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=out,
        vocab_size=SP_PIECES,
        model_type="unigram",
        character_coverage=1.0,
        byte_fallback=True,
        hard_vocab_limit=False,
        num_threads=2,
        minloglevel=2,
    )
    proto = pb.ModelProto()
    proto.ParseFromString(out.getvalue())
    # Padding pieces: normal pieces with a hopeless score, spelled so no text contains them.
    for i in range(VOCAB - len(proto.pieces)):
        piece = proto.pieces.add()
        piece.piece = f"\u2b1a{i:05d}\u2b1a"
        piece.score = -1e9
        piece.type = pb.ModelProto.SentencePiece.NORMAL
    data = proto.SerializeToString()
    assert spm.SentencePieceProcessor(model_proto=data).get_piece_size() == VOCAB
    return data


def _rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Random weights with a Xavier-like scale."""
    scale = 1.0 / np.sqrt(shape[-1])
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _norm(spec: object) -> None:
    """A LayerNorm at identity."""
    spec.gamma = np.ones(D_MODEL, np.float32)  # type: ignore[attr-defined]
    spec.beta = np.zeros(D_MODEL, np.float32)  # type: ignore[attr-defined]


def _linear(rng: np.random.Generator, spec: object, out_dim: int, in_dim: int) -> None:
    """A linear layer with random weight and zero bias."""
    spec.weight = _rand(rng, out_dim, in_dim)  # type: ignore[attr-defined]
    spec.bias = np.zeros(out_dim, np.float32)  # type: ignore[attr-defined]


def _ffn(rng: np.random.Generator, spec: object) -> None:
    """The position-wise feed-forward block."""
    _norm(spec.layer_norm)  # type: ignore[attr-defined]
    _linear(rng, spec.linear_0, FFN, D_MODEL)  # type: ignore[attr-defined]
    _linear(rng, spec.linear_1, D_MODEL, FFN)  # type: ignore[attr-defined]


def _self_attention(rng: np.random.Generator, spec: object) -> None:
    """Fused QKV projection plus output projection."""
    _norm(spec.layer_norm)  # type: ignore[attr-defined]
    _linear(rng, spec.linear[0], 3 * D_MODEL, D_MODEL)  # type: ignore[attr-defined]
    _linear(rng, spec.linear[1], D_MODEL, D_MODEL)  # type: ignore[attr-defined]


def build_model(model_dir: Path, pieces: list[str], seed: int = 2026) -> None:
    """Save a random-weight int8 Transformer-base with a shared vocabulary of pieces."""
    from ctranslate2.specs import TransformerSpec

    rng = np.random.default_rng(seed)
    spec = TransformerSpec.from_config(LAYERS, HEADS)
    enc, dec = spec.encoder, spec.decoder
    enc.embeddings[0].weight = _rand(rng, len(pieces), D_MODEL)
    for layer in enc.layer:
        _self_attention(rng, layer.self_attention)
        _ffn(rng, layer.ffn)
    _norm(enc.layer_norm)
    dec.embeddings.weight = _rand(rng, len(pieces), D_MODEL)
    for layer in dec.layer:
        _self_attention(rng, layer.self_attention)
        cross = layer.attention
        _norm(cross.layer_norm)
        _linear(rng, cross.linear[0], D_MODEL, D_MODEL)
        _linear(rng, cross.linear[1], 2 * D_MODEL, D_MODEL)
        _linear(rng, cross.linear[2], D_MODEL, D_MODEL)
        _ffn(rng, layer.ffn)
    _norm(dec.layer_norm)
    _linear(rng, dec.projection, len(pieces), D_MODEL)
    spec.register_source_vocabulary(pieces)
    spec.register_target_vocabulary(pieces)
    spec.validate()
    spec.optimize(quantization="int8")
    model_dir.mkdir(parents=True, exist_ok=True)
    spec.save(str(model_dir))


def build_package(dest: Path, lines: list[str], version: str = "1.0") -> Path:
    """Write translate-zh_en-<version>.argosmodel (random Transformer-base) in dest."""
    sp_bytes = train_padded_sentencepiece(lines)
    sp = spm.SentencePieceProcessor(model_proto=sp_bytes)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    top = f"translate-zh_en-{version.replace('.', '_')}"
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / f"{top}.argosmodel"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / top
        build_model(root / "model", pieces)
        (root / "sentencepiece.model").write_bytes(sp_bytes)
        metadata = {
            "package_version": version,
            "argos_version": "1.9",
            "from_code": "zh",
            "from_name": "Chinese",
            "to_code": "en",
            "to_name": "English",
            "type": "translate",
        }
        (root / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
            for path in sorted(root.rglob("*")):
                zf.write(path, path.relative_to(tmp).as_posix())
    return archive
