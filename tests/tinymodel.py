"""Build a tiny but real .argosmodel for tests, with no download.

The package holds a SentencePiece model trained in-process and a one-layer CTranslate2
Transformer whose weights are set by hand so that it COPIES its input: the output pieces are
the input pieces, so a "translation" equals SentencePiece's normalisation of the source
(NFKC: full-width ，！？ become ASCII, runs of spaces collapse).

How the copy works (d = 2 * (TOKEN_DIMS + POS_DIMS); every vector is stored as [u, -u] so its
mean is 0 and its norm fixed, which turns every LayerNorm into a known constant scale):
- encoder: embedding = token code, position encoding = position code; its layers are zero, so
  the memory at source position s is (scaled) [token_s, pos_s];
- decoder: embeddings are zero, so step t only carries pos_t; cross-attention queries with
  pos_t (rotated back by `shift` steps when the package has a target prefix), keys read the
  memory's position code, values its token code; positions use sinusoids of irregular
  frequencies whose codes are nearly orthogonal, so the attention is a hard lookup of the
  source token at position t - shift;
- the output projection scores each vocabulary entry by the dot product of token codes.
The source gets </s> appended (add_source_eos), so the step after the last token copies </s>
and decoding stops. Exact for inputs of up to MAX_POSITIONS - 2 = 510 pieces, with beam
search, in batches, and under CTranslate2's int8 quantization (compute_type "auto"); the
position codes' separation is checked when the model is built.
"""

from __future__ import annotations

import io
import json
import random
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import sentencepiece as spm

TOKEN_DIMS = 64
POS_DIMS = 64  # 32 frequencies, a (cos, sin) pair each
MAX_POSITIONS = 512
ATTENTION_SHARPNESS = 80.0  # attention logit of the matching position
LOGIT_SCALE = 100.0  # output logit of the copied token

# Words the tokenizer is trained on: news vocabulary in Chinese and English.
ZH_TEXT = (
    "中国数字时代报道警方周二拘留了三名维权人士他们被指控寻衅滋事互联网审查删除屏蔽监控"
    "人脸识别新疆西藏香港台湾北京上海广州深圳记者律师网民微博微信抖音政府官员法院判决"
    "言论自由隐私数据安全法规定公司用户账号封禁翻墙软件应用商店下架国际特赦组织电子前哨"
    "基金会自由亚洲电台美国之音报道称当局要求平台加强内容管理学生大学教授发表文章呼吁"
    "释放被捕者家属表示非常担心健康状况据悉此事引发广泛关注社交媒体上的讨论迅速被删"
    "今年以来已有多人因批评而受到调查新闻出版总署发布通知网络空间管理局科技企业合作"
    "的了是在不和有这个我们你他她它也就都而及与着或一二三四五六七八九十年月日时分秒"
)
EN_WORDS = re.findall(
    r"\S+",
    (
        "the police detained three activists on tuesday they were accused of picking quarrels "
        "internet censorship deleted blocked surveillance facial recognition apple removed vpn "
        "apps from its app store china digital times radio free asia voice of america eff access "
        "now court ruled that speech privacy data security law company users accounts banned "
        "journalists lawyers students university professor published article called for release "
        "families said they were worried about health hong kong beijing shanghai tibet xinjiang "
        "Dr. Smith U.S. Mr. Li said is was and or but in on at to a an"
    ),
)
PUNCT = ["。", "，", "！", "？", "、", "“", "”", "：", ".", ",", "!", "?", " ", "(", ")"]


def training_lines(n: int = 600, seed: int = 7) -> list[str]:
    """Deterministic mixed Chinese/English lines for the tokenizer."""
    rng = random.Random(seed)
    chars = list(dict.fromkeys(ZH_TEXT))
    lines = []
    for _ in range(n):
        parts: list[str] = []
        for _ in range(rng.randint(3, 12)):
            roll = rng.random()
            if roll < 0.55:
                start = rng.randrange(len(ZH_TEXT) - 6)
                parts.append(ZH_TEXT[start : start + rng.randint(2, 6)])
            elif roll < 0.65:
                parts.append(rng.choice(chars))
            elif roll < 0.9:
                parts.append(" " + " ".join(rng.choices(EN_WORDS, k=rng.randint(1, 4))) + " ")
            else:
                parts.append(rng.choice(PUNCT))
        lines.append("".join(parts).strip() or "中国")
    return lines


def train_sentencepiece(vocab_size: int = 700) -> bytes:
    """Train a small unigram SentencePiece model in memory (byte fallback: no <unk> ever)."""
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(training_lines()),
        model_writer=out,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        byte_fallback=True,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    return out.getvalue()


def _paired(*parts: np.ndarray) -> np.ndarray:
    """[parts..., -parts...]: zero mean, so LayerNorm only rescales."""
    joined = np.concatenate(parts, axis=-1)
    return np.concatenate([joined, -joined], axis=-1).astype(np.float32)


def _position_codes(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Unit position codes of MAX_POSITIONS rows and their frequencies."""
    freqs = np.sort(rng.uniform(0.05, np.pi - 0.05, POS_DIMS // 2))
    t = np.arange(MAX_POSITIONS)[:, None] * freqs[None, :]
    codes = np.empty((MAX_POSITIONS, POS_DIMS))
    codes[:, 0::2] = np.cos(t)
    codes[:, 1::2] = np.sin(t)
    codes /= np.sqrt(POS_DIMS // 2)
    # Neighbouring positions must stay well apart for the lookup to be exact.
    deltas = np.arange(1, MAX_POSITIONS)[:, None] * freqs[None, :]
    worst = float(np.cos(deltas).mean(axis=1).max())
    assert worst < 0.6, f"position codes too similar ({worst:.2f}): change the seed"
    return codes, freqs


def _shift_rotation(freqs: np.ndarray, shift: int) -> np.ndarray:
    """Matrix R with R @ code(t) == code(t - shift)."""
    rot = np.zeros((POS_DIMS, POS_DIMS))
    for i, w in enumerate(freqs):
        c, s = np.cos(w * shift), np.sin(w * shift)
        # (cos wt, sin wt) -> (cos w(t-k), sin w(t-k))
        rot[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = [[c, s], [-s, c]]
    return rot


def _set_zero_layer(layer: object, d: int, ffn: int = 4) -> None:
    """Self-attention and feed-forward that add nothing to the residual stream."""
    ones, zeros = np.ones(d, np.float32), np.zeros(d, np.float32)
    attn = layer.self_attention  # type: ignore[attr-defined]
    attn.layer_norm.gamma, attn.layer_norm.beta = ones, zeros
    attn.linear[0].weight = np.zeros((3 * d, d), np.float32)
    attn.linear[1].weight = np.zeros((d, d), np.float32)
    ff = layer.ffn  # type: ignore[attr-defined]
    ff.layer_norm.gamma, ff.layer_norm.beta = ones, zeros
    ff.linear_0.weight = np.zeros((ffn, d), np.float32)
    ff.linear_1.weight = np.zeros((d, ffn), np.float32)


def build_ctranslate2_copy_model(model_dir: Path, pieces: list[str], shift: int = 0) -> None:
    """Save a CTranslate2 Transformer that copies its input (shifted by `shift` steps)."""
    from ctranslate2.specs import TransformerSpec

    rng = np.random.default_rng(1234)
    vocab = len(pieces)
    kt, kp = TOKEN_DIMS, POS_DIMS
    d = 2 * (kt + kp)
    tok = rng.standard_normal((vocab, kt))
    tok /= np.linalg.norm(tok, axis=1, keepdims=True)
    gram = tok @ tok.T - 2 * np.eye(vocab)
    assert gram.max() < 0.8, "token codes too similar: change the seed"
    pos, freqs = _position_codes(rng)

    spec = TransformerSpec.from_config(1, 1)
    spec.config.add_source_eos = True
    ones, zeros = np.ones(d, np.float32), np.zeros(d, np.float32)

    enc = spec.encoder
    enc.scale_embeddings = False
    enc.embeddings[0].weight = _paired(tok, np.zeros((vocab, kp)))
    enc.position_encodings.encodings = _paired(np.zeros((MAX_POSITIONS, kt)), pos)
    _set_zero_layer(enc.layer[0], d)
    enc.layer_norm.gamma, enc.layer_norm.beta = ones, zeros
    # Memory = LayerNorm([tok, pos, -tok, -pos]) with |tok| = |pos| = 1: var = 4 / d.
    mem_scale = np.sqrt(d / 4)

    dec = spec.decoder
    dec.scale_embeddings = False
    dec.embeddings.weight = np.zeros((vocab, d), np.float32)
    dec.position_encodings.encodings = _paired(np.zeros((MAX_POSITIONS, kt)), pos)
    layer = dec.layer[0]
    _set_zero_layer(layer, d)
    # Query input = LayerNorm([0, pos, 0, -pos]): var = 2 / d.
    query_in_scale = np.sqrt(d / 2)
    cross = layer.attention
    cross.layer_norm.gamma, cross.layer_norm.beta = ones, zeros
    # Scores are q.k / sqrt(d); make the matching position score ATTENTION_SHARPNESS.
    q_gain = ATTENTION_SHARPNESS * np.sqrt(d) / (query_in_scale * mem_scale)
    w_q = np.zeros((d, d))
    w_q[:kp, kt : kt + kp] = q_gain * _shift_rotation(freqs, shift)
    w_kv = np.zeros((2 * d, d))
    w_kv[:kp, kt : kt + kp] = np.eye(kp)  # keys: the memory's position code
    w_kv[d : d + kt, :kt] = np.eye(kt)  # values: the memory's token code
    w_o = np.zeros((d, d))
    w_o[:kt, :kt] = np.eye(kt) / mem_scale
    w_o[kt + kp : 2 * kt + kp, :kt] = -np.eye(kt) / mem_scale
    cross.linear[0].weight = w_q.astype(np.float32)
    cross.linear[1].weight = w_kv.astype(np.float32)
    cross.linear[2].weight = w_o.astype(np.float32)
    dec.layer_norm.gamma, dec.layer_norm.beta = ones, zeros
    # Decoder output = LayerNorm([tok, pos, -tok, -pos]): the same scale as the memory.
    proj = np.zeros((vocab, d))
    proj[:, :kt] = tok * LOGIT_SCALE / mem_scale
    dec.projection.weight = proj.astype(np.float32)

    spec.register_source_vocabulary(pieces)
    spec.register_target_vocabulary(pieces)
    spec.validate()
    spec.optimize(quantization=None)
    model_dir.mkdir(parents=True, exist_ok=True)
    spec.save(str(model_dir))


_SP_CACHE: dict[int, bytes] = {}


def build_copy_model(
    dest: Path,
    from_code: str = "zh",
    to_code: str = "en",
    *,
    version: str = "1.0",
    target_prefix: str = "",
) -> Path:
    """Write translate-<from>_<to>-<version>.argosmodel in dest and return its path.

    With `target_prefix` (e.g. ">>cmn_Hans<<") the model expects that token as the first
    target token and copies only when the translator forces it, like argos's en→zh packages.
    """
    sp_bytes = _SP_CACHE.get(0)
    if sp_bytes is None:
        sp_bytes = _SP_CACHE[0] = train_sentencepiece()
    sp = spm.SentencePieceProcessor(model_proto=sp_bytes)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    if target_prefix:
        pieces.append(target_prefix)

    top = f"translate-{from_code}_{to_code}-{version.replace('.', '_')}"
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / f"{top}.argosmodel"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / top
        build_ctranslate2_copy_model(root / "model", pieces, shift=1 if target_prefix else 0)
        (root / "sentencepiece.model").write_bytes(sp_bytes)
        metadata: dict[str, object] = {
            "package_version": version,
            "argos_version": "1.9",
            "from_code": from_code,
            "from_name": from_code,
            "to_code": to_code,
            "to_name": to_code,
            "type": "translate",
        }
        if target_prefix:
            metadata["target_prefix"] = target_prefix
        (root / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
        (root / "README.md").write_text("A copy model for tests.\n", encoding="utf-8")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(root.rglob("*")):
                zf.write(path, path.relative_to(tmp).as_posix())
    return archive


def install_model(archive: Path, packages_dir: Path) -> Path:
    """Unzip an .argosmodel into packages_dir the way argostranslate does; return its folder."""
    packages_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        top = zf.namelist()[0].split("/")[0]
        target = packages_dir / top
        if target.exists():
            shutil.rmtree(target)
        zf.extractall(packages_dir)
    return target
