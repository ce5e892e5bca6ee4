"""Maintainer tools (not part of the utils package students import)."""
