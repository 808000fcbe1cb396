from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "analysis"
    verbose_name = "Analysis: fit runs, aging, structure–property"

    def ready(self) -> None:
        from analysis import kinds, tasks  # noqa: F401  (registers the kinds, jobs and sweeps)
