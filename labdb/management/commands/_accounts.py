"""Shared by create_curator and create_member: one user, a password that never touches argv."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import transaction

from labdb.lib.permissions import CURATORS_GROUP


def add_account_arguments(parser) -> None:
    parser.add_argument("username", help="login name, e.g. jdoe")
    parser.add_argument("--email", default="", help="e-mail address (optional)")
    parser.add_argument(
        "--password-file",
        help="read the password from the first line of this file (for scripts; keep it 0600)",
    )


def read_password(password_file: str | None, *, stdin=None) -> str:
    """From ``password_file``, else prompted twice on a terminal; else CommandError."""
    if password_file:
        try:
            lines = Path(password_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CommandError(
                f"--password-file {password_file}: cannot be read ({exc})."
            ) from None
        if not lines or not lines[0]:
            raise CommandError(f"--password-file {password_file}: the first line is empty.")
        return lines[0]
    stdin = stdin or sys.stdin
    if not stdin.isatty():
        raise CommandError(
            "no password given: there is no terminal to ask on. Use --password-file FILE "
            "(first line is the password) when running from a script."
        )
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password (again): "):
        raise CommandError("the two passwords differ; nothing was created.")
    return first


def create_account(*, username: str, email: str, password: str, curator: bool):
    """Create the user (curators: staff and in the curators group) in one transaction."""
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise CommandError(f"username {username!r} is taken; choose another.")
    user = User(username=username, email=email, is_staff=curator)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise CommandError("password: " + " ".join(exc.messages)) from None
    with transaction.atomic():
        user.set_password(password)
        user.save()
        if curator:
            group = Group.objects.filter(name=CURATORS_GROUP).first()
            if group is None:
                raise CommandError(
                    f"the {CURATORS_GROUP!r} group does not exist; run `manage.py migrate` first."
                )
            user.groups.add(group)
    return user
