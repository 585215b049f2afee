"""Import the club's album list (CSV or Google Sheet) without calling Spotify."""
