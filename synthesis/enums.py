"""Choice lists of the synthesis domain."""

from django.db import models


class StepAction(models.TextChoices):
    DEGAS = "degas", "degas"
    HEAT = "heat", "heat"
    COOL = "cool", "cool"
    HOLD = "hold", "hold"
    INJECT = "inject", "inject"
    ADD = "add", "add"
    QUENCH = "quench", "quench"
    WASH = "wash", "wash"
    CENTRIFUGE = "centrifuge", "centrifuge"
    REDISPERSE = "redisperse", "redisperse"
    SONICATE = "sonicate", "sonicate"
    STIR = "stir", "stir"
    DRY = "dry", "dry"
    MIX = "mix", "mix"
    DISSOLVE = "dissolve", "dissolve"
    FILTER = "filter", "filter"
    OTHER = "other", "other"


class Atmosphere(models.TextChoices):
    VACUUM = "vacuum", "vacuum"
    ARGON = "argon", "argon"
    NITROGEN = "nitrogen", "nitrogen"
    AIR = "air", "air"
    GLOVEBOX = "glovebox", "glove box"


class Morphology(models.TextChoices):
    NPL = "NPL", "nanoplatelet"
    QD = "QD", "quantum dot"
    MSC = "MSC", "magic-size cluster"
    ROD = "rod", "nanorod"
    BULK = "bulk", "bulk"
    FILM = "film", "film"
    OTHER = "other", "other"


class CrystalPhase(models.TextChoices):
    ZB = "ZB", "zinc blende"
    WZ = "WZ", "wurtzite"
    ROCKSALT = "rocksalt", "rock salt"
    AMORPHOUS = "amorphous", "amorphous"
    UNKNOWN = "unknown", "unknown"


class LayerRole(models.TextChoices):
    CORE = "core", "core"
    CROWN = "crown", "crown"
    SHELL = "shell", "shell"


class DerivationProcess(models.TextChoices):
    CROWN_GROWTH = "crown_growth", "crown growth"
    SHELL_GROWTH = "shell_growth", "shell growth"
    CATION_EXCHANGE = "cation_exchange", "cation exchange"
    LIGAND_EXCHANGE = "ligand_exchange", "ligand exchange"
    PURIFICATION = "purification", "purification"
    ALIQUOT = "aliquot", "aliquot"
    EXTRACTION = "extraction", "extraction"
    OTHER = "other", "other"


class FlagKind(models.TextChoices):
    INCONSISTENCY = "inconsistency", "inconsistency in the source"
    TYPO = "typo", "probable typo"
    MISSING = "missing", "value not given"
    DERIVED = "derived", "derived, not printed"
    WRONG = "wrong", "printed value is wrong (excluded from analyses)"
    DUPLICATE = "duplicate", "copy of other data (excluded from analyses)"
    NOTE = "note", "curator note"


class FlagStatus(models.TextChoices):
    OPEN = "open", "open"
    ACKNOWLEDGED = "acknowledged", "acknowledged"
    RESOLVED = "resolved", "resolved"
