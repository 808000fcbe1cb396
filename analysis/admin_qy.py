"""Curators' admin for QY standards (add, correct with history, retire — never delete)."""

from __future__ import annotations

from django.contrib import admin

from analysis.models_qy import QYStandard
from labdb.lib.admin import LabRecordAdmin


@admin.register(QYStandard)
class QYStandardAdmin(LabRecordAdmin):
    list_display = ("name", "qy", "qy_err", "solvent", "refractive_index", "excitation_min_nm",
                    "excitation_max_nm", "doi", "is_retired")
    search_fields = ("name", "dye", "solvent", "doi", "citation")
    list_filter = ("is_retired", "solvent")
