"""The tta command."""
