"""Tests for digest.config: errors name file, line and key path; defaults; feeds.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import REPO, write_text
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.config import load_config
from digest.errors import ConfigError
from digest.ids import feed_url_key, feed_url_problem, is_slug, slugify
from digest.records import (
    FetchConfig,
    NewsletterConfig,
    SiteConfig,
    SmtpConfig,
    StoreConfig,
    TranslationConfig,
)


def error_of(tmp_path: Path, text: str) -> tuple[Path, ConfigError]:
    path = write_text(tmp_path / "feeds.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.hint, "every config error carries a hint"
    assert info.value.exit_code == 1
    return path, info.value


# ---------------------------------------------------------------- valid configs


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "feeds.yaml",
        """\
        feeds:
          - url: https://Example.org/feed/
          - url: local/feed.xml
        """,
    )
    config = load_config(path)
    assert config.path == path
    assert config.site == SiteConfig()
    assert config.store == StoreConfig()
    assert config.fetch == FetchConfig()
    assert config.translation == TranslationConfig()
    assert config.newsletter is None
    assert config.topics == ()
    first, second = config.feeds
    assert first.url == "https://Example.org/feed/"
    assert first.name == "example.org/feed"
    assert first.id == "example-org-feed"
    assert (first.language, first.tags, first.enabled) == (None, (), True)
    # local paths stay as written: the fetcher resolves them against the config's folder
    assert second.url == "local/feed.xml"
    assert second.id == "local-feed-xml"


def test_full_config_types_and_paths(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "feeds.yaml",
        """\
        site:
          title: My Digest
          base_url: https://example.net/d   # slash added
          language: zh-Hant
          window_days: 3
          templates_dir: my-templates
        store: {retention_days: 30}
        fetch: {timeout: 5, connect_timeout: 2.5, max_bytes: 1000, concurrency: 4, per_host: 1}
        translation:
          engine: none
          packages_dir: /opt/argos
          beam_size: 1
          max_decoding_length: 128
          inter_threads: 2
          intra_threads: 0
        newsletter:
          from: "Digest <d@example.org>"
          to: [a@example.org, b@example.org]
          list_id: digest.example.org
          list_unsubscribe: "mailto:u@example.org"
          smtp: {host: mail.example.org, port: 465, security: tls,
                 username_env: SMTP_USER, password_env: SMTP_PASS, ca_file: certs/ca.pem}
        topics:
          Internet shutdowns: {keywords: [shutdown, 断网]}
          审查: {keywords: [审查]}
        feeds:
          - id: cdt-en
            name: China Digital Times
            url: https://chinadigitaltimes.net/feed/
            language: en
            tags: [china, press-freedom]
            enabled: false
          - name: 中国数字时代
            url: file:///srv/feeds/cdt.xml
        """,
    )
    config = load_config(path)
    base = tmp_path.resolve()
    assert config.site == SiteConfig(
        title="My Digest",
        base_url="https://example.net/d/",
        language="zh-Hant",
        window_days=3,
        templates_dir=base / "my-templates",
    )
    assert config.store.retention_days == 30
    assert config.fetch == FetchConfig(5.0, 2.5, 1000, 4, 1)
    assert isinstance(config.fetch.timeout, float)
    assert config.translation == TranslationConfig("none", Path("/opt/argos"), 1, 128, 2, 0)
    assert config.newsletter == NewsletterConfig(
        sender="Digest <d@example.org>",
        to=("a@example.org", "b@example.org"),
        list_id="digest.example.org",
        list_unsubscribe="mailto:u@example.org",
        smtp=SmtpConfig(
            "mail.example.org", 465, "tls", "SMTP_USER", "SMTP_PASS", base / "certs/ca.pem"
        ),
    )
    assert [(t.name, t.slug, t.keywords) for t in config.topics] == [
        ("Internet shutdowns", "internet-shutdowns", ("shutdown", "断网")),
        ("审查", slugify("审查"), ("审查",)),
    ]
    assert is_slug(config.topics[1].slug)
    cdt, zh = config.feeds
    assert (cdt.id, cdt.language, cdt.tags, cdt.enabled) == (
        "cdt-en",
        "en",
        ("china", "press-freedom"),
        False,
    )
    assert zh.name == "中国数字时代" and is_slug(zh.id)
    assert config.feed("cdt-en") is cdt


def test_null_sections_and_empty_feeds_are_defaults(tmp_path: Path) -> None:
    path = write_text(tmp_path / "feeds.yaml", "site:\nstore:\nnewsletter:\ntopics:\nfeeds: []\n")
    config = load_config(path)
    assert config.site == SiteConfig() and config.newsletter is None
    assert config.feeds == () and config.topics == ()


def test_relative_config_path_resolves_against_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    write_text(
        tmp_path / "sub" / "feeds.yaml",
        "site: {templates_dir: tpl}\ntranslation: {packages_dir: ../pk}\n",
    )
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("sub/feeds.yaml"))
    assert config.site.templates_dir == tmp_path.resolve() / "sub" / "tpl"
    assert config.translation.packages_dir == tmp_path.resolve() / "sub" / "../pk"


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_bytes(b"\xef\xbb\xbffeeds:\r\n  - url: https://a.example/\r\n")
    assert load_config(path).feeds[0].url == "https://a.example/"


# ---------------------------------------------------------------- the real feeds.yaml


def test_real_feeds_yaml_loads() -> None:
    config = load_config(REPO / "feeds.yaml")
    urls = [f.url for f in config.feeds]
    assert len(urls) == len(set(urls)) and 35 <= len(urls) <= 45
    kinds = {f.kind for f in config.feeds}
    assert "state media" in kinds and "exile media" in kinds and "hong kong media" in kinds
    for feed in config.feeds:
        assert is_slug(feed.id) and feed.name and feed.tags and feed.enabled
        assert feed.language and feed.kind and feed.region, feed.id
    # today's outlets are still there, and feeds of one outlet name it
    for url in (
        "https://chinadigitaltimes.net/feed/",
        "https://www.rfa.org/arc/outboundfeeds/mandarin/rss/",
        "https://www.voachinese.com/api/zm_yql-vomx-tpeybti",
        "https://www.eff.org/rss/updates.xml",
        "https://citizenlab.ca/feed/",
    ):
        assert url in urls
    rfa = {f.outlet_name for f in config.feeds if "rfa.org" in f.url}
    assert rfa == {"Radio Free Asia"}
    # every default is spelled out, so the loaded values are the defaults
    assert config.site == SiteConfig()
    assert config.fetch == FetchConfig()
    assert config.translation == TranslationConfig()
    assert config.store == StoreConfig()
    slugs = {t.slug for t in config.topics}
    assert {"censorship", "surveillance", "internet-shutdowns", "platform-rules"} <= slugs
    keywords = {k for t in config.topics for k in t.keywords}
    for word in ("审查", "翻墙", "IP属地", "寻衅滋事", "Great Firewall", "facial recognition"):
        assert word in keywords
    text = (REPO / "feeds.yaml").read_text(encoding="utf-8")
    for key in ("list_unsubscribe", "password_env", "ca_file", "retention_days", "per_host"):
        assert key in text


# ---------------------------------------------------------------- errors: file level


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: cannot read")
    assert info.value.hint == "create one or pass --config"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert info.value.hint == "create one or pass --config"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path, exc = error_of(tmp_path, text)
    assert str(exc) == f"{path}:1: the file is empty"


@pytest.mark.parametrize(
    ("text", "kind"),
    [("- a\n- b\n", "a list"), ("just words\n", "a string"), ("42\n", "a number")],
)
def test_not_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    path, exc = error_of(tmp_path, text)
    assert str(exc).startswith(f"{path}:1: the file must be a mapping")
    assert kind in str(exc)


@pytest.mark.parametrize(
    ("text", "where", "needle"),
    [
        ("site:\n  title: a\n   b: c\n", "3:5", "mapping values are not allowed"),
        ("fetch:\n  timeout: 1\n  timeout: 2\n", "3:3", 'duplicate key "timeout"'),
        ("feeds:\n  - url: [a\n", "3:1", "expected ',' or ']'"),
        ("site:\n\ttitle: a\n", "2:1", "'\\t'"),
        ("a: 1\n---\nb: 2\n", "2:1", "another document"),
    ],
)
def test_yaml_syntax_errors(tmp_path: Path, text: str, where: str, needle: str) -> None:
    path, exc = error_of(tmp_path, text)
    message = str(exc)
    assert message.startswith(f"{path}:{where}: invalid YAML: ")
    assert needle in message
    assert "\n" not in message


def test_control_character_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_bytes(b"site:\n  title: a\x01b\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:2: invalid YAML")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_bytes("site:\n  title: 审查\n".encode("gb18030"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:2: the file is not UTF-8")


# ---------------------------------------------------------------- errors: keys


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "# c\nsite:\n  title: T\n\n\nfetch:\n  timout: 30\n",
            "7: fetch.timout: unknown key (did you mean 'timeout'?)",
        ),
        ("feed:\n  - url: x\n", "1: feed: unknown key (did you mean 'feeds'?)"),
        ("colour: red\n", "1: colour: unknown key"),
        ("site:\n  base: x\n", "2: site.base: unknown key (did you mean 'base_url'?)"),
        (
            "feeds:\n  - url: x\n    lang: en\n",
            "3: feeds[0].lang: unknown key (did you mean 'language'?)",
        ),
        (
            "topics:\n  c:\n    keyword: [a]\n",
            "3: topics.c.keyword: unknown key (did you mean 'keywords'?)",
        ),
        ("newsletter:\n  sender: x\n", "2: newsletter.sender: unknown key"),
        ("fetch:\n  1: 2\n", "2: fetch: keys must be names, got a number (1)"),
    ],
)
def test_unknown_keys(tmp_path: Path, text: str, expected: str) -> None:
    path, exc = error_of(tmp_path, text)
    assert str(exc) == f"{path}:{expected}"


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [("password", "password_env"), ("username", "username_env"), ("user", "username_env")],
)
def test_secrets_in_smtp_point_to_env(tmp_path: Path, key: str, suggestion: str) -> None:
    text = f"newsletter:\n  to: [a@example.org]\n  smtp:\n    host: h\n    {key}: hunter2\n"
    path, exc = error_of(tmp_path, text)
    assert str(exc) == (
        f"{path}:5: newsletter.smtp.{key}: unknown key (did you mean '{suggestion}'?)"
    )
    assert exc.hint is not None
    assert suggestion in exc.hint and "environment variable" in exc.hint
    assert "hunter2" not in str(exc) + exc.hint


# ---------------------------------------------------------------- errors: types and ranges


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "fetch:\n  timeout: 20s\n",
            "2: fetch.timeout: expected a number of seconds, got a string",
        ),
        (
            "fetch:\n  timeout: true\n",
            "2: fetch.timeout: expected a number of seconds, got a boolean",
        ),
        (
            "fetch:\n  concurrency: true\n",
            "2: fetch.concurrency: expected a whole number, got a boolean",
        ),
        ("fetch:\n  max_bytes: 1.5\n", "2: fetch.max_bytes: expected a whole number, got a number"),
        (
            "site:\n  window_days: '7 days'\n",
            "2: site.window_days: expected a whole number, got a string",
        ),
        ("site:\n  title: [a]\n", "2: site.title: expected a string, got a list"),
        ("site:\n  title: true\n", "2: site.title: expected a string, got a boolean"),
        ("site:\n  title: 2024-01-01\n", "2: site.title: expected a string, got a date"),
        ("site: [a, b]\n", "1: site: expected a mapping of keys, got a list"),
        ("site:\n  - title\n", "2: site: expected a mapping of keys, got a list"),
        ("fetch: 3\n", "1: fetch: expected a mapping of keys, got a number"),
        ("feeds: {url: x}\n", "1: feeds: expected a list of feeds, got a mapping"),
        ("feeds:\n  - https://a.example/\n", "2: feeds[0]: expected a mapping with at least a url"),
        (
            "feeds:\n  - url: x\n    tags: china\n",
            "3: feeds[0].tags: expected a list of strings, got a string",
        ),
        (
            "feeds:\n  - url: x\n    tags: [a, 3]\n",
            "3: feeds[0].tags[1]: expected a string, got a number",
        ),
        ("feeds:\n  - url: x\n    enabled: maybe\n", "3: feeds[0].enabled: expected true or false"),
        (
            "feeds:\n  - url: x\n    language: 5\n",
            "3: feeds[0].language: expected a string or null",
        ),
        ("feeds:\n  - url: 5\n", "2: feeds[0].url: expected a string, got a number"),
        ("newsletter:\n  to: {a: b}\n", "2: newsletter.to: expected a list of strings"),
        ('newsletter:\n  from: "a\\nBcc: x"\n', "2: newsletter.from: must be one line"),
        (
            "newsletter:\n  smtp: [a]\n",
            "2: newsletter.smtp: expected a mapping of keys, got a list",
        ),
        (
            "newsletter:\n  smtp:\n    port: '25a'\n",
            "3: newsletter.smtp.port: expected a whole number",
        ),
        (
            "newsletter:\n  smtp:\n    password_env: my secret\n",
            "3: newsletter.smtp.password_env: 'my secret' is not an environment variable name",
        ),
        (
            "site:\n  base_url: /digest/\n",
            "2: site.base_url: '/digest/' is not an absolute http(s) URL",
        ),
        (
            "fetch:\n  per_host: &t true\n",
            "2: fetch.per_host: expected a whole number, got a boolean",
        ),
    ],
)
def test_wrong_types(tmp_path: Path, text: str, expected: str) -> None:
    path, exc = error_of(tmp_path, text)
    assert str(exc).startswith(f"{path}:{expected}"), str(exc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fetch:\n  timeout: 0\n", "2: fetch.timeout: must be greater than 0, got 0"),
        ("fetch:\n  connect_timeout: -1.5\n", "2: fetch.connect_timeout: must be greater than 0"),
        ("fetch:\n  timeout: .nan\n", "2: fetch.timeout: must be greater than 0"),
        ("fetch:\n  timeout: .inf\n", "2: fetch.timeout: must be greater than 0"),
        ("fetch:\n  max_bytes: 0\n", "2: fetch.max_bytes: must be at least 1, got 0"),
        ("fetch:\n  concurrency: 0\n", "2: fetch.concurrency: must be at least 1, got 0"),
        ("fetch:\n  per_host: -2\n", "2: fetch.per_host: must be at least 1, got -2"),
        ("site:\n  window_days: 0\n", "2: site.window_days: must be at least 1, got 0"),
        ("store:\n  retention_days: 0\n", "2: store.retention_days: must be at least 1, got 0"),
        (
            "store:\n  retention_days: forever\n",
            "2: store.retention_days: expected a whole number or null",
        ),
        ("translation:\n  beam_size: 0\n", "2: translation.beam_size: must be at least 1, got 0"),
        (
            "translation:\n  engine: google\n",
            "2: translation.engine: must be one of argos | none, got 'google'",
        ),
        (
            "newsletter:\n  smtp: {security: ssl}\n",
            "2: newsletter.smtp.security: must be one of starttls | tls | none, got 'ssl'",
        ),
        (
            "newsletter:\n  smtp:\n    port: 70000\n",
            "3: newsletter.smtp.port: must be at most 65535, got 70000",
        ),
        ("site:\n  language: english\n", "2: site.language: 'english' is not a language code"),
        ("site:\n  language: zh_CN\n", "2: site.language: 'zh_CN' is not a language code"),
        ("site:\n  title: ''\n", "2: site.title: must not be empty"),
        (
            "translation:\n  executor: ray\n",
            "2: translation.executor: must be one of local | dask, got 'ray'",
        ),
        (
            "translation:\n  executor: dask\n  cluster: http://10.0.0.5:8786\n",
            "3: translation.cluster: 'http://10.0.0.5:8786' is not a Dask scheduler address",
        ),
        (
            "translation:\n  executor: dask\n  cluster: tcp://10.0.0.5\n",
            "3: translation.cluster: 'tcp://10.0.0.5' is not a Dask scheduler address",
        ),
        (
            "translation:\n  beam_size: 2\n  cluster: tcp://10.0.0.5:8786\n",
            "3: translation.cluster: a scheduler address is set but translation.executor is local",
        ),
        ("translation:\n  workers: 0\n", "2: translation.workers: must be at least 1, got 0"),
    ],
)
def test_out_of_range(tmp_path: Path, text: str, expected: str) -> None:
    path, exc = error_of(tmp_path, text)
    assert str(exc).startswith(f"{path}:{expected}"), str(exc)


def test_dask_executor_settings(tmp_path: Path) -> None:
    text = "translation:\n  executor: dask\n  cluster: tcp://10.0.0.5:8786\n  workers: 3\n"
    cfg = load_config(write_text(tmp_path / "feeds.yaml", text)).translation
    assert (cfg.executor, cfg.cluster, cfg.workers) == ("dask", "tcp://10.0.0.5:8786", 3)
    default = load_config(write_text(tmp_path / "feeds.yaml", "feeds: []\n")).translation
    assert (default.executor, default.cluster, default.workers) == ("local", None, None)


def test_yaml_1_2_yes_is_a_string(tmp_path: Path) -> None:
    assert (
        load_config(write_text(tmp_path / "feeds.yaml", "site:\n  title: yes\n")).site.title
        == "yes"
    )


def test_retention_null_is_allowed(tmp_path: Path) -> None:
    path = write_text(tmp_path / "feeds.yaml", "store:\n  retention_days: null\n")
    assert load_config(path).store.retention_days is None


# ---------------------------------------------------------------- errors: feeds and topics


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "feeds:\n  - name: A\n    language: en\n",
            "2: feeds[0].url: missing: every feed needs a url",
        ),
        (
            "feeds:\n  - url: javascript:alert(1)\n",
            "2: feeds[0].url: 'javascript:alert(1)' has unsupported scheme 'javascript:'",
        ),
        (
            "feeds:\n  - url: ftp://a.example/f\n",
            "2: feeds[0].url: 'ftp://a.example/f' has unsupported scheme 'ftp:'",
        ),
        ("feeds:\n  - url: 'http:/a.example'\n", "2: feeds[0].url: 'http:/a.example' needs a host"),
        ("feeds:\n  - url: 'https://'\n", "2: feeds[0].url: 'https://' needs a host"),
        (
            "feeds:\n  - url: https://a b.example/\n",
            "2: feeds[0].url: 'https://a b.example/' contains spaces",
        ),
        (
            "feeds:\n  - url: https://u:p@a.example/\n",
            "2: feeds[0].url: 'https://u:p@a.example/' contains a user name or password",
        ),
        (
            "feeds:\n  - url: https://a.example:99999/\n",
            "2: feeds[0].url: 'https://a.example:99999/' has an invalid port",
        ),
        (
            "feeds:\n  - url: //a.example/f\n",
            "2: feeds[0].url: '//a.example/f' is a scheme-relative URL",
        ),
        ("feeds:\n  - url: ''\n", "2: feeds[0].url: must not be empty"),
        ("feeds:\n  - id: CDT_en\n    url: x\n", "2: feeds[0].id: 'CDT_en' is not a slug"),
        ("feeds:\n  - id: a--b\n    url: x\n", "2: feeds[0].id: 'a--b' is not a slug"),
        ("feeds:\n  - id: 7\n    url: x\n", "2: feeds[0].id: expected a string"),
        ("feeds:\n  - url: x\n    name: ''\n", "3: feeds[0].name: must not be empty"),
    ],
)
def test_bad_feeds(tmp_path: Path, text: str, expected: str) -> None:
    path, exc = error_of(tmp_path, text)
    assert str(exc).startswith(f"{path}:{expected}"), str(exc)


def test_bad_id_hint_suggests_a_slug(tmp_path: Path) -> None:
    _, exc = error_of(tmp_path, "feeds:\n  - id: CDT_en\n    url: x\n")
    assert str(exc).endswith(
        "'CDT_en' is not a slug (lower-case letters, digits, single hyphens: 'cdt-en')"
    )


def test_duplicate_url_names_both_lines(tmp_path: Path) -> None:
    text = """\
    feeds:
      - id: a
        url: https://A.example/feed/
      - id: b
        url: https://a.example:443/feed#top
    """
    path, exc = error_of(tmp_path, text)
    assert str(exc) == f"{path}:5: feeds[1].url: same feed URL as feeds[0].url (line 3)"


def test_duplicate_local_paths(tmp_path: Path) -> None:
    text = f"feeds:\n  - id: a\n    url: demo/a.xml\n  - id: b\n    url: file://{tmp_path}/demo/./a.xml\n"
    path, exc = error_of(tmp_path, text)
    assert str(exc) == f"{path}:5: feeds[1].url: same feed URL as feeds[0].url (line 3)"


def test_duplicate_explicit_id_names_both_lines(tmp_path: Path) -> None:
    text = """\
    feeds:
      - id: cdt
        url: https://a.example/
      # another
      - url: https://b.example/
        id: cdt
    """
    path, exc = error_of(tmp_path, text)
    assert str(exc) == f"{path}:6: feeds[1].id: 'cdt' is already the id of feeds[0] (line 2)"


def test_duplicate_derived_id(tmp_path: Path) -> None:
    text = """\
    feeds:
      - name: Global Voices
        url: https://a.example/
      - name: global voices!
        url: https://b.example/
    """
    path, exc = error_of(tmp_path, text)
    assert str(exc) == (
        f"{path}:4: feeds[1].id: 'global-voices' (derived from the name) "
        "is already the id of feeds[0] (line 2)"
    )
    assert exc.hint is not None and "explicit id" in exc.hint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("topics:\n  c: {keywords: []}\n", "2: topics.c.keywords: must list at least one entry"),
        (
            "topics:\n  c:\n    keywords:\n",
            "3: topics.c.keywords: expected a list of strings, got null",
        ),
        ("topics:\n  c: {}\n", "2: topics.c.keywords: missing"),
        ("topics:\n  c: [a, b]\n", "2: topics.c: expected a mapping with keywords, got a list"),
        (
            "topics:\n  c:\n    keywords: [a,\n      5]\n",
            "4: topics.c.keywords[1]: expected a string, got a number",
        ),
        ("topics:\n  c:\n    keywords: [a, '  ']\n", "3: topics.c.keywords[1]: must not be empty"),
        ("topics: [a]\n", "1: topics: expected a mapping of keys, got a list"),
        (
            "topics:\n  Censorship: {keywords: [a]}\n  censorship!: {keywords: [b]}\n",
            "3: topics.censorship!: has the same slug 'censorship' as topic 'Censorship' (line 2)",
        ),
    ],
)
def test_bad_topics(tmp_path: Path, text: str, expected: str) -> None:
    path, exc = error_of(tmp_path, text)
    assert str(exc).startswith(f"{path}:{expected}"), str(exc)


# ---------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("China Digital Times", "china-digital-times"),
        ("  Café -- Déjà vu!  ", "cafe-deja-vu"),
        ("ARTICLE 19", "article-19"),
        ("cdt-en", "cdt-en"),
    ],
)
def test_slugify_examples(text: str, slug: str) -> None:
    assert slugify(text) == slug


def test_slugify_non_ascii_gets_a_hash() -> None:
    mandarin, cantonese = slugify("RFA 普通话"), slugify("RFA 粤语")
    assert mandarin.startswith("rfa-") and cantonese.startswith("rfa-")
    assert mandarin != cantonese
    assert len(slugify("审查")) == 8 and slugify("审查") == slugify("审查")
    assert slugify("审查") != slugify("监控")


@settings(derandomize=True, max_examples=200)
@given(st.text(max_size=200))
def test_slugify_always_gives_a_slug(text: str) -> None:
    slug = slugify(text)
    assert is_slug(slug)
    assert slugify(slug) == slug


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://Example.ORG/feed/", "https://example.org/feed"),
        ("HTTP://example.org:80/x", "http://example.org/x"),
        ("https://example.org/x#frag", "https://example.org/x/"),
        ("https://example.org", "https://example.org/"),
    ],
)
def test_feed_url_key_equal(a: str, b: str) -> None:
    assert feed_url_key(a) == feed_url_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://example.org/feed", "http://example.org/feed"),
        ("https://example.org/Feed", "https://example.org/feed"),
        ("https://example.org/f?a=1", "https://example.org/f?a=2"),
    ],
)
def test_feed_url_key_different(a: str, b: str) -> None:
    assert feed_url_key(a) != feed_url_key(b)


def test_feed_url_problem_local_switch() -> None:
    assert feed_url_problem("demo/a.xml") is None
    assert feed_url_problem("file:///tmp/a.xml") is None
    assert feed_url_problem("demo/a.xml", allow_local=False) is not None
    assert feed_url_problem("file:///tmp/a.xml", allow_local=False) is not None
    assert feed_url_problem("https://a.example/", allow_local=False) is None
