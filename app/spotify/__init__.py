"""Everything about talking to Spotify. Knows nothing of Flask or the database."""
