"""Full-text search over threads and posts, on the database's own engine."""
