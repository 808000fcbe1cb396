from django.apps import AppConfig


class CharacterizationConfig(AppConfig):
    name = "characterization"
    verbose_name = "Characterization: data files, measurements, XAS fits"
