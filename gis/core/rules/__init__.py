"""The one vocabulary: categories, lifecycle, tiers and deadlines, read from ``dispatch.toml``."""
