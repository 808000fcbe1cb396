from django.apps import AppConfig


class CharacterizationConfig(AppConfig):
    name = "characterization"
    verbose_name = "Characterization: data files, measurements, XAS fits"

    def ready(self) -> None:
        from characterization import tasks  # noqa: F401  (registers the parse job and sweep)
