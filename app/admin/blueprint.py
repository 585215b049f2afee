"""The admin blueprint object, shared by its views."""

from flask import Blueprint

bp = Blueprint("admin", __name__, template_folder="templates")
