"""``manage.py create_curator USERNAME [--email E] [--password-file F]``: a curator account.

A curator is staff (may log in to /admin/) and a member of the ``curators`` group (view, add
and change on every labdb record, list and revoke API tokens). Not a superuser.
"""

from django.core.management.base import BaseCommand

from labdb.management.commands._accounts import (
    add_account_arguments,
    create_account,
    read_password,
)


class Command(BaseCommand):
    help = "Create a curator (staff, curators group): edits any record and uses /admin/."

    def add_arguments(self, parser):
        add_account_arguments(parser)

    def handle(self, *args, **options):
        password = read_password(options["password_file"])
        user = create_account(
            username=options["username"], email=options["email"], password=password, curator=True
        )
        self.stdout.write(f"curator {user.username} created (staff, group curators)")
