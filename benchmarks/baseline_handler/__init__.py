"""The benchmark's baseline: crhelper used as its README shows, with every default (never shipped)."""
