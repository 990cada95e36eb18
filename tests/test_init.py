"""A new user's first hour: `digest init`, models without a config, a first run.

The starter feeds.yaml is the repository's own file (a wheel carries it as
digest/starter/feeds.yaml, see pyproject.toml), so the two cannot drift: these tests check the
starter found is that file, that init writes it byte for byte, and that the wheel's mapping
points where starter_path() looks.
"""

from __future__ import annotations

import os
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from builders import REAL_NOW, REPO, entries, main_exit, rss, run_digest
from httpserver import LoopbackServer

from digest.config import load_config
from digest.config.starter import init_digest, starter_path
from digest.errors import InputError

# ---------------------------------------------------------------- digest init


def test_the_starter_is_the_repository_feed_list() -> None:
    assert starter_path() == REPO / "feeds.yaml"
    config = load_config(starter_path())
    assert len(config.feeds) >= 40
    # every outlet is described: what kind of source it is, and where it reports on
    assert all(f.kind and f.region for f in config.feeds)


def test_the_wheel_ships_the_starter_where_the_code_looks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """pyproject.toml force-includes feeds.yaml as digest/starter/feeds.yaml; an installed
    package (no repository around it) reads it from there."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    include = project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert include["feeds.yaml"] == "digest/starter/feeds.yaml"
    # An installed layout: site-packages/digest/{config/starter.py, starter/feeds.yaml}.
    import digest.config.starter as starter

    installed = tmp_path / "site-packages" / "digest"
    (installed / "config").mkdir(parents=True)
    (installed / "starter").mkdir()
    (installed / "starter" / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    monkeypatch.setattr(starter, "__file__", str(installed / "config" / "starter.py"))
    assert starter.starter_path() == installed / "starter" / "feeds.yaml"


def test_init_writes_the_starter_and_the_next_steps(tmp_path: Path) -> None:
    done = run_digest("init", "mydigest", cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    written = tmp_path / "mydigest" / "feeds.yaml"
    assert written.read_bytes() == (REPO / "feeds.yaml").read_bytes()
    assert sorted(os.listdir(tmp_path / "mydigest")) == ["feeds.yaml"]
    out = done.stdout
    feeds = len(load_config(written).feeds)
    assert out.startswith(f"wrote mydigest/feeds.yaml: {feeds} feeds of ")
    # The steps in the order a new user takes them: models, run, cron, newsletter.
    steps = ["models install zh en", "digest run", "crontab", "newsletter --send"]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions), out
    assert f"cd {(tmp_path / 'mydigest').resolve()} && " in out  # cron starts nowhere in particular


def test_init_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "feeds.yaml"
    mine.write_text("feeds: []  # mine\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    assert main_exit(["init"]) == 1
    _, err = capsys.readouterr()
    assert err.startswith("error: feeds.yaml already exists: digest init never overwrites it")
    assert mine.read_text(encoding="utf-8") == "feeds: []  # mine\n"
    # A dangling symlink is something too.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "feeds.yaml").symlink_to(tmp_path / "nowhere.yaml")
    with pytest.raises(InputError):
        init_digest(tmp_path / "other" / "feeds.yaml")
    assert not (tmp_path / "nowhere.yaml").exists()
    # A file where the folder should be.
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="cannot make the folder"):
        init_digest(tmp_path / "afile" / "feeds.yaml")


def test_init_with_an_opml_file_keeps_every_setting_and_takes_its_feeds(tmp_path: Path) -> None:
    opml = tmp_path / "reader.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline text="China">'
        '<outline text="美国之音中文网" xmlUrl="https://www.voachinese.com/api/zm-yql-vomx-tpeybti"'
        ' language="zh"/>'
        '<outline text="Hong Kong Free Press" xmlUrl="https://hongkongfp.com/feed/"/>'
        '<outline text="A blog I read" htmlUrl="https://blog.example/"/>'
        "</outline></body></opml>",
        encoding="utf-8",
    )
    result = init_digest(tmp_path / "d" / "feeds.yaml", opml=opml)
    config = load_config(tmp_path / "d" / "feeds.yaml")
    starter = load_config(REPO / "feeds.yaml")
    assert [(f.id, f.language, f.tags) for f in config.feeds] == [
        ("voachinese", "zh", ("china",)),
        ("hong-kong-free-press", None, ("china",)),
    ]
    assert (config.site, config.fetch, config.topics) == (
        starter.site,
        starter.fetch,
        starter.topics,
    )
    assert result.skipped == [("A blog I read", "has no feed URL (xmlUrl): nothing to fetch")]
    assert result.languages == ("zh",)
    text = (tmp_path / "d" / "feeds.yaml").read_text(encoding="utf-8")
    assert "# The newsletter is off until" in text  # the starter's comments stay


def test_feeds_list_describes_each_outlet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_exit(["--config", str(REPO / "feeds.yaml"), "feeds", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "LANGUAGE", "OUTLET", "KIND", "REGION", "URL"]
    cdt = next(line for line in lines if line.startswith("cdt-zh "))
    assert cdt.split("  ")[0] == "cdt-zh"
    words = " ".join(cdt.split())
    assert words == (
        "cdt-zh zh China Digital Times exile media china https://chinadigitaltimes.net/chinese/feed/"
    )
    assert lines[-1] == f"{len(load_config(REPO / 'feeds.yaml').feeds)} feeds"


# ---------------------------------------------------------------- models without a config


def test_models_work_in_a_fresh_folder_without_a_config(tmp_path: Path) -> None:
    import tinymodel

    archive = tinymodel.build_copy_model(tmp_path / "downloads", "zh", "en")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    env = {"ARGOS_PACKAGES_DIR": str(tmp_path / "argos")}
    installed = run_digest("models", "install-file", str(archive), cwd=fresh, env=env)
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.startswith("installed translate-zh_en")
    assert (tmp_path / "argos").is_dir()
    listed = run_digest("models", "list", cwd=fresh, env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[:3] == [
        f"packages dir: {tmp_path / 'argos'}",
        "no feeds.yaml: the defaults apply (site language en)",
        "installed: translate-zh_en 1.0 (zh→en)",
    ]
    assert sorted(os.listdir(fresh)) == []  # nothing written where the user stands
    # A config named on purpose must exist: a typo is not silently ignored.
    missing = run_digest("--config", "typo.yaml", "models", "list", cwd=fresh, env=env)
    assert missing.returncode == 1
    assert "typo.yaml: cannot read the configuration" in missing.stderr


def test_models_list_counts_the_languages_seen_in_the_store(tmp_path: Path) -> None:
    from builders import add_item

    from digest import models_report
    from digest.records import Config, FeedConfig, TranslationConfig
    from digest.workspace import Workspace

    ws = Workspace(tmp_path / "feeds.yaml", tmp_path / ".digest")
    with ws.open_store() as store:
        for i in range(3):
            add_item(store, "f", f"zh-{i}", f"标题{i}", hours_ago=i, lang="zh")
        add_item(store, "f", "fa-0", "عنوان", hours_ago=1, lang="fa")
        add_item(store, "f", "en-0", "Title", hours_ago=1, lang="en")
    config = Config(
        path=ws.config_path,
        translation=TranslationConfig(packages_dir=tmp_path / "none"),
        feeds=(
            FeedConfig(id="f", name="F", url="f.xml", language="en"),
            FeedConfig(id="g", name="G", url="g.xml", language="ug"),
        ),
    )
    report = models_report(config, ws)
    fa = next(line for line in report if line.startswith("fa→en"))
    zh = next(line for line in report if line.startswith("zh→en"))
    ug = next(line for line in report if line.startswith("ug→en"))
    # Detected while fetching, not declared by any feed: listed, counted, with the command.
    assert fa.endswith("; 1 item in the store")
    assert "digest models install fa en" in fa
    assert zh.endswith("; 3 items in the store") and "digest models install zh en" in zh
    assert ug.endswith("; no items in the store yet")  # declared, nothing fetched yet
    assert not any(line.startswith("en→") for line in report)
    # Without a config the store still speaks.
    bare = models_report(None, ws)
    assert any(line.startswith("zh→en") and "3 items" in line for line in bare)


# ---------------------------------------------------------------- the whole first hour


def test_a_digest_from_an_empty_folder(tmp_path: Path, srv: LoopbackServer) -> None:
    """init, a model, a run on loopback feeds, the site: nothing in the folder by hand."""
    import tinymodel

    recent = REAL_NOW - timedelta(hours=5)  # inside the starter's 7-day window
    en = entries(
        [
            ("en-1", "https://en.example/1", "Regulator shuts self-media accounts", "Shut."),
            ("en-2", "https://en.example/2", "Apple removes VPN apps from its store", "Gone."),
        ],
        start=recent,
    )
    # Words the tiny model's tokenizer knows, about another event: a story of its own.
    zh = entries(
        [("zh-1", "https://zh.example/1", "警方拘留了三名维权人士", "律师表示担心。")], start=recent
    )
    srv.route("/en.xml", body=rss("English news", en, lang="en"))
    srv.route("/zh.xml", body=rss("中文新闻", zh, lang="zh"))
    opml = (
        '<?xml version="1.0"?><opml version="2.0"><body>'
        f'<outline text="English news" xmlUrl="{srv.url("/en.xml")}"/>'
        f'<outline text="中文新闻" xmlUrl="{srv.url("/zh.xml")}" language="zh"/>'
        "</body></opml>"
    )
    # The model is a download: it lives outside the digest's folder.
    archive = tinymodel.build_copy_model(tmp_path / "downloads", "zh", "en")
    env = {"ARGOS_PACKAGES_DIR": str(tmp_path / "argos")}
    home = tmp_path / "mydigest"

    # Loopback feeds are the operator's own network: refused by default, taken when asked.
    refused = run_digest("init", str(home), "--opml", "-", cwd=tmp_path, env=env, stdin=opml)
    assert refused.returncode == 1 and "loopback" in refused.stderr, refused.stderr
    assert "--allow-private" in refused.stderr and not home.exists()
    init = run_digest(
        "init", str(home), "--opml", "-", "--allow-private", cwd=tmp_path, env=env, stdin=opml
    )
    assert init.returncode == 0, init.stderr
    assert "2 feeds of 2 outlets" in init.stdout
    model = run_digest("models", "install-file", str(archive), cwd=home, env=env)
    assert model.returncode == 0, model.stderr
    listed = run_digest("models", "list", cwd=home, env=env)
    assert "zh→en: direct (translate-zh_en-1.0)" in listed.stdout
    first = run_digest("run", cwd=home, env=env)
    assert first.returncode == 0, first.stderr
    assert "fetch: 2 feeds, 2 ok" in first.stdout

    # Only what digest wrote: the config, its state, the site link and its versions.
    names = sorted(os.listdir(home))
    assert names[:3] == [".digest", "feeds.yaml", "site"], names
    assert all(n.startswith("site.") for n in names[3:]), names
    site = home / "site"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "Regulator shuts self-media accounts" in index
    assert "警方拘留了三名维权人士" in index  # the copy model's "translation" of itself
    assert "Machine translation" in index
    assert (site / "about.html").is_file() and (site / "build.json").is_file()
    listed = run_digest("models", "list", cwd=home, env=env)
    assert "zh→en: direct (translate-zh_en-1.0); 1 item in the store" in listed.stdout
