"""synthvid: procedural video datasets without natural videos, and a VideoMAE trainer that reads them."""

__version__ = "0.1.0"
