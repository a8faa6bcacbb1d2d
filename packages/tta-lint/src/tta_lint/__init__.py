"""tta lint."""
