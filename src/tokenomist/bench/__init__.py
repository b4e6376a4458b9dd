"""Measured runs: the records every tool's results are read into."""

from tokenomist.bench.article_format import load_article_results, parse_article_results
from tokenomist.bench.records import MeasuredPoint

__all__ = ["MeasuredPoint", "load_article_results", "parse_article_results"]
