"""Fluorescence quantum-yield standards: the reference dyes a relative QY is measured against.

Seeded by migration ``0010_qystandard`` (each value with its paper's DOI); curators add and
correct rows in the admin (history kept, rows are retired, never deleted). A ``relative_qy``
run stores a snapshot of the row it used in its parameters and output.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from labdb.lib.models import LabRecord


class QYStandard(LabRecord):
    """A reference dye in its solvent with its literature QY (fraction 0–1) ± uncertainty."""

    name = models.CharField(max_length=100, unique=True,
                            help_text="What a chemist calls it, e.g. 'indocyanine green in DMSO'.")
    dye = models.CharField(max_length=100)
    solvent = models.CharField(max_length=100)
    refractive_index = models.FloatField(help_text="n_D of the solvent (20 °C).")
    qy = models.FloatField(help_text="Literature QY as a fraction (0.13 for 13 %).")
    qy_err = models.FloatField(
        null=True, blank=True,
        help_text="One standard uncertainty of qy as a fraction; empty when the source "
        "states none (the run then warns that its error bar leaves it out).")
    excitation_min_nm = models.FloatField(help_text="Excitation range the value applies to.")
    excitation_max_nm = models.FloatField()
    doi = models.CharField(max_length=200, help_text="DOI of the paper that reports qy.")
    citation = models.CharField(max_length=300, help_text="Authors, journal, year, pages.")
    notes = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = "QY standard"
        constraints = [
            models.CheckConstraint(condition=Q(qy__gt=0) & Q(qy__lte=1), name="qystandard_qy_0_1"),
            models.CheckConstraint(condition=Q(qy_err=None) | Q(qy_err__gte=0),
                                   name="qystandard_qy_err_non_negative"),
            models.CheckConstraint(
                condition=Q(refractive_index__gte=1) & Q(refractive_index__lte=3),
                name="qystandard_refractive_index_liquid"),
            models.CheckConstraint(
                condition=Q(excitation_min_nm__gt=0)
                & Q(excitation_max_nm__gt=models.F("excitation_min_nm")),
                name="qystandard_excitation_range_ordered"),
        ]

    def __str__(self) -> str:
        err = f" ± {self.qy_err * 100:g}" if self.qy_err is not None else ""
        return f"{self.name} (QY {self.qy * 100:g}{err} %)"

    def snapshot(self) -> dict:
        """What a run records of the standard it used (its values at request time)."""
        return {"id": self.pk, "name": self.name, "dye": self.dye, "solvent": self.solvent,
                "refractive_index": self.refractive_index, "qy": self.qy, "qy_err": self.qy_err,
                "excitation_range_nm": [self.excitation_min_nm, self.excitation_max_nm],
                "doi": self.doi, "citation": self.citation, "version": self.version}
