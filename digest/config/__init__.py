"""feeds.yaml: loading and validating it (errors name file, line and key path), and OPML."""

from digest.config.fields import scheduler_address_problem
from digest.config.load import load_config, parse_config

__all__ = ["load_config", "parse_config", "scheduler_address_problem"]
