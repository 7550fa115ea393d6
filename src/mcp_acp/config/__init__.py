"""Configuration: paths, models, and loading/saving with clear errors."""
