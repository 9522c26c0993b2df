"""The release of this modelreg, recorded in tags, reports and caches."""
__version__ = "0.1.0"
