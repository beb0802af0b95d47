"""citebot: answers questions about the news with quoted, cited sentences."""

__version__ = "0.1.0"
