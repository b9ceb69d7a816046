"""NEAT data stage: HH-RLHF loading, ranked Parquet shards, scoring, prompted generation, inspection."""

__version__ = "0.1.0"
