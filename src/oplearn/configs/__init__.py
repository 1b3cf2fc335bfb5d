"""Presets for `oplearn run` (YAML files)."""
