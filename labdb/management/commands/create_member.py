"""``manage.py create_member USERNAME [--email E] [--password-file F]``: a lab member account.

A member reads everything, creates records and changes what they own; no admin access.
"""

from django.core.management.base import BaseCommand

from labdb.management.commands._accounts import (
    add_account_arguments,
    create_account,
    read_password,
)


class Command(BaseCommand):
    help = "Create a lab member (reads all, creates records, changes own; no /admin/)."

    def add_arguments(self, parser):
        add_account_arguments(parser)

    def handle(self, *args, **options):
        password = read_password(options["password_file"])
        user = create_account(
            username=options["username"], email=options["email"], password=password, curator=False
        )
        self.stdout.write(f"member {user.username} created")
