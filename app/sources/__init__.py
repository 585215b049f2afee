"""Cover sources other than the Spotify album lookup: matching, Deezer, MusicBrainz +
Cover Art Archive. Framework-free like app.spotify."""
