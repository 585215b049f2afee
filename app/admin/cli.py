"""`flask admin`: create, list and delete administrators (the only way to make one)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.admin import auth
from app.extensions import db
from app.models import Admin


@click.group("admin")
def admin_cli() -> None:
    """Administrators: who may sign in and fix covers."""


@admin_cli.command("create")
@click.argument("name")
@click.password_option(
    "--password",
    prompt="Password",
    confirmation_prompt="Repeat the password",
    help=f"At least {auth.MIN_PASSWORD} characters (asked twice when not given).",
)
@with_appcontext
def create(name: str, password: str) -> None:
    """Create administrator NAME (the password is asked twice and stored as a hash)."""
    try:
        admin = auth.create(name, password)
    except auth.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Administrator {admin.name} created; sign in at /admin/sign-in.")


@admin_cli.command("list")
@with_appcontext
def list_admins() -> None:
    """Every administrator, with when each last signed in."""
    admins = db.session.scalars(select(Admin).order_by(Admin.name_key)).all()
    if not admins:
        click.echo("No administrators yet: flask admin create NAME")
    for admin in admins:
        last = (
            admin.last_sign_in_at.strftime("%Y-%m-%d %H:%M") if admin.last_sign_in_at else "never"
        )
        click.echo(f"{admin.name}\tlast sign-in: {last}")


@admin_cli.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def delete(name: str, yes: bool) -> None:
    """Delete administrator NAME (their sessions end at once)."""
    admin = auth.find(name)
    if admin is None:
        raise click.ClickException(f"There is no administrator called {name}.")
    if not yes:
        click.confirm(f"Delete administrator {admin.name}?", abort=True)
    db.session.delete(admin)
    db.session.commit()
    click.echo(f"Administrator {admin.name} deleted.")
