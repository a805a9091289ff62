"""The migrations are the schema: they build it on both databases and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from forum.extensions import db
from forum.search import schema as search_schema


def test_migrations_match_the_models(app) -> None:
    context = MigrationContext.configure(
        db.session.connection(),
        opts={
            "compare_type": True,
            "render_as_batch": True,
            # As in migrations/env.py: the search index is not in the ORM metadata.
            "include_name": search_schema.include_name,
            "include_object": search_schema.include_object,
        },
    )
    differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_schema_is_at_the_latest_revision(app) -> None:
    from alembic.script import ScriptDirectory
    from flask import current_app

    config = current_app.extensions["migrate"].migrate.get_config()
    heads = ScriptDirectory.from_config(config).get_heads()
    current = MigrationContext.configure(db.session.connection()).get_current_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"
    assert set(current) == set(heads)
