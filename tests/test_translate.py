"""digest.translate (engine, packages) against tiny real .argosmodel packages built offline.

The packages come from tests/tinymodel.py: a real SentencePiece model and a real CTranslate2
Transformer whose weights make it copy its input. A "translation" therefore equals the input
after SentencePiece's NFKC normalisation (full-width ，！？： become ASCII , ! ? :; 。 and
“” are unchanged), with sentences joined by one space for a Latin-script target and by
nothing for a Chinese one.
"""

from __future__ import annotations

import json
import pickle
import re
import socket
import subprocess
import sys
import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import ctranslate2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from needs import real_feed

sys.path.insert(0, str(Path(__file__).parent))

import tinymodel
from builders import REPO, run_digest, translation_store

from digest.errors import ConfigError, InputError, StageError
from digest.language import to_simplified
from digest.records import TranslationConfig
from digest.translate.codes import argos_codes
from digest.translate.engine import (
    ArgosTranslator,
    ModelRef,
    make_translator,
    missing_model_note,
)
from digest.translate.packages import (
    IndexEntry,
    PackageInfo,
    choose_packages,
    fetch_index,
    index_url,
    install_file,
    install_from_index,
    installed_packages,
    packages_dir,
    parse_index,
)
from digest.translate.sentences import MAX_SENTENCE_CHARS, split_sentences

# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The copy-model archives the tests install, built once per module."""
    dest = tmp_path_factory.mktemp("archives")
    return {
        "zh_en": tinymodel.build_copy_model(dest, "zh", "en"),
        "zh_en_new": tinymodel.build_copy_model(dest, "zh", "en", version="1.10"),
        "zh_en_11": tinymodel.build_copy_model(dest, "zh", "en", version="1.1"),
        "zt_en": tinymodel.build_copy_model(dest, "zt", "en", version="1.9"),
        "en_fr": tinymodel.build_copy_model(dest, "en", "fr"),
        "en_zh": tinymodel.build_copy_model(dest, "en", "zh", target_prefix=">>cmn_Hans<<"),
    }


def config_for(packages: Path, **kw: Any) -> TranslationConfig:
    """A translation config reading packages from the given folder."""
    return TranslationConfig(packages_dir=packages, **kw)


@pytest.fixture
def zh_en(tmp_path: Path, archives: dict[str, Path]) -> TranslationConfig:
    """A packages dir holding only the zh→en copy model, installed through install_file."""
    cfg = config_for(tmp_path / "packages")
    install_file(cfg, archives["zh_en"])
    return cfg


class CountingTranslator:
    """Stands in for ctranslate2.Translator: the real one, counting loads and batch calls."""

    loads: ClassVar[list[str]] = []
    calls: ClassVar[list[int]] = []

    def __init__(self, model_path: str, **kw: Any) -> None:
        CountingTranslator.loads.append(model_path)
        self._real = REAL_CT2_TRANSLATOR(model_path, **kw)

    def translate_batch(self, batch: list[list[str]], **kw: Any) -> Any:
        CountingTranslator.calls.append(len(batch))
        return self._real.translate_batch(batch, **kw)


REAL_CT2_TRANSLATOR = ctranslate2.Translator


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[CountingTranslator]:
    """Count every model load and translate_batch call made through ctranslate2."""
    CountingTranslator.loads = []
    CountingTranslator.calls = []
    monkeypatch.setattr(ctranslate2, "Translator", CountingTranslator)
    return CountingTranslator


def nfkc(text: str) -> str:
    """What SentencePiece's normalisation makes of a text."""
    return unicodedata.normalize("NFKC", text)


def squeeze(text: str) -> str:
    """Text without any whitespace, for comparisons that ignore re-spacing."""
    return re.sub(r"\s+", "", text)


# ---------------------------------------------------------------- translating


def test_copy_model_translates_through_the_real_loading_code(zh_en: TranslationConfig) -> None:
    translator = make_translator(zh_en)
    assert isinstance(translator, ArgosTranslator)
    texts = [
        "警方周二拘留了三名维权人士。",
        "警方周二拘留了三名维权人士。他们被指控“寻衅滋事”！家属表示非常担心？",
        "Apple公司从App Store下架了VPN应用，网民批评审查。",
        "他说：“我们不会放弃。”然后离开了。",
        "繁體字測試：臺灣的言論自由 😀",
        "第一段。第二句。\n第二段。",
    ]
    out = translator.translate(texts, "zh", "en")
    assert out == [
        "警方周二拘留了三名维权人士。",
        "警方周二拘留了三名维权人士。 他们被指控“寻衅滋事”! 家属表示非常担心?",
        "Apple公司从App Store下架了VPN应用,网民批评审查。",
        "他说:“我们不会放弃。” 然后离开了。",
        "繁體字測試:臺灣的言論自由 😀",
        "第一段。 第二句。\n第二段。",
    ]


def test_blank_texts_come_back_empty_without_a_model(
    tmp_path: Path, counting: type[CountingTranslator]
) -> None:
    translator = ArgosTranslator(config_for(tmp_path / "none-installed"))
    assert translator.translate(["", "   ", "\n\t"], "zh", "en") == ["", "", ""]
    assert counting.loads == []
    with pytest.raises(StageError, match="no zh→en model installed"):
        translator.translate(["", "中国"], "zh", "en")


def test_blank_and_numeric_texts_do_not_touch_the_model(
    zh_en: TranslationConfig, counting: type[CountingTranslator]
) -> None:
    translator = ArgosTranslator(zh_en)
    assert translator.translate(["", " ", "2024", "3.5%"], "zh", "en") == ["", "", "2024", "3.5%"]
    assert counting.loads == []
    assert translator.translate(["", "中国", "  "], "zh", "en") == ["", "中国", ""]
    assert len(counting.loads) == 1


def test_translation_works_with_the_network_blocked(
    tmp_path: Path, archives: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)

    cfg = config_for(tmp_path / "packages")
    install_file(cfg, archives["zh_en"])
    translator = make_translator(cfg)
    assert translator is not None
    assert translator.model_for("zh", "en") == ModelRef("translate-zh_en-1.0")
    out = translator.translate(["新疆人脸识别监控引发广泛关注。学生被捕！"], "zh", "en")
    assert out == ["新疆人脸识别监控引发广泛关注。 学生被捕!"]
    assert attempts == []


def test_translating_never_imports_argostranslate_translate(
    zh_en: TranslationConfig,
) -> None:
    # A fresh interpreter: argostranslate.translate pulls in stanza/torch and downloads.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from digest.records import TranslationConfig\n"
        "from digest.translate.engine import make_translator\n"
        f"cfg = TranslationConfig(packages_dir=Path({str(zh_en.packages_dir)!r}))\n"
        "print(make_translator(cfg).translate(['中国。'], 'zh', 'en')[0])\n"
        "heavy = [m for m in ('argostranslate.translate', 'stanza', 'torch', 'minisbd', 'spacy')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["中国。", "[]"]


def test_model_is_loaded_once_and_batched(
    zh_en: TranslationConfig, counting: type[CountingTranslator]
) -> None:
    translator = ArgosTranslator(zh_en)
    first = translator.translate(["中国。美国。", "香港。"], "zh", "en")
    second = translator.translate(["台湾。"], "zh", "en")
    assert first == ["中国。 美国。", "香港。"]
    assert second == ["台湾。"]
    assert len(counting.loads) == 1
    assert counting.loads[0].endswith("model")

    # Fifty texts, a hundred distinct short sentences: batched into at most two calls (the
    # length groups of 1-8 and 9-32 pieces), every sentence sent once.
    counting.calls.clear()
    texts = [f"第{i}条新闻。记者{i}被拘留。" for i in range(50)]
    out = translator.translate(texts, "zh", "en")
    assert out == [f"第{i}条新闻。 记者{i}被拘留。" for i in range(50)]
    assert len(counting.calls) <= 2
    assert sum(counting.calls) == 100


def test_duplicate_sentences_are_translated_once(
    zh_en: TranslationConfig, counting: type[CountingTranslator]
) -> None:
    translator = ArgosTranslator(zh_en)
    out = translator.translate(["网络审查。", "网络审查。网络审查。", "删除。"], "zh", "en")
    assert out == ["网络审查。", "网络审查。 网络审查。", "删除。"]
    assert sum(counting.calls) == 2  # two distinct sentences


def test_decoding_length_follows_the_config(tmp_path: Path, archives: dict[str, Path]) -> None:
    cfg = config_for(tmp_path / "packages", max_decoding_length=4, beam_size=1)
    install_file(cfg, archives["zh_en"])
    text = "警方周二拘留了三名维权人士"
    out = ArgosTranslator(cfg).translate([text], "zh", "en")[0]
    assert out and text.startswith(out) and len(out) < len(text)


def test_an_output_that_never_ends_has_its_loop_cut(
    tmp_path: Path, archives: dict[str, Path]
) -> None:
    looping = "网络审查" * 30  # 121 pieces: copied, it looks like a model stuck in a loop
    cfg = config_for(tmp_path / "packages", max_decoding_length=40)
    install_file(cfg, archives["zh_en"])
    out = ArgosTranslator(cfg).translate([looping], "zh", "en")[0]
    assert looping.startswith(out) and len(out) < 3 * len("网络审查")
    # An output that ends by itself is never trimmed, however repetitive.
    full = ArgosTranslator(config_for(tmp_path / "packages")).translate([looping], "zh", "en")[0]
    assert full == looping


def test_long_sentences_are_cut_and_reassembled_in_order(zh_en: TranslationConfig) -> None:
    # 2,000 characters without a full stop, including characters the tokenizer only knows
    # as UTF-8 bytes (three pieces each): cut into pieces, all translated, order kept.
    text = "".join(f"第{i}位律师在龍虎山被捕，" for i in range(200))[:2000]
    out = ArgosTranslator(zh_en).translate([text], "zh", "en")[0]
    assert squeeze(out) == squeeze(nfkc(text))
    assert "\ufffd" not in out


def test_hostile_text_does_not_break_translation(zh_en: TranslationConfig) -> None:
    texts = ["中国\x00\x07审查\ud800。", "\u202e香港\u200b。", "。。。！！！", "a" * 5000]
    out = ArgosTranslator(zh_en).translate(texts, "zh", "en")
    assert len(out) == 4
    assert out[0].startswith("中国") and "审查" in out[0] and "\x00" not in out[0]
    assert "香港" in out[1]
    assert squeeze(out[3]) == "a" * 5000


def test_target_prefix_from_metadata_is_applied(tmp_path: Path, archives: dict[str, Path]) -> None:
    cfg = config_for(tmp_path / "packages")
    info = install_file(cfg, archives["en_zh"])
    assert info.target_prefix == ">>cmn_Hans<<"
    out = ArgosTranslator(cfg).translate(
        ["Police detained three activists on tuesday.", "Dr. Smith said no. Mr. Li said yes."],
        "en",
        "zh",
    )
    # Sentences join without a space for a Chinese target.
    assert out == [
        "Police detained three activists on tuesday.",
        "Dr. Smith said no.Mr. Li said yes.",
    ]

    # The model really needs the prefix: without it, it does not copy.
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(info.path / "sentencepiece.model"))
    tokens = sp.encode("Police detained three activists.", out_type=str)
    raw = REAL_CT2_TRANSLATOR(str(info.path / "model")).translate_batch(
        [tokens], max_decoding_length=20
    )
    assert raw[0].hypotheses[0] != tokens


def test_translator_survives_pickling(zh_en: TranslationConfig) -> None:
    translator = ArgosTranslator(zh_en)
    translator.translate(["中国。"], "zh", "en")
    copy = pickle.loads(pickle.dumps(translator))
    assert copy.translate(["香港。"], "zh", "en") == ["香港。"]


# ---------------------------------------------------------------- routes and codes


def test_model_for_direct_pivot_and_missing(tmp_path: Path, archives: dict[str, Path]) -> None:
    cfg = config_for(tmp_path / "packages")
    install_file(cfg, archives["zh_en"])
    install_file(cfg, archives["en_fr"])
    translator = ArgosTranslator(cfg)
    assert translator.model_for("zh", "en") == ModelRef("translate-zh_en-1.0")
    assert translator.model_for("en", "fr") == ModelRef("translate-en_fr-1.0")
    assert translator.model_for("zh", "fr") == ModelRef("translate-zh_en-1.0+translate-en_fr-1.0")
    assert translator.model_for("zh-CN", "fr-FR") == translator.model_for("zh", "fr")
    assert translator.model_for("fr", "zh") is None
    assert translator.model_for("zh", "de") is None
    assert translator.model_for("ug", "en") is None
    assert translator.model_for("en", "en") is None
    assert translator.model_for("", "en") is None
    # Both legs run: copy then copy.
    out = translator.translate(["中国。香港！"], "zh", "fr")
    assert out == ["中国。 香港!"]


def test_zh_hant_maps_to_zt_when_installed_else_zh(
    tmp_path: Path, archives: dict[str, Path]
) -> None:
    cfg = config_for(tmp_path / "packages")
    install_file(cfg, archives["zh_en"])
    # Without a zt package, OpenCC converts to Simplified first (part of the cache key).
    assert ArgosTranslator(cfg).model_for("zh-Hant", "en") == ModelRef(
        "opencc-t2s+translate-zh_en-1.0"
    )
    install_file(cfg, archives["zt_en"])
    translator = ArgosTranslator(cfg)
    assert translator.model_for("zh-Hant", "en") == ModelRef("translate-zt_en-1.9")
    assert translator.model_for("zh-TW", "en") == ModelRef("translate-zt_en-1.9")
    assert translator.model_for("zh-Hans", "en") == ModelRef("translate-zh_en-1.0")
    assert translator.model_for("zh", "en") == ModelRef("translate-zh_en-1.0")
    assert translator.translate(["臺灣。"], "zh-Hant", "en") == ["臺灣。"]


def test_newest_version_of_a_pair_wins(tmp_path: Path, archives: dict[str, Path]) -> None:
    cfg = config_for(tmp_path / "packages")
    install_file(cfg, archives["zh_en_new"])
    install_file(cfg, archives["zh_en"])
    assert len(installed_packages(cfg)) == 2
    assert ArgosTranslator(cfg).model_for("zh", "en") == ModelRef("translate-zh_en-1.10")


def test_argos_codes() -> None:
    assert argos_codes("zh") == ("zh", "zt")
    assert argos_codes("zh-Hant") == ("zt", "zh")
    assert argos_codes("zh-Hant-TW") == ("zt", "zh")
    assert argos_codes("zh-HK") == ("zt", "zh")
    assert argos_codes("zh-Hans-HK") == ("zh", "zt")
    assert argos_codes("zh_CN") == ("zh", "zt")
    assert argos_codes("EN-us") == ("en",)
    assert argos_codes("iw") == ("he",)
    assert argos_codes("fa") == ("fa",)
    assert argos_codes("") == ()
    assert argos_codes("../../etc") == ()


def test_make_translator_and_notes(tmp_path: Path) -> None:
    assert make_translator(TranslationConfig(engine="none")) is None
    assert isinstance(make_translator(config_for(tmp_path)), ArgosTranslator)
    with pytest.raises(ConfigError, match=r"translation\.engine"):
        make_translator(TranslationConfig(engine="deepl"))
    assert missing_model_note("zh", "en") == "no zh→en model installed"
    assert missing_model_note("zh-Hant", "en") == "no zh-Hant→en model installed"


def test_thread_settings_follow_the_config(tmp_path: Path) -> None:
    translator = ArgosTranslator(config_for(tmp_path, inter_threads=3, intra_threads=2))
    assert (translator.inter_threads, translator.intra_threads) == (3, 2)
    auto = ArgosTranslator(config_for(tmp_path))
    assert 1 <= auto.inter_threads <= 4 and auto.intra_threads >= 1


# ---------------------------------------------------------------- packages


def test_packages_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGOS_PACKAGES_DIR", str(tmp_path / "from-env"))
    assert packages_dir(config_for(tmp_path / "from-config")) == tmp_path / "from-config"
    assert packages_dir(TranslationConfig()) == tmp_path / "from-env"
    monkeypatch.delenv("ARGOS_PACKAGES_DIR")
    assert isinstance(packages_dir(TranslationConfig()), Path)


def test_install_file_reports_what_it_installed(tmp_path: Path, archives: dict[str, Path]) -> None:
    cfg = config_for(tmp_path / "packages")
    info = install_file(cfg, archives["zh_en"])
    assert info == PackageInfo(
        from_code="zh",
        to_code="en",
        name="translate-zh_en",
        version="1.0",
        path=tmp_path / "packages" / "translate-zh_en-1_0",
        target_prefix="",
    )
    assert info.key == "translate-zh_en-1.0"
    assert (info.path / "model" / "model.bin").is_file()
    assert installed_packages(cfg) == [info]
    # Installing again replaces the folder and leaves nothing behind.
    assert install_file(cfg, archives["zh_en"]) == info
    assert sorted(p.name for p in (tmp_path / "packages").iterdir()) == ["translate-zh_en-1_0"]


def test_installed_packages_skips_broken_folders(
    tmp_path: Path, archives: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "packages"
    good = tinymodel.install_model(archives["zh_en"], root)
    (root / "no-metadata").mkdir()
    (root / "bad-json").mkdir()
    (root / "bad-json" / "metadata.json").write_text("{not json", encoding="utf-8")
    (root / "list-json").mkdir()
    (root / "list-json" / "metadata.json").write_text("[1, 2]", encoding="utf-8")
    (root / ".install-leftover").mkdir()
    (root / "stray-file.txt").write_text("x", encoding="utf-8")
    sbd = root / "sbd-package"
    sbd.mkdir()
    (sbd / "metadata.json").write_text(json.dumps({"type": "sbd", "from_code": "zh"}))
    found = installed_packages(config_for(root))
    assert [p.path for p in found] == [good]
    assert "no-metadata" in caplog.text and "bad-json" in caplog.text
    assert installed_packages(config_for(tmp_path / "missing")) == []


def rewrite_archive(
    source: Path,
    dest: Path,
    *,
    keep: Callable[[str], bool] = lambda name: True,
    rename: Callable[[str], str] = lambda name: name,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """A copy of an archive with members dropped, renamed or added."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(dest, "w") as out:
        for member in src.infolist():
            if keep(member.filename):
                out.writestr(rename(member.filename), src.read(member))
        for name, data in (extra or {}).items():
            out.writestr(name, data)
    return dest


TOP = "translate-zh_en-1_0"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not-a-zip", "not a zip archive"),
        ("no-metadata", "no metadata.json"),
        ("bad-metadata", "metadata.json is not valid JSON"),
        ("no-codes", "bad or missing from_code"),
        ("sbd-type", "not a translation package"),
        ("no-model", "no model/ folder"),
        ("no-model-bin", "no model.bin"),
        ("no-sentencepiece", "no sentencepiece.model"),
        ("bpe", "BPE tokenizer"),
        ("two-folders", "exactly one top-level folder"),
        ("unsafe-path", "unsafe path"),
        ("bad-sentencepiece", "sentencepiece.model cannot be loaded"),
        ("empty-zip", "empty zip archive"),
        ("missing-file", "no such file"),
    ],
)
def test_install_file_rejects_bad_packages(
    tmp_path: Path, archives: dict[str, Path], case: str, message: str
) -> None:
    good = archives["zh_en"]
    bad = tmp_path / f"{case}.argosmodel"

    def drop(suffix: str) -> Callable[[str], bool]:
        return lambda name: not name.startswith(f"{TOP}/{suffix}")

    if case == "not-a-zip":
        bad.write_text("this is not a zip file\n", encoding="utf-8")
    elif case == "no-metadata":
        rewrite_archive(good, bad, keep=drop("metadata.json"))
    elif case == "bad-metadata":
        rewrite_archive(
            good, bad, keep=drop("metadata.json"), extra={f"{TOP}/metadata.json": b"{oops"}
        )
    elif case == "no-codes":
        meta = json.dumps({"package_version": "1.0", "to_code": "en"}).encode()
        rewrite_archive(good, bad, keep=drop("metadata.json"), extra={f"{TOP}/metadata.json": meta})
    elif case == "sbd-type":
        meta = json.dumps({"type": "sbd", "from_code": "zh", "to_code": "en"}).encode()
        rewrite_archive(good, bad, keep=drop("metadata.json"), extra={f"{TOP}/metadata.json": meta})
    elif case == "no-model":
        rewrite_archive(good, bad, keep=drop("model/"))
    elif case == "no-model-bin":
        rewrite_archive(good, bad, keep=drop("model/model.bin"))
    elif case == "no-sentencepiece":
        rewrite_archive(good, bad, keep=drop("sentencepiece.model"))
    elif case == "bpe":
        rewrite_archive(
            good, bad, keep=drop("sentencepiece.model"), extra={f"{TOP}/bpe.model": b"x"}
        )
    elif case == "two-folders":
        rewrite_archive(good, bad, extra={"other/README.md": b"hi"})
    elif case == "unsafe-path":
        rewrite_archive(good, bad, extra={f"{TOP}/../../escape.txt": b"x"})
    elif case == "bad-sentencepiece":
        rewrite_archive(
            good,
            bad,
            keep=drop("sentencepiece.model"),
            extra={f"{TOP}/sentencepiece.model": b"not a sentencepiece model"},
        )
    elif case == "empty-zip":
        zipfile.ZipFile(bad, "w").close()
    elif case == "missing-file":
        bad = tmp_path / "does-not-exist.argosmodel"

    root = tmp_path / "packages"
    with pytest.raises(InputError) as err:
        install_file(config_for(root), bad)
    assert str(bad) in err.value.message
    assert message in err.value.message
    # Nothing half-installed, no staging folder left behind, nothing escaped.
    assert not root.exists() or list(root.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_install_file_keeps_the_old_package_when_the_new_one_is_bad(
    tmp_path: Path, archives: dict[str, Path]
) -> None:
    cfg = config_for(tmp_path / "packages")
    info = install_file(cfg, archives["zh_en"])
    bad = rewrite_archive(
        archives["zh_en"],
        tmp_path / "bad.argosmodel",
        keep=lambda name: name != f"{TOP}/sentencepiece.model",
        extra={f"{TOP}/sentencepiece.model": b"garbage"},
    )
    with pytest.raises(InputError):
        install_file(cfg, bad)
    assert installed_packages(cfg) == [info]
    assert ArgosTranslator(cfg).translate(["中国。"], "zh", "en") == ["中国。"]


# ---------------------------------------------------------------- sentence splitting


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "警方拘留了三人。他们被指控“寻衅滋事”！家属问：为什么？",
            ["警方拘留了三人。", "他们被指控“寻衅滋事”！", "家属问：为什么？"],
        ),
        ("他说：“我们不会放弃。”然后离开了。", ["他说：“我们不会放弃。”", "然后离开了。"]),
        ("真的吗？！是的……", ["真的吗？！", "是的……"]),
        ("「走吧。」他說。", ["「走吧。」", "他說。"]),
        (
            "Dr. Smith met U.S. officials on Monday. They discussed the ban. Mr. Li said no.",
            [
                "Dr. Smith met U.S. officials on Monday.",
                "They discussed the ban.",
                "Mr. Li said no.",
            ],
        ),
        ("He moved to the U.S. in 2019.", ["He moved to the U.S. in 2019."]),
        ("He said no. Mr. Li agreed.", ["He said no.", "Mr. Li agreed."]),
        ("See No. 5 and vol. 3 first.", ["See No. 5 and vol. 3 first."]),
        ('He asked, "Why?" Nobody answered.', ['He asked, "Why?"', "Nobody answered."]),
        ('"Why?" he asked. "Because."', ['"Why?" he asked.', '"Because."']),
        (
            "It rose 3.5 percent. See example.org. Done",
            ["It rose 3.5 percent.", "See example.org.", "Done"],
        ),
        ("J. K. Rowling, e.g. this one, wrote it.", ["J. K. Rowling, e.g. this one, wrote it."]),
        ("Wait... What?! OK.", ["Wait...", "What?!", "OK."]),
        ("真的吗?是的。J. K. Rowling wrote it.", ["真的吗?", "是的。", "J. K. Rowling wrote it."]),
        ("Apple下架了VPN。Tim Cook said so.", ["Apple下架了VPN。", "Tim Cook said so."]),
        ("第一行\n第二行。第三句", ["第一行", "第二行。", "第三句"]),
        ("این چیست؟ هیچ", ["این چیست؟", "هیچ"]),
        ("", []),
        ("   \n  ", []),
    ],
)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_split_sentences_cuts_a_very_long_sentence() -> None:
    chinese = "".join(f"第{i}名网民因转发文章而被警方传唤" + "，" for i in range(120))[:2000]
    pieces = split_sentences(chinese)
    assert len(pieces) > 5
    assert all(0 < len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    assert "".join(pieces) == chinese
    # Cut at the clause breaks when there are some.
    assert all(p.endswith("，") for p in pieces[:-1])

    english = " ".join(["word"] * 500)
    pieces = split_sentences(english)
    assert all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    assert " ".join(pieces) == english

    unbroken = "审" * 2000
    pieces = split_sentences(unbroken)
    assert "".join(pieces) == unbroken
    assert all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)


FRAGMENTS = [
    *"ab Z.!?。！？”\"'\n，, 中文",
    "Dr",
    "U.S.",
    "No. 5",
    "é",
    "e\u0301",
    "\u200c",
    "审" * 40,
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=200).map("".join))
def test_split_sentences_keeps_every_character_in_order(text: str) -> None:
    pieces = split_sentences(text)
    assert all(p and p == p.strip() for p in pieces)
    assert all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    assert squeeze("".join(pieces)) == squeeze(text)


def _real_feed_texts() -> list[str]:
    """Titles and descriptions from the real RFA Mandarin feed, tags stripped."""
    import html

    feed = real_feed("rfa_nuus_mandarin.xml")
    raw = feed.read_text(encoding="utf-8", errors="replace")
    found = re.findall(r"<(?:title|description)>(.*?)</(?:title|description)>", raw, re.S)
    texts = []
    for chunk in found:
        text = html.unescape(chunk.replace("<![CDATA[", "").replace("]]>", ""))
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
        if re.search(r"[\u4e00-\u9fff]", text):
            texts.append(text.strip())
    return texts[:60]


def test_real_feed_texts_round_trip_through_the_copy_model(zh_en: TranslationConfig) -> None:
    texts = _real_feed_texts()
    assert texts
    for text in texts:
        assert all(len(p) <= MAX_SENTENCE_CHARS for p in split_sentences(text))
    out = ArgosTranslator(zh_en).translate(texts, "zh", "en")
    for text, result in zip(texts, out, strict=True):
        assert squeeze(result) == squeeze(nfkc(text)), text


# ---------------------------------------------------------------- the Argos package index

from httpserver import LoopbackServer  # noqa: E402


def index_doc(srv: LoopbackServer, *packages: tuple[str, str, str]) -> bytes:
    """An index.json offering (from, to, version) packages served at /pkg/<from>_<to>-<v>."""
    entries = [
        {
            "package_version": v,
            "argos_version": "1.9",
            "from_code": f,
            "from_name": f,
            "to_code": t,
            "to_name": t,
            "links": [srv.url(f"/pkg/{f}_{t}-{v}.argosmodel")],
        }
        for f, t, v in packages
    ]
    return json.dumps(entries).encode()


def closed_port_url() -> str:
    """A 127.0.0.1 URL nothing listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_index_url_follows_argos_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARGOS_PACKAGE_INDEX", raising=False)
    assert index_url().startswith("https://") and index_url().endswith("/index.json")
    monkeypatch.setenv("ARGOS_PACKAGE_INDEX", "http://127.0.0.1:9/mirror")
    assert index_url() == "http://127.0.0.1:9/mirror/index.json"
    monkeypatch.setenv("ARGOS_PACKAGE_INDEX", "http://127.0.0.1:9/mirror/")
    assert index_url() == "http://127.0.0.1:9/mirror/index.json"
    monkeypatch.setenv("ARGOS_PACKAGE_INDEX", "http://127.0.0.1:9/other.json")
    assert index_url() == "http://127.0.0.1:9/other.json"


def test_install_from_a_loopback_index(
    tmp_path: Path, srv: LoopbackServer, archives: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config_for(tmp_path / "packages")
    srv.route("/index.json", body=index_doc(srv, ("zh", "en", "1.0"), ("en", "fr", "1.0")))
    srv.route("/pkg/zh_en-1.0.argosmodel", body=archives["zh_en"].read_bytes())
    srv.route("/pkg/en_fr-1.0.argosmodel", body=archives["en_fr"].read_bytes())
    monkeypatch.setenv("ARGOS_PACKAGE_INDEX", srv.url("/"))
    done = install_from_index(cfg, "zh", "en")
    assert [(info.key, new) for info, new in done] == [("translate-zh_en-1.0", True)]
    assert ArgosTranslator(cfg).translate(["中国。"], "zh", "en") == ["中国。"]
    # Again: nothing is downloaded a second time.
    again = install_from_index(cfg, "zh-CN", "en")
    assert [(info.key, new) for info, new in again] == [("translate-zh_en-1.0", False)]
    assert len(srv.requests_for("/pkg/zh_en-1.0.argosmodel")) == 1
    # No direct zh→fr package: both legs through English, the one missing is fetched.
    pivot = install_from_index(cfg, "zh", "fr")
    assert [(i.key, new) for i, new in pivot] == [
        ("translate-zh_en-1.0", False),
        ("translate-en_fr-1.0", True),
    ]
    assert ArgosTranslator(cfg).model_for("zh", "fr") == ModelRef(
        "translate-zh_en-1.0+translate-en_fr-1.0"
    )
    with pytest.raises(InputError, match="no ug→en package") as err:
        install_from_index(cfg, "ug", "en")
    assert err.value.hint is not None and "zh→en" in err.value.hint
    # Nothing but the installed packages is left in the packages dir.
    assert sorted(p.name for p in (tmp_path / "packages").iterdir()) == [
        "translate-en_fr-1_0",
        "translate-zh_en-1_0",
    ]


def test_install_through_the_cli_from_a_loopback_index(
    tmp_path: Path, srv: LoopbackServer, archives: dict[str, Path]
) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"translation: {{packages_dir: {tmp_path / 'packages'}}}\n"
        "feeds:\n  - {id: a, name: A, url: a.xml, language: zh}\n",
        encoding="utf-8",
    )
    srv.route("/index.json", body=index_doc(srv, ("zh", "en", "1.0")))
    srv.route("/pkg/zh_en-1.0.argosmodel", body=archives["zh_en"].read_bytes())
    done = run_cli(
        ["--config", str(config), "models", "install", "zh", "en"],
        {"ARGOS_PACKAGE_INDEX": srv.url("/")},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("installed translate-zh_en 1.0 (zh→en)")
    listed = run_cli(["--config", str(config), "models", "list"], {})
    assert "zh→en: direct (translate-zh_en-1.0)" in listed.stdout


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The digest CLI in a fresh process, with extra environment variables."""
    return run_digest(*args, cwd=REPO, env=env, timeout=120)


def test_install_fails_at_once_when_the_index_is_unreachable(tmp_path: Path) -> None:
    import time

    config = tmp_path / "feeds.yaml"
    config.write_text(f"translation: {{packages_dir: {tmp_path / 'packages'}}}\n")
    started = time.monotonic()
    done = run_cli(
        ["--config", str(config), "models", "install", "zh", "en"],
        {"ARGOS_PACKAGE_INDEX": closed_port_url()},
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 4
    assert "error: cannot reach the Argos package index at http://127.0.0.1:" in done.stderr
    assert "hint:" in done.stderr and "digest models install-file" in done.stderr
    # Not a speed figure: argostranslate's own lookup hangs for over 70 s here.
    assert elapsed < 30
    assert not (tmp_path / "packages").exists() or not any((tmp_path / "packages").iterdir())


def test_a_silent_or_broken_index_fails_cleanly(tmp_path: Path, srv: LoopbackServer) -> None:
    cfg = config_for(tmp_path / "packages")
    srv.route("/silent/index.json", delay=5.0, body=b"[]")
    srv.route("/missing/index.json", status=404)
    srv.route("/garbage/index.json", body=b"<html>not json")
    with pytest.raises(StageError, match="cannot reach") as err:
        fetch_index(srv.url("/silent/index.json"), timeout=0.3)
    assert err.value.hint is not None and "install-file" in err.value.hint
    # A server dripping bytes never trips an inactivity timeout: the deadline stops it.
    srv.route("/drip/index.json", drip=0.05, drip_chunk=b" ")
    with pytest.raises(StageError, match="too slow"):
        fetch_index(srv.url("/drip/index.json"), timeout=2, deadline=0.5)
    with pytest.raises(StageError, match="answered HTTP 404"):
        fetch_index(srv.url("/missing/index.json"))
    with pytest.raises(StageError, match="not valid JSON"):
        fetch_index(srv.url("/garbage/index.json"))
    # An index pointing at a missing file, then at a file that is not a package.
    srv.route("/bad/index.json", body=index_doc(srv, ("zh", "en", "1.0")))
    srv.route("/pkg/zh_en-1.0.argosmodel", body=b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match=r"downloaded from .* is unusable"):
        install_from_index(cfg, "zh", "en", url=srv.url("/bad/index.json"))
    srv.route("/pkg/zh_en-1.0.argosmodel", status=404)
    with pytest.raises(StageError, match=r"could not download translate-zh_en-1\.0"):
        install_from_index(cfg, "zh", "en", url=srv.url("/bad/index.json"))
    root = tmp_path / "packages"
    assert not root.exists() or list(root.iterdir()) == []


def test_parse_index_skips_hostile_entries() -> None:
    good = {"from_code": "zh", "to_code": "en", "package_version": "1.9", "links": ["https://x/a"]}
    data = [
        good,
        {**good, "type": "sbd"},
        {**good, "from_code": "../../etc"},
        {**good, "links": ["file:///etc/passwd", "javascript:alert(1)"]},
        {**good, "links": "https://x/a"},
        {**good, "package_version": 2},
        {**good, "package_version": "1.9<script>", "to_code": "fr"},
        "not a dict",
        None,
    ]
    entries = parse_index(data)
    assert entries == [
        IndexEntry("zh", "en", "1.9", ("https://x/a",)),
        IndexEntry("zh", "fr", "1.9script", ("https://x/a",)),
    ]
    assert parse_index({"not": "a list"}) == []
    newest = choose_packages(
        [IndexEntry("zh", "en", "1.9", ("u",)), IndexEntry("zh", "en", "1.10", ("v",))], "zh", "en"
    )
    assert [e.version for e in newest] == ["1.10"]
    # zh-Hant prefers a zt package and falls back to zh.
    both = [IndexEntry("zh", "en", "1.9", ("u",)), IndexEntry("zt", "en", "1.9", ("v",))]
    assert choose_packages(both, "zh-TW", "en")[0].from_code == "zt"
    assert choose_packages(both[:1], "zh-Hant", "en")[0].from_code == "zh"
    assert choose_packages(both, "ug", "en") == []


# ---------------------------------------------------------------- Traditional Chinese


TRADITIONAL = "臺灣記者報導，網路審查與監控愈來愈嚴重。香港學生被捕！"


def test_traditional_chinese_is_converted_when_no_zt_package(zh_en: TranslationConfig) -> None:
    simplified = to_simplified(TRADITIONAL)
    assert simplified == "台湾记者报导，网路审查与监控愈来愈严重。香港学生被捕！"
    translator = ArgosTranslator(zh_en)
    assert translator.model_for("zh-Hant", "en") == ModelRef("opencc-t2s+translate-zh_en-1.0")
    assert translator.model_for("zh-TW", "en") == ModelRef("opencc-t2s+translate-zh_en-1.0")
    # The copy model shows what reached it: Simplified text.
    out = translator.translate([TRADITIONAL, "2024", ""], "zh-Hant", "en")
    assert out == [nfkc("台湾记者报导，网路审查与监控愈来愈严重。 香港学生被捕！"), "2024", ""]
    # Simplified Chinese is not converted.
    assert translator.model_for("zh", "en") == ModelRef("translate-zh_en-1.0")
    assert translator.translate([TRADITIONAL], "zh", "en") == [
        nfkc("臺灣記者報導，網路審查與監控愈來愈嚴重。 香港學生被捕！")
    ]


def test_traditional_chinese_goes_to_a_zt_package_unconverted(
    tmp_path: Path, archives: dict[str, Path]
) -> None:
    cfg = config_for(tmp_path / "packages")
    install_file(cfg, archives["zh_en"])
    install_file(cfg, archives["zt_en"])
    translator = ArgosTranslator(cfg)
    assert translator.model_for("zh-Hant", "en") == ModelRef("translate-zt_en-1.9")
    assert translator.translate([TRADITIONAL], "zh-HK", "en") == [
        nfkc("臺灣記者報導，網路審查與監控愈來愈嚴重。 香港學生被捕！")
    ]


# ---------------------------------------------------------------- the translate stage


STAGE_ITEMS = [
    ("zh", "警方拘留三名维权人士", "他们被指控寻衅滋事。家属表示担心。"),
    ("zh", "苹果下架VPN应用", "网民批评审查。"),
    ("zh-Hant", "臺灣網路審查", "香港學生被捕。"),
    ("ug", "ئۇيغۇر", "خەۋەر"),
    ("ug", "ئۈرۈمچى", ""),
    ("en", "Already English", "Not translated."),
]


def test_a_newer_package_retranslates_lazily(
    tmp_path: Path, archives: dict[str, Path], counting: type[CountingTranslator]
) -> None:
    from digest import translate_stage

    cfg = config_for(tmp_path / "packages")
    install_file(cfg, archives["zh_en"])
    config, store = translation_store(tmp_path, cfg, STAGE_ITEMS)
    with store:
        first = translate_stage(config, store)
        assert (first.items, first.translated, first.cached) == (3, 6, 0)
        assert first.no_model == {"ug": 2}
        assert "2 items in ug: no ug→en model installed" in first.line()
        again = translate_stage(config, store)
        assert (again.items, again.translated, again.cached) == (0, 0, 0)

        # A newer package: nothing happens at install time, the next run re-translates.
        calls_before = len(counting.calls)
        install_file(cfg, archives["zh_en_11"])
        assert len(counting.calls) == calls_before
        second = translate_stage(config, store)
        assert (second.items, second.translated, second.cached) == (3, 6, 0)
        third = translate_stage(config, store)
        assert (third.items, third.translated, third.cached) == (0, 0, 0)

        rows = {
            r["lang"]: r
            for r in store.conn.execute(
                "SELECT i.lang, t.model, t.title, t.status FROM items i"
                " JOIN item_translations t ON t.item_id = i.id"
            )
        }
        assert rows["zh"]["model"] == "translate-zh_en-1.1"
        assert rows["zh-Hant"]["model"] == "opencc-t2s+translate-zh_en-1.1"
        assert rows["zh-Hant"]["title"] == "台湾网路审查"
        assert rows["ug"]["status"] == "no-model" and rows["ug"]["model"] is None
        assert "en" not in rows
        # Both versions' translations stay cached: going back costs nothing.
        models = {r[0] for r in store.conn.execute("SELECT DISTINCT model FROM translations")}
        assert "translate-zh_en-1.0" in models and "translate-zh_en-1.1" in models


def test_an_edited_item_is_translated_again(tmp_path: Path, archives: dict[str, Path]) -> None:
    from digest import translate_stage

    cfg = config_for(tmp_path / "packages")
    install_file(cfg, archives["zh_en"])
    config, store = translation_store(tmp_path, cfg, STAGE_ITEMS[:2])
    with store:
        assert translate_stage(config, store).translated == 4
        store.conn.execute(
            "UPDATE items SET summary = '网民强烈批评审查。' WHERE title LIKE '苹果%'"
        )
        edited = translate_stage(config, store)
        # Only the changed summary goes through the model; the title comes from the cache.
        assert (edited.items, edited.translated, edited.cached) == (1, 1, 1)


# ---------------------------------------------------------------- digest models list


def test_models_report_says_direct_pivot_and_missing(
    tmp_path: Path, archives: dict[str, Path]
) -> None:
    from digest import models_report
    from digest.records import Config, FeedConfig, SiteConfig

    cfg = config_for(tmp_path / "packages")
    install_file(cfg, archives["zh_en"])
    install_file(cfg, archives["en_fr"])
    langs = ["zh", "zh-Hant", "ug", "en", "fr-CA"]
    feeds = tuple(
        FeedConfig(id=f"f{i}", name="F", url="f.xml", language=x) for i, x in enumerate(langs)
    )
    report = models_report(Config(path=tmp_path / "feeds.yaml", translation=cfg, feeds=feeds))
    assert report[0] == f"packages dir: {tmp_path / 'packages'}"
    assert "installed: translate-zh_en 1.0 (zh→en)" in report
    assert "zh→en: direct (translate-zh_en-1.0)" in report
    assert "zh-Hant→en: OpenCC converts to Simplified, then direct (translate-zh_en-1.0)" in report
    ug = next(line for line in report if line.startswith("ug→en"))
    assert "no model; missing translate-ug_en" in ug and "digest models install ug en" in ug
    assert "digest models install-file translate-ug_en-VERSION.argosmodel" in ug
    assert not any(line.startswith("en→") for line in report)

    # Site in French: zh goes through English, fr-CA needs nothing.
    fr_site = Config(
        path=tmp_path / "feeds.yaml", site=SiteConfig(language="fr"), translation=cfg, feeds=feeds
    )
    report = models_report(fr_site)
    assert "zh→fr: pivot through en (translate-zh_en-1.0 + translate-en_fr-1.0)" in report
    assert "en→fr: direct (translate-en_fr-1.0)" in report
    assert not any(line.startswith("fr-CA→") for line in report)
    ug = next(line for line in report if line.startswith("ug→fr"))
    assert "missing translate-ug_en (for the pivot) or translate-ug_fr" in ug
