"""Choice lists of the characterization domain."""

from django.db import models


class ParseStatus(models.TextChoices):
    PENDING = "pending", "pending"
    PARSING = "parsing", "parsing…"
    OK = "ok", "ok"
    FAILED = "failed", "failed"
    SKIPPED = "skipped", "not parsed (attachment)"


class FileKind(models.TextChoices):
    """What an uploaded file is: an instrument file to parse, or an attachment kept as is."""

    INSTRUMENT = "instrument", "instrument file"
    ATTACHMENT = "attachment", "attachment (photo, PDF, document)"


class Technique(models.TextChoices):
    XRD = "xrd", "XRD"
    FTIR = "ftir", "FTIR"
    UVVIS = "uvvis", "UV-vis absorption"
    PL = "pl", "photoluminescence"
    TEM_IMAGE = "tem_image", "TEM image"
    EDS = "eds", "EDS spectrum"
    EELS = "eels", "EELS spectrum"
    XAS = "xas", "XAS"
    TEM_SIZES = "tem_sizes", "TEM size table"
    COMPOSITION = "composition", "composition table"
    OTHER = "other", "other"
    UNKNOWN = "unknown", "unknown"


class DataSource(models.TextChoices):
    PUBLISHED = "published", "published (transcribed from a paper)"
    MEASURED = "measured", "measured (parsed from a data file)"
    COMPUTED = "computed", "computed (fitted by labdb)"
    SIMULATED = "simulated", "SIMULATED (not measured)"
    MANUAL = "manual", "manual (entered by hand at the bench)"


class QYMethod(models.TextChoices):
    ABSOLUTE = "absolute", "absolute (integrating sphere)"
    RELATIVE = "relative", "relative to a reference dye"


class TEMDimension(models.TextChoices):
    """What a hand-entered TEM size describes."""

    LENGTH = "length", "length"
    WIDTH = "width", "width"
    DIAMETER = "diameter", "diameter"
    THICKNESS = "thickness", "thickness"
    EDGE = "edge", "edge length"


class XASMode(models.TextChoices):
    TRANSMISSION = "transmission", "transmission"
    FLUORESCENCE = "fluorescence", "fluorescence"
    UNKNOWN = "unknown", "unknown"


class CompositionMethod(models.TextChoices):
    ICP_OES = "ICP-OES", "ICP-OES"
    EDS = "EDS", "EDS"
    XPS = "XPS", "XPS"
    XAS = "XAS", "XAS"
    MASS_SPEC = "MS", "mass spectrometry"
    NOMINAL = "nominal", "nominal"
    OTHER = "other", "other"
