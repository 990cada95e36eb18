"""Offline translation: the Translator protocol and the argostranslate engine.

argostranslate's packages are used, but not its `translate` module: importing that pulls in
stanza and torch (seconds, hundreds of MB), and its sentence splitters download models on
first use. Instead this module splits sentences itself, tokenizes with the package's
SentencePiece model and drives the package's CTranslate2 model directly, batching every
sentence of a call together. Nothing here touches the network.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from digest.errors import ConfigError, StageError
from digest.language import opencc_available, opencc_convert
from digest.records import TranslationConfig
from digest.text import model_input
from digest.translate.codes import PIVOT, argos_codes
from digest.translate.packages import PackageInfo, installed_packages
from digest.translate.sentences import split_sentences

log = logging.getLogger(__name__)

MAX_SOURCE_TOKENS = 200  # a guard below the models' 512 positions, for odd scripts
MAX_TEXT_CHARS = 20_000  # a hostile feed must not buy minutes of CPU with one summary
# Source pieces per CTranslate2 batch. Bigger is not faster: the decoder's caches grow with
# rows x steps and spill out of the CPU caches. Measured with a Transformer-base on 2 cores
# (bench/translate): 4096 -> 58.7 s and 1.37 GB peak RSS; 1024 -> about as fast, 0.75 GB.
MAX_BATCH_TOKENS = 1024
# Runaway loops ("the the the ...", argos-translate #275/#422) are stopped by a decoding
# length cap relative to the source, then their repeating tail is cut (see _trim_loop).
# CTranslate2's no_repeat_ngram_size is not used: it corrupts faithful output whenever a
# sentence repeats a phrase (a name written twice in byte-fallback pieces, for one).
MAX_LOOP_PERIOD = 20
_NO_SPACE_TARGETS = frozenset({"zh", "zt", "ja"})  # sentences join without a space


# ---------------------------------------------------------------- public API


@dataclass(frozen=True)
class ModelRef:
    """Which model(s) translate a language pair: a stable cache key."""

    name: str  # package name + version, e.g. "translate-zh_en-1.9"; a pivot is "A+B"
    # A conversion run first is part of the key: "opencc-t2s+translate-zh_en-1.9".


@dataclass(frozen=True)
class Plan:
    """How src reaches tgt: a script conversion (or none), then one or two packages."""

    packages: tuple[PackageInfo, ...]
    convert: str | None = None  # an OpenCC config run on the source first, e.g. "t2s"

    @property
    def ref(self) -> ModelRef:
        """The cache key of everything the text goes through."""
        steps = [f"opencc-{self.convert}"] if self.convert else []
        return ModelRef("+".join([*steps, *(info.key for info in self.packages)]))

    @property
    def pivot(self) -> bool:
        """True when the text goes through English on its way."""
        return len(self.packages) > 1


class Translator(Protocol):
    """Anything that translates batches of plain texts between two languages."""

    def model_for(self, src: str, tgt: str) -> ModelRef | None:
        """The model that would translate src to tgt, or None when none is installed."""
        ...

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        """Translate every text; blank texts come back as ""."""
        ...


def make_translator(cfg: TranslationConfig) -> Translator | None:
    """None when cfg.engine == 'none'."""
    if cfg.engine == "none":
        return None
    if cfg.engine == "argos":
        return ArgosTranslator(cfg)
    raise ConfigError(
        f"translation.engine: unknown engine {cfg.engine!r}", hint="use 'argos' or 'none'"
    )


def missing_model_note(src: str, tgt: str) -> str:
    """e.g. 'no zh→en model installed' (the CLI adds the `digest models install zh en` hint)."""
    return f"no {src}→{tgt} model installed"


def pick_threads(cfg: TranslationConfig) -> tuple[int, int]:
    """(inter_threads, intra_threads) from the config, or chosen for this machine.

    Measured on 2 cores: two batches in parallel with one thread each beat one batch on two
    threads (15.6 vs 10.4 sentences/s). Parallel batches scale better than threads inside a
    batch for models this small, and each parallel batch costs working memory, so use up to
    4 of them and give the remaining cores to each.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    cores = max(1, cores)
    inter = cfg.inter_threads if cfg.inter_threads is not None else min(4, cores)
    inter = max(1, inter)
    intra = cfg.intra_threads if cfg.intra_threads is not None else max(1, cores // inter)
    return inter, max(0, intra)  # 0 lets CTranslate2 decide


# ---------------------------------------------------------------- the argostranslate engine


@dataclass
class _Model:
    """A loaded package: its CTranslate2 translator and SentencePiece tokenizer."""

    info: PackageInfo
    translator: Any  # ctranslate2.Translator
    tokenizer: Any  # sentencepiece.SentencePieceProcessor


def _needs_model(segment: str) -> bool:
    """Numbers and punctuation alone go through untranslated (models invent text for them)."""
    return any(ch.isalpha() for ch in segment)


def _version_key(version: str) -> tuple[int, ...]:
    """'1.10' > '1.9': compare the numbers in a version string."""
    return tuple(int(n) for n in re.findall(r"\d+", version)[:6])


class ArgosTranslator:
    """Translates with installed argostranslate packages, offline.

    `length_cap=False` drops the cap of the decoding length relative to the source (the
    runaway-loop guard), leaving only cfg.max_decoding_length: benchmarks use it to compare
    with other paths at one decoding length.
    """

    def __init__(self, cfg: TranslationConfig, *, length_cap: bool = True) -> None:
        self.cfg = cfg
        self.length_cap = length_cap
        self.inter_threads, self.intra_threads = pick_threads(cfg)
        self._pairs: dict[tuple[str, str], PackageInfo] | None = None
        self._models: dict[Path, _Model] = {}
        self._lock = threading.Lock()
        self.loads: Counter[str] = Counter()  # package key -> models built (scale-out tests)

    # CTranslate2 models cannot be pickled: a pickled translator (e.g. shipped to a worker
    # process) carries only its config and loads its models again where it lands.
    def __getstate__(self) -> dict[str, Any]:
        return {"cfg": self.cfg, "length_cap": self.length_cap}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["cfg"], length_cap=state.get("length_cap", True))  # type: ignore[misc]

    def packages(self) -> dict[tuple[str, str], PackageInfo]:
        """Installed packages by (from, to) argos code, the newest version of each pair."""
        if self._pairs is None:
            pairs: dict[tuple[str, str], PackageInfo] = {}
            for info in installed_packages(self.cfg):
                pair = (info.from_code, info.to_code)
                best = pairs.get(pair)
                if best is None or _version_key(info.version) > _version_key(best.version):
                    pairs[pair] = info
            self._pairs = pairs
        return self._pairs

    def route(self, src: str, tgt: str) -> list[PackageInfo] | None:
        """The packages that take src to tgt: one, two through English, or None."""
        plan = self.plan(src, tgt)
        return list(plan.packages) if plan is not None else None

    def plan(self, src: str, tgt: str) -> Plan | None:
        """How src reaches tgt: a direct package first, else a pivot through English.

        Traditional Chinese without a zt package is converted to Simplified with OpenCC
        (when installed) and goes through the zh package.
        """
        pairs = self.packages()
        sources = argos_codes(src)
        combos = [(s, t) for s in sources for t in argos_codes(tgt) if s != t]
        found: list[PackageInfo] | None = None
        for s, t in combos:
            if (s, t) in pairs:
                found = [pairs[(s, t)]]
                break
        if found is None:
            for s, t in combos:
                if PIVOT not in (s, t) and (s, PIVOT) in pairs and (PIVOT, t) in pairs:
                    found = [pairs[(s, PIVOT)], pairs[(PIVOT, t)]]
                    break
        if found is None:
            return None
        convert = None
        if sources[:1] == ("zt",) and found[0].from_code == "zh" and opencc_available():
            convert = "t2s"
        return Plan(tuple(found), convert)

    def model_for(self, src: str, tgt: str) -> ModelRef | None:
        """The model that would translate src to tgt, or None when none is installed."""
        plan = self.plan(src, tgt)
        return plan.ref if plan is not None else None

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        """Translate every text; blank texts come back as "" without touching the model."""
        segments: dict[str, int] = {}  # unique sentences, in first-seen order
        layouts: list[list[list[int]] | None] = []  # per text: per line: sentence ids
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                layouts.append(None)
                continue
            lines = []
            for line in model_input(text)[:MAX_TEXT_CHARS].split("\n"):
                lines.append([segments.setdefault(s, len(segments)) for s in split_sentences(line)])
            layouts.append(lines)
        if not segments:
            return ["" for _ in texts]

        plan = self.plan(src, tgt)
        if plan is None:
            raise StageError(
                missing_model_note(src, tgt), hint=f"digest models install {src} {tgt}"
            )
        route = list(plan.packages)
        ordered = list(segments)
        sources = ordered
        if plan.convert:
            convert = opencc_convert(plan.convert)
            sources = [convert(s) for s in ordered]
        # Unique model inputs: conversion may turn two variants into one sentence.
        todo = list(dict.fromkeys(s for s in sources if _needs_model(s)))
        started = time.monotonic()
        done = dict(zip(todo, self._translate_segments(route, todo), strict=True))
        log.debug(
            "translated %d sentences %s→%s in %.2fs",
            len(todo),
            src,
            tgt,
            time.monotonic() - started,
        )
        results = [done.get(s, o) for s, o in zip(sources, ordered, strict=True)]

        joiner = "" if route[-1].to_code in _NO_SPACE_TARGETS else " "
        out = []
        for lines_ in layouts:
            if lines_ is None:
                out.append("")
                continue
            text_lines = [joiner.join(r for r in (results[k] for k in ids) if r) for ids in lines_]
            out.append("\n".join(text_lines).strip())
        return out

    def _translate_segments(self, route: list[PackageInfo], segments: list[str]) -> list[str]:
        """Run sentences through each package of the route in turn."""
        for info in route:
            if not segments:
                break
            segments = self._run_package(self._load(info), segments)
        return segments

    def _load(self, info: PackageInfo) -> _Model:
        """The loaded model of a package, loading it on first use only."""
        with self._lock:
            model = self._models.get(info.path)
            if model is not None:
                return model
            import ctranslate2
            import sentencepiece as spm

            started = time.monotonic()
            try:
                translator = ctranslate2.Translator(
                    str(info.path / "model"),
                    device="cpu",
                    compute_type="auto",  # as argostranslate: int8 where the CPU allows
                    inter_threads=self.inter_threads,
                    intra_threads=self.intra_threads,
                )
                tokenizer = spm.SentencePieceProcessor(
                    model_file=str(info.path / "sentencepiece.model")
                )
            except (RuntimeError, OSError, ValueError) as exc:
                raise StageError(
                    f"cannot load translation package {info.path}: {exc}",
                    hint="reinstall it with `digest models install-file`",
                ) from exc
            log.debug("loaded %s in %.2fs", info.key, time.monotonic() - started)
            model = self._models[info.path] = _Model(info, translator, tokenizer)
            self.loads[info.key] += 1
            return model

    def _run_package(self, model: _Model, segments: list[str]) -> list[str]:
        """Translate sentences with one package: tokenize all, decode in few large batches."""
        units: list[list[str]] = []
        owners: list[int] = []
        for k, segment in enumerate(segments):
            tokens = model.tokenizer.encode(segment, out_type=str)
            for chunk in _token_chunks(tokens, MAX_SOURCE_TOKENS):
                units.append(chunk)
                owners.append(k)
        outputs = self._decode_units(model, units)
        parts: list[list[str]] = [[] for _ in segments]
        for k, output in zip(owners, outputs, strict=True):
            if output:
                parts[k].append(output)
        joiner = "" if model.info.to_code in _NO_SPACE_TARGETS else " "
        return [joiner.join(p) for p in parts]

    def _decode_units(self, model: _Model, units: list[list[str]]) -> list[str]:
        """Translate token lists, a few calls grouped by length, so the length caps stay tight.

        Every group is queued at once (asynchronous=True): the parallel translators then take
        batches from all groups, instead of one idling at the end of each group's call.
        """
        out = [""] * len(units)
        buckets: dict[int, list[int]] = {}
        for i in sorted(range(len(units)), key=lambda i: len(units[i])):
            buckets.setdefault(_length_bucket(len(units[i])), []).append(i)
        prefix = model.info.target_prefix
        pending = []
        for indices in buckets.values():
            batch = [units[i] for i in indices]
            longest = max(len(u) for u in batch)
            # Cap the output relative to the input: a looping model stops early.
            limit = max(1, self.cfg.max_decoding_length)
            if self.length_cap:
                limit = min(limit, 2 * longest + 10)
            limit += 1 if prefix else 0
            total = sum(len(u) for u in batch)
            # About one batch per parallel translator, but none over MAX_BATCH_TOKENS.
            batch_tokens = min(MAX_BATCH_TOKENS, max(256, math.ceil(total / self.inter_threads)))
            results = model.translator.translate_batch(
                batch,
                target_prefix=[[prefix] for _ in batch] if prefix else None,
                beam_size=max(1, self.cfg.beam_size),
                max_decoding_length=limit,
                max_batch_size=batch_tokens,
                batch_type="tokens",
                replace_unknowns=True,
                asynchronous=True,
            )
            pending.append((indices, limit, results))
        for indices, limit, results in pending:
            for i, waiting in zip(indices, results, strict=True):
                result = waiting.result()
                pieces = result.hypotheses[0] if result.hypotheses else []
                if len(pieces) >= limit:  # never ended: likely a loop
                    pieces = _trim_loop(pieces)
                out[i] = _detokenize(model, pieces)
        return out


# ---------------------------------------------------------------- Chinese script conversion

_CONTINUATION_BYTE_RE = re.compile(r"<0x[89AB][0-9A-F]>")


def _token_chunks(tokens: list[str], size: int) -> list[list[str]]:
    """Cut a token list into chunks of at most size, never inside a byte-fallback character."""
    chunks = []
    start = 0
    while start < len(tokens):
        end = min(start + size, len(tokens))
        # <0xE4><0xB8><0xAD> is one character: cut before its lead byte, not after it.
        while start + 1 < end < len(tokens) and _CONTINUATION_BYTE_RE.fullmatch(tokens[end]):
            end -= 1
        chunks.append(tokens[start:end])
        start = end
    return chunks


def _length_bucket(length: int) -> int:
    """Group sentences of 1-8, 9-32, 33-128 and more tokens."""
    return 0 if length <= 8 else 1 if length <= 32 else 2 if length <= 128 else 3


def _trim_loop(pieces: list[str]) -> list[str]:
    """Cut a tail that repeats 3+ times (a period of up to MAX_LOOP_PERIOD pieces) to one copy."""
    n = len(pieces)
    for period in range(1, min(MAX_LOOP_PERIOD, n // 3) + 1):
        tail = pieces[n - period :]
        reps = 1
        while (reps + 1) * period <= n and pieces[
            n - (reps + 1) * period : n - reps * period
        ] == tail:
            reps += 1
        if reps >= 3:
            return pieces[: n - (reps - 1) * period]
    return pieces


def _detokenize(model: _Model, pieces: list[str]) -> str:
    """Pieces back to text, without the target prefix."""
    prefix = model.info.target_prefix
    if prefix and pieces and pieces[0] == prefix:
        pieces = pieces[1:]
    pieces = [p for p in pieces if p not in ("<s>", "</s>", prefix)]
    return str(model.tokenizer.decode_pieces(pieces)).strip()
