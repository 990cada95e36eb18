"""Plain typed records shared by the stages (no I/O): configuration, items, stories, sketches.

Adding a field to an item touches, in order (keep this list in sync):
  1. records/items.py: RawEntry (as parsed), Item (as normalized), StoredItem (as read back);
  2. ingest/parse.py (`_entry`) and ingest/normalize.py (`normalize_entry`) fill it;
  3. store/schema.py: a migration adding the column; store/items.py writes it (`upsert_item`,
     `_refresh_item`) and reads it back (`items`);
  4. where it is shown: site/views.py (ItemView) and templates/site/*.html, export.py (FIELDS,
     `item_record`), newsletter/issue.py when the newsletter shows it;
  5. site/fingerprint.py's story signature covers every StoredItem field by itself.
"""

from digest.records.config import (
    Config,
    FeedConfig,
    FetchConfig,
    NewsletterConfig,
    SiteConfig,
    SmtpConfig,
    StoreConfig,
    StoriesConfig,
    TopicConfig,
    TranslationConfig,
)
from digest.records.items import FetchResult, Item, ParsedFeed, RawEntry, StoredItem
from digest.records.stories import (
    FeedHealth,
    SiteData,
    Story,
    SummaryLine,
    Text,
    TopicRecord,
    TopicView,
)

__all__ = [
    "Config",
    "FeedConfig",
    "FeedHealth",
    "FetchConfig",
    "FetchResult",
    "Item",
    "NewsletterConfig",
    "ParsedFeed",
    "RawEntry",
    "SiteConfig",
    "SiteData",
    "SmtpConfig",
    "StoreConfig",
    "StoredItem",
    "StoriesConfig",
    "Story",
    "SummaryLine",
    "Text",
    "TopicConfig",
    "TopicRecord",
    "TopicView",
    "TranslationConfig",
]
