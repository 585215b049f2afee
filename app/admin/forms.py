"""The administrators' forms (Flask-WTF): each carries its CSRF token and checks it."""

from __future__ import annotations

from flask_wtf import FlaskForm  # pyright: ignore[reportMissingTypeStubs]
from flask_wtf.file import FileField, FileRequired  # pyright: ignore[reportMissingTypeStubs]
from wtforms import IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from app.curation.uploads import MAX_UPLOAD_BYTES
from app.models import NAME_MAX, URL_MAX


class SignInForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=NAME_MAX)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class ActionForm(FlaskForm):
    """A button that changes something (sign out, unpin, wrong match): the token only."""


class CandidateForm(FlaskForm):
    number = IntegerField("Candidate", validators=[InputRequired(), NumberRange(min=1)])


class UrlForm(FlaskForm):
    # Not stripped: an address with stray spaces is refused with a message, not guessed at.
    url = StringField("Image address", validators=[DataRequired(), Length(max=URL_MAX + 1)])


class UploadForm(FlaskForm):
    file = FileField("Image file", validators=[FileRequired("Choose an image file.")])


UPLOAD_LIMIT_MB = MAX_UPLOAD_BYTES // (1024 * 1024)
