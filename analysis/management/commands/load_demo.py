"""``manage.py load_demo``: the demo dataset of the three source papers (idempotent)."""

from django.core.management.base import BaseCommand

from analysis.demo import load_demo


class Command(BaseCommand):
    help = "Load the demo data (three papers: recipes, samples, measurements, fits). Idempotent."

    def handle(self, *args, **options):
        load_demo(report=lambda line: self.stdout.write(line))
        self.stdout.write(self.style.SUCCESS("demo data ready; login demo / demo-labdb"))
