"""The translate stage: titles and summaries not in the site language, never twice per model.

Batches run on an executor (this process, or Dask workers); this process alone writes the
results, one transaction per batch, so a lost worker or scheduler loses nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from digest.language import UNDETERMINED
from digest.progress import QUIET, Progress
from digest.records import Config, TranslationConfig
from digest.store import Store, TranslationTask, text_hash, utc_now
from digest.translate.batches import Batch, Executor, ExecutorLost, LocalExecutor, batch_items
from digest.translate.engine import Translator, make_translator, missing_model_note
from digest.translate.executors import make_executor
from digest.wording import plural

__all__ = ["TranslateSummary", "run"]


@dataclass
class TranslateSummary:
    """What one translate stage did."""

    translated: int = 0  # texts through the model
    cached: int = 0  # texts found in the cache
    items: int = 0  # items whose translation was (re)made
    no_model: Counter[str] = field(default_factory=Counter)  # lang -> items without a model
    notes: dict[str, str] = field(default_factory=dict)  # lang -> why
    executor: str | None = None  # where the model ran, when not in this process

    def line(self) -> str:
        """One line for cron mail."""
        text = (
            f"translate: {plural(self.items, 'item')}, {plural(self.translated, 'text')} "
            f"translated, {self.cached} from cache"
        )
        if self.executor:
            text += f" (on {self.executor})"
        for lang, count in sorted(self.no_model.items()):
            note = self.notes.get(lang, "no model available")
            text += f"; {plural(count, 'item')} in {lang}: {note}"
        return text


def run(
    config: Config,
    store: Store,
    *,
    translator_factory: Callable[[TranslationConfig], Translator | None] | None = None,
    executor: Executor | None = None,
    cluster: str | None = None,
    progress: Progress = QUIET,
) -> TranslateSummary:
    """Translate titles and summaries not in the site language; never twice for one model.

    Batches run on the configured executor (this process, or Dask: `cluster` overrides
    translation.cluster); this process alone writes results, one transaction per batch.
    """
    summary = TranslateSummary()
    tgt = config.site.language
    tasks = store.translation_tasks(tgt)
    if not tasks:
        return summary
    factory = translator_factory or make_translator
    translator = factory(config.translation)
    by_lang: dict[str, list[TranslationTask]] = defaultdict(list)
    for task in tasks:
        by_lang[task.lang].append(task)
    now = utc_now()
    work: list[tuple[str, str, list[TranslationTask]]] = []  # (lang, model, items to do)
    for lang, group in sorted(by_lang.items()):
        known = lang != UNDETERMINED
        ref = translator.model_for(lang, tgt) if translator is not None and known else None
        if ref is None:
            if translator is None:
                note = "translation is off (translation.engine: none)"
            elif not known:
                note = "language not recognised; set the feed's language in the config"
            else:
                note = missing_model_note(lang, tgt)
            stale = [t for t in group if t.status != "no-model" or t.done_hash != t.source_hash]
            with store.transaction():
                for t in stale:
                    store.set_item_translation(
                        t.item_id,
                        tgt,
                        source_hash=t.source_hash,
                        model=None,
                        status="no-model",
                        note=note,
                        title=None,
                        summary=None,
                        now=now,
                    )
            summary.no_model[lang] += len(group)
            summary.notes[lang] = note
            continue
        todo = [
            t
            for t in group
            if not (
                t.status == "translated" and t.model == ref.name and t.done_hash == t.source_hash
            )
        ]
        if todo:
            work.append((lang, ref.name, todo))
    if not work:
        return summary
    assert translator is not None  # a model was found through it
    size = executor.batch_items if executor else batch_items(config.translation, cluster)
    pending = _plan_batches(store, work, tgt, size, summary)
    total = sum(len(todo) for _, _, todo in work)
    progress.start(f"translate {', '.join(lang for lang, _, _ in work)}", total)
    for chunk in pending.ready:
        _write_chunk(store, chunk, {}, tgt, summary)
        progress.advance(len(chunk.items))
    if pending.batches:
        runner = executor or make_executor(config.translation, translator, cluster=cluster)
        if not isinstance(runner, LocalExecutor):
            summary.executor = runner.description
        try:
            for batch, outputs in runner.run(pending.batches):
                owner = pending.waiting.get(batch.key)
                if owner is None:
                    continue  # a result delivered twice is written once
                del pending.waiting[batch.key]
                fresh = dict(zip(owner.missing, outputs, strict=True))
                _write_chunk(store, owner, fresh, tgt, summary)
                progress.advance(len(owner.items))
        except ExecutorLost as exc:
            written = (
                f"{summary.items} of {plural(total, 'item')} {'was' if total == 1 else 'were'}"
                " translated and stored"
            )
            raise ExecutorLost(f"{exc.message}; {written}", hint=exc.hint) from exc
        finally:
            if executor is None:
                runner.close()
    progress.close()
    return summary


@dataclass
class _Chunk:
    """Items translated and written together: one model call, one transaction."""

    lang: str
    model: str
    items: list[TranslationTask]
    texts: dict[str, str]  # text hash -> source text
    cached: dict[str, str]  # text hash -> translation already in the cache
    missing: list[str]  # text hashes for the model, in batch order


@dataclass
class _Pending:
    ready: list[_Chunk] = field(default_factory=list)  # everything cached: nothing to run
    batches: list[Batch] = field(default_factory=list)
    waiting: dict[int, _Chunk] = field(default_factory=dict)  # batch key -> its chunk


def _plan_batches(
    store: Store,
    work: list[tuple[str, str, list[TranslationTask]]],
    tgt: str,
    step: int,
    summary: TranslateSummary,
) -> _Pending:
    """Cut the work into chunks of `step` items, look each up in the cache, batch the rest."""
    pending = _Pending()
    for lang, model, todo in work:
        for start in range(0, len(todo), step):
            items = todo[start : start + step]
            texts = {text_hash(s): s for t in items for s in (t.title, t.summary) if s.strip()}
            cached = store.cached_translations(texts, lang, tgt, model)
            missing = [h for h in texts if h not in cached]
            summary.cached += len(cached)
            chunk = _Chunk(lang, model, items, texts, cached, missing)
            if not missing:
                pending.ready.append(chunk)
                continue
            key = len(pending.batches)
            pending.waiting[key] = chunk
            texts_out = tuple(texts[h] for h in missing)
            pending.batches.append(Batch(key, lang, tgt, model, texts_out))
    return pending


def _write_chunk(
    store: Store, chunk: _Chunk, fresh: dict[str, str], tgt: str, summary: TranslateSummary
) -> None:
    """Record one chunk's translations (new ones cached) in one transaction."""
    summary.translated += len(fresh)
    done = {**chunk.cached, **fresh}
    now = utc_now()
    with store.transaction():
        store.save_translations(fresh.items(), chunk.lang, tgt, chunk.model, now)
        for t in chunk.items:
            store.set_item_translation(
                t.item_id,
                tgt,
                source_hash=t.source_hash,
                model=chunk.model,
                status="translated",
                note=None,
                title=done.get(text_hash(t.title), ""),
                summary=done.get(text_hash(t.summary), ""),
                now=now,
            )
            summary.items += 1
