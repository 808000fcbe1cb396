"""``manage.py refit --stale``: flag stale computed fits and refit them, with a progress bar."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from analysis.models import FitRun
from analysis.services import mark_stale_fits, refit_stale


class Command(BaseCommand):
    help = "Refit computed XAS fits whose raw file, model or engine version changed."

    def add_arguments(self, parser):
        parser.add_argument("--stale", action="store_true", help="refit every stale fit")
        parser.add_argument("--dry-run", action="store_true", help="only flag and count")

    def handle(self, *args, **options):
        if not options["stale"]:
            raise CommandError("say what to refit: --stale")
        stale = mark_stale_fits()
        self.stdout.write(f"{stale} stale computed fit(s)")
        if options["dry_run"] or not stale:
            return
        with tqdm(total=stale, desc="queueing refits", unit="fit") as bar:
            runs = refit_stale(progress=lambda i, n: bar.update(1))
        done = FitRun.objects.filter(pk__in=[r.pk for r in runs])
        summary = {
            s: done.filter(status=s).count() for s in ("queued", "running", "succeeded", "failed")
        }
        self.stdout.write(f"refits: {summary}")
