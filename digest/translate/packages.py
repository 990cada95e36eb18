"""Installing and listing argostranslate translation packages (.argosmodel files).

Packages are read with argostranslate's own `Package` class, but from the directory our
config names: argostranslate reads ARGOS_PACKAGES_DIR once at import time, so its module-level
settings cannot follow a config file. Only `install_from_index` touches the network: it
probes the package index with a short timeout first, so offline it fails at once (argos's own
`get_available_packages()` recurses for over a minute when the index is unreachable).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from digest.errors import InputError, StageError
from digest.records import TranslationConfig
from digest.translate.codes import PIVOT, argos_codes

log = logging.getLogger(__name__)

# A real Transformer-base package is about 100 MB; refuse archives that claim far more.
MAX_UNPACKED_BYTES = 4 * 1024**3
MAX_METADATA_BYTES = 1024 * 1024
_CODE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,15}$")
_FOLDER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# argostranslate's ARGOS_PACKAGE_INDEX names the index's folder; index.json is appended.
DEFAULT_INDEX = "https://raw.githubusercontent.com/argosopentech/argospm-index/main/"
PROBE_TIMEOUT = 3.0  # seconds to reach the index before calling the machine offline
READ_TIMEOUT = 30.0  # seconds of silence in the middle of a download
INDEX_DEADLINE = 20.0  # seconds for the whole index fetch, name lookup included
MAX_INDEX_BYTES = 8 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class PackageInfo:
    """An installed translation package: language pair, identity and folder."""

    from_code: str  # argos language code, e.g. "zh", "zt", "en"
    to_code: str
    name: str  # argospm name, e.g. "translate-zh_en"
    version: str  # package_version from metadata.json, e.g. "1.9"
    path: Path  # the package folder (holds metadata.json, model/, sentencepiece.model)
    target_prefix: str = ""  # a token forced first on the target side, e.g. ">>cmn_Hans<<"

    @property
    def key(self) -> str:
        """Stable identity for caches: name and version, e.g. 'translate-zh_en-1.9'."""
        return f"{self.name}-{self.version}" if self.version else self.name


def packages_dir(cfg: TranslationConfig) -> Path:
    """cfg.packages_dir, else ARGOS_PACKAGES_DIR, else argostranslate's default."""
    if cfg.packages_dir is not None:
        return Path(cfg.packages_dir).expanduser()
    env = os.environ.get("ARGOS_PACKAGES_DIR")
    if env:
        return Path(env).expanduser()
    # Imported late: importing argostranslate's settings creates folders under HOME.
    from argostranslate import settings

    # get_setting reads the environment and settings.json now, not at import time.
    return Path(settings.get_setting("ARGOS_PACKAGES_DIR", settings.data_dir / "packages"))


def installed_packages(cfg: TranslationConfig) -> list[PackageInfo]:
    """Translation packages installed in packages_dir(cfg), sorted by folder name.

    Folders that are not usable translation packages (no or bad metadata.json, another
    package type, a BPE tokenizer, no model) are skipped with a warning instead of failing
    the whole listing as argostranslate does.
    """
    root = packages_dir(cfg)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue  # our own temporary folders, hidden files
        info = read_package(folder)
        if info is not None:
            found.append(info)
    return found


def read_package(folder: Path) -> PackageInfo | None:
    """The PackageInfo of an installed package folder, or None (logged) when unusable."""
    from argostranslate.package import Package

    try:
        pkg = Package(folder)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("skipping translation package %s: %s", folder, exc)
        return None
    problem = _package_problem(pkg, folder)
    if problem:
        log.warning("skipping translation package %s: %s", folder, problem)
        return None
    prefix = pkg.target_prefix if isinstance(pkg.target_prefix, str) else ""
    version = pkg.package_version if isinstance(pkg.package_version, str) else ""
    return PackageInfo(
        from_code=pkg.from_code,
        to_code=pkg.to_code,
        name=f"translate-{pkg.from_code}_{pkg.to_code}",
        version=_clean_version(version),
        path=folder,
        target_prefix=prefix,
    )


def _package_problem(pkg: Any, folder: Path) -> str | None:
    """Why an installed package cannot be used by digest, or None."""
    if pkg.type != "translate":
        return f"package type {pkg.type!r} is not a translation package"
    for code in (pkg.from_code, pkg.to_code):
        if not isinstance(code, str) or not _CODE_RE.match(code):
            return f"bad language code {code!r} in metadata.json"
    if not (folder / "sentencepiece.model").is_file():
        if (folder / "bpe.model").is_file():
            return "BPE tokenizers are not supported (needs sentencepiece.model)"
        return "no sentencepiece.model"
    if not (folder / "model" / "model.bin").is_file():
        return "no model/model.bin"
    return None


def _clean_version(version: str) -> str:
    """The version as a short, path- and key-safe string."""
    return re.sub(r"[^A-Za-z0-9._-]", "", version)[:32]


def install_file(cfg: TranslationConfig | None, path: Path) -> PackageInfo:
    """Validate (zip, metadata.json, model/, sentencepiece.model) and install; InputError if bad.

    cfg None (no feeds.yaml yet): into $ARGOS_PACKAGES_DIR, else argostranslate's default.
    """
    cfg = cfg or TranslationConfig()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise InputError(
            f"{path} is not an .argosmodel package: not a zip archive",
            hint="download packages from the argos-translate package index",
        )
    try:
        with zipfile.ZipFile(path) as zf:
            top = _check_archive(path, zf)
            return _install_archive(cfg, path, zf, top)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise InputError(f"{path} is a damaged zip archive: {exc}") from exc


def _check_archive(path: Path, zf: zipfile.ZipFile) -> str:
    """Validate the archive's layout without extracting; return its top-level folder."""
    members = zf.infolist()
    if not members:
        raise InputError(f"{path} is an empty zip archive, not an .argosmodel package")
    tops = set()
    total = 0
    for member in members:
        name = member.filename
        parts = PurePosixPath(name).parts
        if name.startswith("/") or "\\" in name or ".." in parts or not parts:
            raise InputError(f"{path} holds an unsafe path: {name!r}")
        tops.add(parts[0])
        total += member.file_size
    if total > MAX_UNPACKED_BYTES:
        raise InputError(f"{path} unpacks to {total} bytes, more than {MAX_UNPACKED_BYTES}")
    if len(tops) != 1:
        raise InputError(
            f"{path} must hold exactly one top-level folder (translate-<from>_<to>-<version>/),"
            f" found {len(tops)}: {', '.join(sorted(tops)[:5])}"
        )
    top = tops.pop()
    if not _FOLDER_RE.match(top):
        raise InputError(f"{path}: bad top-level folder name {top!r}")
    names = {m.filename for m in members}

    meta_name = f"{top}/metadata.json"
    if meta_name not in names:
        raise InputError(f"{path} has no metadata.json in {top}/: not an .argosmodel package")
    meta_info = zf.getinfo(meta_name)
    if meta_info.file_size > MAX_METADATA_BYTES:
        raise InputError(f"{path}: metadata.json is too large")
    try:
        metadata = json.loads(zf.read(meta_name).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: metadata.json is not valid JSON: {exc}") from exc
    _check_metadata(path, metadata)

    if not any(n.startswith(f"{top}/model/") for n in names):
        raise InputError(f"{path} has no model/ folder in {top}/ (the CTranslate2 model)")
    if f"{top}/model/model.bin" not in names:
        raise InputError(f"{path}: {top}/model/ has no model.bin")
    if f"{top}/sentencepiece.model" not in names:
        if f"{top}/bpe.model" in names:
            raise InputError(
                f"{path} uses a BPE tokenizer (bpe.model); digest needs sentencepiece.model"
            )
        raise InputError(f"{path} has no sentencepiece.model in {top}/")
    return top


def _check_metadata(path: Path, metadata: object) -> None:
    """metadata.json must describe a translation package between two language codes."""
    if not isinstance(metadata, dict):
        raise InputError(f"{path}: metadata.json must be a JSON object")
    kind = metadata.get("type", "translate")
    if kind != "translate":
        raise InputError(f"{path}: package type {kind!r} is not a translation package")
    for key in ("from_code", "to_code"):
        code = metadata.get(key)
        if not isinstance(code, str) or not _CODE_RE.match(code):
            raise InputError(f"{path}: metadata.json has a bad or missing {key}: {code!r}")
    prefix = metadata.get("target_prefix", "")
    if not isinstance(prefix, str):
        raise InputError(f"{path}: metadata.json target_prefix must be a string")


def _install_archive(
    cfg: TranslationConfig, path: Path, zf: zipfile.ZipFile, top: str
) -> PackageInfo:
    """Extract beside the final place, check the files load, then swap the folder in."""
    root = packages_dir(cfg)
    root.mkdir(parents=True, exist_ok=True)
    # A dot-folder in the packages dir: same filesystem for the rename, skipped by listings.
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=root))
    try:
        zf.extractall(staging)
        folder = staging / top
        _check_loadable(path, folder)
        info = read_package(folder)
        if info is None:
            raise InputError(f"{path} is not a usable translation package")
        target = root / top
        if target.exists():
            # Moved aside into the staging folder, which is removed below.
            target.rename(staging / ".previous")
        folder.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PackageInfo(
        from_code=info.from_code,
        to_code=info.to_code,
        name=info.name,
        version=info.version,
        path=target,
        target_prefix=info.target_prefix,
    )


def _check_loadable(path: Path, folder: Path) -> None:
    """Open the tokenizer and check the model folder the way CTranslate2 will."""
    import ctranslate2
    import sentencepiece as spm

    try:
        spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
    except (OSError, RuntimeError) as exc:
        raise InputError(f"{path}: sentencepiece.model cannot be loaded: {exc}") from exc
    if not ctranslate2.contains_model(str(folder / "model")):
        raise InputError(f"{path}: model/ is not a CTranslate2 model")


# ---------------------------------------------------------------- the Argos package index


@dataclass(frozen=True)
class IndexEntry:
    """A translation package the index offers."""

    from_code: str
    to_code: str
    version: str
    links: tuple[str, ...]

    @property
    def key(self) -> str:
        """Name and version, as PackageInfo.key: 'translate-zh_en-1.9'."""
        return f"translate-{self.from_code}_{self.to_code}-{self.version}"


def index_url() -> str:
    """The index.json URL: $ARGOS_PACKAGE_INDEX (a folder URL, as argos reads it) or argos's."""
    base = os.environ.get("ARGOS_PACKAGE_INDEX", "").strip() or DEFAULT_INDEX
    if base.endswith(".json"):
        return base
    return base if base.endswith("/index.json") else base.rstrip("/") + "/index.json"


_OFFLINE_HINT = (
    "offline? download the .argosmodel file on another machine (from the Argos package "
    "index), then run: digest models install-file PATH.argosmodel"
)


def fetch_index(
    url: str | None = None, *, timeout: float = PROBE_TIMEOUT, deadline: float = INDEX_DEADLINE
) -> list[IndexEntry]:
    """The translation packages the index offers; StageError at once when it is unreachable.

    `timeout` bounds connecting and each silence; `deadline` the whole fetch, name lookup
    included (a stuck resolver or a server dripping bytes would outlast any httpx timeout).
    """
    url = url or index_url()
    outcome: list[bytes | BaseException] = []
    worker = threading.Thread(
        target=lambda: outcome.append(_get_index(url, timeout, time.monotonic() + deadline)),
        name="digest-index-fetch",
        daemon=True,  # a lookup stuck in the resolver must not keep the process alive
    )
    worker.start()
    worker.join(deadline + 1)
    if not outcome:
        raise StageError(
            f"no answer from the Argos package index at {url} within {deadline:.0f} s",
            hint=_OFFLINE_HINT,
        )
    body = outcome[0]
    if isinstance(body, BaseException):
        raise body
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StageError(f"the Argos package index at {url} is not valid JSON: {exc}") from exc
    return parse_index(data)


def _get_index(url: str, timeout: float, deadline: float) -> bytes | BaseException:
    """The index body, or the StageError saying why not (returned: this runs in a thread)."""
    import httpx

    try:
        with (
            httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                return StageError(
                    f"the Argos package index at {url} answered HTTP {response.status_code}",
                    hint=_OFFLINE_HINT,
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_INDEX_BYTES:
                    return StageError(f"the Argos package index at {url} is too large")
                if time.monotonic() > deadline:
                    return StageError(
                        f"the Argos package index at {url} is too slow to download",
                        hint=_OFFLINE_HINT,
                    )
            return bytes(body)
    except httpx.HTTPError as exc:
        return StageError(
            f"cannot reach the Argos package index at {url}: {exc or type(exc).__name__}",
            hint=_OFFLINE_HINT,
        )
    except Exception as exc:  # anything else still reaches the caller, not the thread
        return exc


def parse_index(data: object) -> list[IndexEntry]:
    """Usable translation entries of an index.json document; anything odd is skipped."""
    entries = []
    for raw in data if isinstance(data, list) else []:
        if not isinstance(raw, dict) or raw.get("type", "translate") != "translate":
            continue
        codes = raw.get("from_code"), raw.get("to_code")
        if not all(isinstance(c, str) and _CODE_RE.match(c) for c in codes):
            continue
        version = raw.get("package_version")
        links = raw.get("links")
        if not isinstance(version, str) or not isinstance(links, list):
            continue
        urls = tuple(
            u for u in links if isinstance(u, str) and u.startswith(("https://", "http://"))
        )
        if urls:
            entries.append(IndexEntry(str(codes[0]), str(codes[1]), _clean_version(version), urls))
    return entries


def choose_packages(entries: list[IndexEntry], src: str, tgt: str) -> list[IndexEntry]:
    """The newest direct src→tgt package, else the two legs through English, else []."""

    newest: dict[tuple[str, str], IndexEntry] = {}
    for e in entries:
        best = newest.get((e.from_code, e.to_code))
        if best is None or _version_key(e.version) > _version_key(best.version):
            newest[(e.from_code, e.to_code)] = e
    combos = [(s, t) for s in argos_codes(src) for t in argos_codes(tgt) if s != t]
    for pair in combos:
        if pair in newest:
            return [newest[pair]]
    for s, t in combos:
        if PIVOT not in (s, t) and (s, PIVOT) in newest and (PIVOT, t) in newest:
            return [newest[(s, PIVOT)], newest[(PIVOT, t)]]
    return []


def _version_key(version: str) -> tuple[int, ...]:
    """'1.10' > '1.9': compare the numbers in a version string."""
    return tuple(int(n) for n in re.findall(r"\d+", version)[:6])


def install_from_index(
    cfg: TranslationConfig | None, src: str, tgt: str, *, url: str | None = None
) -> list[tuple[PackageInfo, bool]]:
    """Install what src→tgt needs from the index: [(package, True if newly installed)].

    cfg None (no feeds.yaml yet): into $ARGOS_PACKAGES_DIR, else argostranslate's default.

    Offline (the index unreachable within PROBE_TIMEOUT seconds) it raises StageError at
    once, with a hint naming `digest models install-file`. A package whose name and version
    is already installed is not downloaded again.
    """
    cfg = cfg or TranslationConfig()
    entries = fetch_index(url)
    chosen = choose_packages(entries, src, tgt)
    if not chosen:
        offered = sorted({f"{e.from_code}→{e.to_code}" for e in entries if e.to_code == "en"})
        raise InputError(
            f"the Argos package index has no {src}→{tgt} package, direct or through English",
            hint=f"it offers {', '.join(offered[:40]) or 'nothing'}",
        )
    installed = {p.key: p for p in installed_packages(cfg)}
    done = []
    for entry in chosen:
        have = installed.get(entry.key)
        if have is not None:
            done.append((have, False))
            continue
        done.append((_download_and_install(cfg, entry), True))
    return done


def _download_and_install(cfg: TranslationConfig, entry: IndexEntry) -> PackageInfo:
    """Stream one package to a temporary file in the packages dir, then install_file it."""
    import httpx

    root = packages_dir(cfg)
    root.mkdir(parents=True, exist_ok=True)
    errors = []
    for link in entry.links[:5]:
        fd, tmp_name = tempfile.mkstemp(prefix=".download-", suffix=".argosmodel", dir=root)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                timeout = httpx.Timeout(READ_TIMEOUT, connect=PROBE_TIMEOUT * 2)
                with (
                    httpx.Client(timeout=timeout, follow_redirects=True) as client,
                    client.stream("GET", link) as response,
                ):
                    if response.status_code != 200:
                        errors.append(f"{link}: HTTP {response.status_code}")
                        continue
                    size = 0
                    for chunk in response.iter_bytes(1 << 20):
                        size += len(chunk)
                        if size > MAX_DOWNLOAD_BYTES:
                            raise InputError(f"{link}: larger than {MAX_DOWNLOAD_BYTES} bytes")
                        out.write(chunk)
            log.info("downloaded %s (%d bytes)", link, size)
            try:
                return install_file(cfg, tmp)
            except InputError as exc:
                raise InputError(
                    f"the package downloaded from {link} is unusable: "
                    + exc.message.replace(str(tmp), "it"),
                    hint="the index may be broken; try again later or use install-file",
                ) from exc
        except httpx.HTTPError as exc:
            errors.append(f"{link}: {exc or type(exc).__name__}")
        finally:
            tmp.unlink(missing_ok=True)
    raise StageError(f"could not download {entry.key}: {'; '.join(errors)}", hint=_OFFLINE_HINT)
