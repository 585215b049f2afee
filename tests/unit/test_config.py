import pytest

from app import create_app
from app.config import Config, ConfigError, ProductionConfig, config_from_env


def test_production_refuses_to_start_without_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app(config_from_env())


def test_production_starts_with_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    app = create_app(ProductionConfig())
    assert app.config["SECRET_KEY"] == "s3cret"


def test_development_needs_no_secret_and_defaults_to_sqlite_under_instance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "APP_ENV"):
        monkeypatch.delenv(name, raising=False)
    config = config_from_env()
    assert config.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///")
    assert config.SQLALCHEMY_DATABASE_URI.endswith("instance/album_catalog.db")
    assert config.SECRET_KEY
    assert config.SPOTIFY_API_BASE == "https://api.spotify.com/v1/"
    assert config.SPOTIFY_TOKEN_URL == "https://accounts.spotify.com/api/token"
    assert (config.SPOTIFY_MAX_CONCURRENT, config.SPOTIFY_RETRY_ATTEMPTS) == (10, 10)
    assert config.SPOTIFY_IMAGE_HOSTS == ("i.scdn.co", "*.spotifycdn.com")


def test_postgres_urls_use_psycopg3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db/catalog")
    assert Config().SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://u@db/catalog"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SPOTIFY_BURST", "lots", "SPOTIFY_BURST must be a whole number"),
        ("SPOTIFY_RATE_PER_SEC", "fast", "SPOTIFY_RATE_PER_SEC must be a number"),
        ("SPOTIFY_BATCH", "maybe", "SPOTIFY_BATCH must be one of auto, on, off"),
    ],
)
def test_bad_settings_say_which_and_why(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        Config()


def test_a_plain_http_token_url_is_refused_unless_it_is_this_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPOTIFY_TOKEN_URL", "http://accounts.example.com/api/token")
    with pytest.raises(ConfigError, match="must be https"):
        Config().validate()
    monkeypatch.setenv("SPOTIFY_TOKEN_URL", "http://127.0.0.1:8765/api/token")
    Config().validate()  # the simulator
