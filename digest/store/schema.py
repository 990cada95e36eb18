"""The SQLite schema as migrations: PRAGMA user_version counts the steps applied."""

# Each entry migrates the schema from version i to i+1; never edit a released step, add one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE feeds (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,                 -- the URL in the config at the last sync
        effective_url TEXT,                -- after a permanent redirect (301/308)
        name TEXT NOT NULL DEFAULT '',
        title TEXT,                        -- the feed's own title, as last parsed
        etag TEXT,
        last_modified TEXT,
        last_attempt TEXT,
        last_success TEXT,
        last_status INTEGER,
        last_error TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        gone INTEGER NOT NULL DEFAULT 0,
        next_fetch TEXT
    );
    CREATE TABLE fetch_log (
        id INTEGER PRIMARY KEY,
        feed_id TEXT NOT NULL,
        at TEXT NOT NULL,
        url TEXT NOT NULL,
        status INTEGER,
        duration REAL NOT NULL,
        bytes INTEGER NOT NULL DEFAULT 0,
        not_modified INTEGER NOT NULL DEFAULT 0,
        items_seen INTEGER NOT NULL DEFAULT 0,
        items_new INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        warning TEXT
    );
    CREATE INDEX fetch_log_feed ON fetch_log(feed_id, at);
    CREATE TABLE items (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        link TEXT NOT NULL,
        title TEXT NOT NULL,
        summary TEXT NOT NULL,
        content_html TEXT NOT NULL,
        published TEXT NOT NULL,
        date_is_fallback INTEGER NOT NULL,
        lang TEXT NOT NULL,
        content_key TEXT NOT NULL,
        author TEXT,
        first_seen TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        story_id TEXT
    );
    CREATE INDEX items_url ON items(url) WHERE url <> '';
    CREATE INDEX items_content_key ON items(content_key);
    CREATE INDEX items_published ON items(published);
    CREATE INDEX items_story ON items(story_id);
    CREATE TABLE item_sources (
        feed_id TEXT NOT NULL,
        guid TEXT NOT NULL,
        item_id TEXT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        first_seen TEXT NOT NULL,
        PRIMARY KEY (feed_id, guid)
    );
    CREATE INDEX item_sources_item ON item_sources(item_id);
    -- the translation cache: one row per distinct text, language pair and model
    CREATE TABLE translations (
        text_hash TEXT NOT NULL,
        src TEXT NOT NULL,
        tgt TEXT NOT NULL,
        model TEXT NOT NULL,
        translated TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (text_hash, src, tgt, model)
    );
    -- what each item shows in the site language, and why
    CREATE TABLE item_translations (
        item_id TEXT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        tgt TEXT NOT NULL,
        source_hash TEXT NOT NULL,         -- of the title and summary it was made from
        model TEXT,                        -- NULL when no model was available
        status TEXT NOT NULL,              -- translated | no-model
        note TEXT,
        title TEXT,
        summary TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (item_id, tgt)
    );
    CREATE TABLE stories (
        id TEXT PRIMARY KEY,
        headline TEXT NOT NULL,
        topics TEXT NOT NULL DEFAULT '[]',  -- JSON list of topic names
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE hidden (
        id TEXT PRIMARY KEY,               -- an item or a story id
        reason TEXT NOT NULL,
        at TEXT NOT NULL
    );
    """,
    # the newsletter (issue 6): every issue as built, and each recipient's delivery state
    """
    CREATE TABLE newsletter_issues (
        id TEXT PRIMARY KEY,               -- e.g. 2026-11-21, or 2026-11-21-2 for a second one
        number INTEGER NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        since TEXT,                        -- what it covers: items new after this time
        until TEXT NOT NULL,
        subject TEXT NOT NULL,
        html TEXT NOT NULL,                -- the HTML part (no recipient address in it)
        text TEXT NOT NULL,                -- the plain-text part
        stories TEXT NOT NULL DEFAULT '[]', -- JSON list of story ids
        items TEXT NOT NULL DEFAULT '[]'    -- JSON list of the item ids it covered
    );
    CREATE TABLE newsletter_deliveries (
        issue_id TEXT NOT NULL REFERENCES newsletter_issues(id) ON DELETE CASCADE,
        recipient TEXT NOT NULL,
        message_id TEXT NOT NULL,
        status TEXT NOT NULL,              -- pending | sending | sent | failed
        permanent INTEGER NOT NULL DEFAULT 0,  -- failed with a 5xx: not retried unless --force
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (issue_id, recipient)
    );
    """,
    # takedown (issue 5): an item hidden because its story was names that story in `via`,
    # so unhiding the story shows it again, while re-clustering cannot bring it back
    """
    ALTER TABLE hidden ADD COLUMN via TEXT;
    CREATE INDEX hidden_via ON hidden(via);
    """,
    # stories (issue 4): key terms per story, and where the ids of merged stories now point
    """
    ALTER TABLE stories ADD COLUMN key_terms TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE story_redirects (
        old_id TEXT PRIMARY KEY,           -- a story id that no longer exists (merged away)
        new_id TEXT NOT NULL,              -- the story that took most of its items
        at TEXT NOT NULL
    );
    """,
    # incremental labelling (issue 4): a fingerprint of what a story's labels were made from,
    # so a cluster run relabels only stories whose items, texts or visibility changed
    """
    ALTER TABLE stories ADD COLUMN label_hash TEXT;
    """,
    # incremental clustering (issue 4): each item's tokens, kept so that a cluster run
    # tokenises only new or changed texts; source_hash says which text they came from
    """
    CREATE TABLE item_features (
        item_id TEXT PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
        source_hash TEXT NOT NULL,         -- of the tokeniser, language and text clustered
        continuous INTEGER NOT NULL,       -- the text is in a script written without spaces
        tokens TEXT NOT NULL,              -- clustering tokens, space-separated
        terms TEXT NOT NULL                -- key-term tokens (unstemmed), space-separated
    );
    """,
    # fast incremental clustering (issue 4): window statistics and per-story sketches kept in
    # the store, so a cluster run reads only the new items and the stories near them.
    # Triggers record what changed between runs: an item whose text changed gets dirty
    # features, a story whose labelling inputs changed loses its label_hash, a story whose
    # members' feeds changed gets a stale sketch, and deleting an item inside the counted
    # window drops the statistics (the next run recounts them).
    """
    ALTER TABLE item_features ADD COLUMN dirty INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX item_features_dirty ON item_features(item_id) WHERE dirty = 1;
    CREATE TABLE term_stats (
        id INTEGER PRIMARY KEY,            -- referenced by story_sketches.terms
        kind INTEGER NOT NULL,             -- 0/1: clustering tokens, spaced/unspaced scripts
                                           -- (document frequency); 2: key-term tokens (count)
        term TEXT NOT NULL,
        n INTEGER NOT NULL,
        UNIQUE (kind, term)
    );
    CREATE TABLE story_sketches (
        story_id TEXT PRIMARY KEY,
        t_min REAL NOT NULL,               -- publication times (Unix seconds) of its members
        t_max REAL NOT NULL,
        outlets INTEGER NOT NULL,          -- distinct feeds of its members
        stale INTEGER NOT NULL DEFAULT 0,  -- a member's feeds changed: sketch it again
        members TEXT NOT NULL,             -- item ids, one per line
        feeds TEXT NOT NULL,               -- each member's feed ids (tab-separated), one per line
        seconds BLOB NOT NULL,             -- float64 per member
        continuous BLOB NOT NULL,          -- uint8 per member
        lengths BLOB NOT NULL,             -- int64 per member: how many of the terms are its
        terms BLOB NOT NULL,               -- int64 term_stats ids
        weights BLOB NOT NULL              -- float64: sublinear tf / norm under the IDF then
    );
    CREATE INDEX story_sketches_t_max ON story_sketches(t_max);
    CREATE INDEX story_sketches_stale ON story_sketches(story_id) WHERE stale = 1;
    CREATE INDEX stories_unlabelled ON stories(id) WHERE label_hash IS NULL;
    CREATE INDEX stories_unfiled ON stories(id) WHERE topics = '[]';
    CREATE INDEX stories_topics ON stories(topics);
    CREATE TABLE cluster_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TRIGGER items_text_changed AFTER UPDATE OF title, summary, lang, published ON items
    WHEN OLD.title IS NOT NEW.title OR OLD.summary IS NOT NEW.summary
        OR OLD.lang IS NOT NEW.lang OR OLD.published IS NOT NEW.published
    BEGIN
        UPDATE item_features SET dirty = 1 WHERE item_id = NEW.id;
        UPDATE stories SET label_hash = NULL WHERE id = NEW.story_id;
    END;
    CREATE TRIGGER item_translation_added AFTER INSERT ON item_translations BEGIN
        UPDATE item_features SET dirty = 1 WHERE item_id = NEW.item_id;
        UPDATE stories SET label_hash = NULL
            WHERE id = (SELECT story_id FROM items WHERE id = NEW.item_id);
    END;
    CREATE TRIGGER item_translation_changed AFTER UPDATE ON item_translations BEGIN
        UPDATE item_features SET dirty = 1 WHERE item_id = NEW.item_id;
        UPDATE stories SET label_hash = NULL
            WHERE id = (SELECT story_id FROM items WHERE id = NEW.item_id);
    END;
    CREATE TRIGGER item_translation_removed AFTER DELETE ON item_translations BEGIN
        UPDATE item_features SET dirty = 1 WHERE item_id = OLD.item_id;
        UPDATE stories SET label_hash = NULL
            WHERE id = (SELECT story_id FROM items WHERE id = OLD.item_id);
    END;
    CREATE TRIGGER item_source_added AFTER INSERT ON item_sources BEGIN
        UPDATE stories SET label_hash = NULL
            WHERE id = (SELECT story_id FROM items WHERE id = NEW.item_id);
        UPDATE story_sketches SET stale = 1
            WHERE story_id = (SELECT story_id FROM items WHERE id = NEW.item_id);
    END;
    CREATE TRIGGER hidden_added AFTER INSERT ON hidden BEGIN
        UPDATE stories SET label_hash = NULL WHERE id = NEW.id
            OR id = (SELECT story_id FROM items WHERE id = NEW.id);
    END;
    CREATE TRIGGER hidden_removed AFTER DELETE ON hidden BEGIN
        UPDATE stories SET label_hash = NULL WHERE id = OLD.id
            OR id = (SELECT story_id FROM items WHERE id = OLD.id);
    END;
    CREATE TRIGGER items_deleted_in_window AFTER DELETE ON items
    WHEN OLD.published >= (SELECT value FROM cluster_state WHERE key = 'since')
    BEGIN
        DELETE FROM cluster_state;
    END;
    """,
    # 8: item authors were parsed and stored but never shown or exported
    """
    ALTER TABLE items DROP COLUMN author;
    """,
    # 9: multilingual embeddings: a cache by text and model; sketches keep each member's
    # vector, language and rare headline names; stories their coverage note and neighbours
    """
    CREATE TABLE embeddings (
        model TEXT NOT NULL,
        text_hash TEXT NOT NULL,           -- text_hash of the embedded text
        vector BLOB NOT NULL,              -- float16, as the model gave it (L2-normalised)
        created_at TEXT NOT NULL,
        PRIMARY KEY (model, text_hash)
    ) WITHOUT ROWID;
    CREATE INDEX embeddings_created ON embeddings(created_at);
    ALTER TABLE story_sketches ADD COLUMN langs TEXT NOT NULL DEFAULT '';
    ALTER TABLE story_sketches ADD COLUMN names TEXT NOT NULL DEFAULT '';
    ALTER TABLE story_sketches ADD COLUMN vectors BLOB NOT NULL DEFAULT x'';
    ALTER TABLE story_sketches ADD COLUMN has_vector BLOB NOT NULL DEFAULT x'';
    ALTER TABLE story_sketches ADD COLUMN centroid BLOB NOT NULL DEFAULT x'';
    ALTER TABLE story_sketches ADD COLUMN kth BLOB NOT NULL DEFAULT x'';
    ALTER TABLE stories ADD COLUMN coverage TEXT;
    ALTER TABLE stories ADD COLUMN related TEXT NOT NULL DEFAULT '[]';
    """,
    # 10: takedown in the newsletter's web archive (issue 16): each issue keeps its plan (JSON),
    # so an archive page can be rendered again without hidden stories while html and text stay
    # the bytes that were mailed. NULL for issues built before: their pages are withdrawn
    # instead when they covered something hidden since.
    """
    ALTER TABLE newsletter_issues ADD COLUMN content TEXT;
    """,
    # 11: what the public pages may say of a feed's last error (a refused fetch's address is
    # for the operator only); NULL: the error itself
    """
    ALTER TABLE feeds ADD COLUMN last_error_public TEXT;
    """,
    # 12: discovered topics keep an id (and their URL) across reclustering; the editor names,
    # hides and merges them (digest topics ...); stories.topics holds these ids for them
    """
    CREATE TABLE topics (
        id TEXT PRIMARY KEY,               -- 'auto-' and 6 hex digits
        auto_name TEXT NOT NULL,           -- the name discovery gave it, from its words
        name TEXT,                         -- the editor's name (NULL: auto_name)
        hidden INTEGER NOT NULL DEFAULT 0, -- shown nowhere, its stories without it
        merged_into TEXT,                  -- its stories are shown under this topic (id or name)
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
    # 13: story pages an editor can brief from (issue 18): each story's "what happened"
    # sentences (JSON: item, part, text, lang, mt), made when it is labelled; every story is
    # labelled again once so that each gets them, and the window counted again once so that
    # the cluster state names the languages the embedder compares (vector_langs)
    """
    ALTER TABLE stories ADD COLUMN summary TEXT;
    UPDATE stories SET label_hash = NULL;
    DELETE FROM cluster_state;
    """,
)
