"""Alembic revisions, oldest first; append new ones, never edit applied ones."""
