"""``manage.py load_demo [--demo-users]``: the demo dataset of the three source papers
(idempotent).

The demo accounts (``demo`` / ``demo-labdb`` and the superuser ``curator`` / ``curator-labdb``,
passwords printed in the README) are created only with ``--demo-users``, which ``make run``
passes; it is refused on a production configuration (``settings.LABDB_PRODUCTION``: DEBUG off
and LABDB_HTTPS on), where anyone who read the README could log in.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from analysis.demo import load_demo
from labdb.lib import jobs


class Command(BaseCommand):
    help = "Load the demo data (three papers: recipes, samples, measurements, fits). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument(
            "--demo-users", action="store_true",
            help="Also create the demo accounts with the README's passwords (never in production).",
        )

    def handle(self, *args, **options):
        demo_users = options["demo_users"]
        if demo_users and getattr(settings, "LABDB_PRODUCTION", False):
            raise CommandError(
                "--demo-users: refused on a production configuration (DEBUG off and LABDB_HTTPS "
                "on); the demo passwords are public. Create real accounts with "
                "`manage.py createsuperuser` instead."
            )
        # Parses and fits run here, in order: the demo's next steps read what they produce.
        with jobs.inline():
            load_demo(report=lambda line: self.stdout.write(line), demo_users=demo_users)
        if demo_users:
            self.stdout.write(self.style.SUCCESS("demo data ready; login demo / demo-labdb"))
        else:
            self.stdout.write(self.style.SUCCESS(
                "demo data ready; no demo accounts (pass --demo-users for demo / demo-labdb)"))
