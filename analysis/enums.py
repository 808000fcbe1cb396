"""Choice lists of the analysis domain."""

from django.db import models


class RunStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"


class StructureSource(models.TextChoices):
    AMCSD = "amcsd", "CIF bundled with larixite (AMCSD)"
    CIF = "cif", "uploaded CIF"
    LATTICE = "lattice", "zinc-blende / wurtzite lattice from lattice constants"
    PATH_FILES = "path_files", "FEFF path files given directly"


class FeffSource(models.TextChoices):
    COMPUTED = "computed", "computed by labdb from a structure"
    UPLOADED = "uploaded", "FEFF output files uploaded"
