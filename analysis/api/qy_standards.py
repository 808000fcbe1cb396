"""``/api/qy-standards/``: the QY standards a relative-QY run can reference (read-only; curators
edit them in the admin). Not retired rows only, by name."""

from __future__ import annotations

from django.urls import path
from rest_framework import generics, serializers

from analysis.models_qy import QYStandard


class QYStandardSerializer(serializers.ModelSerializer):
    class Meta:
        model = QYStandard
        fields = ("id", "name", "dye", "solvent", "refractive_index", "qy", "qy_err",
                  "excitation_min_nm", "excitation_max_nm", "doi", "citation", "notes",
                  "version")
        read_only_fields = fields


class QYStandardList(generics.ListAPIView):
    """Every current QY standard (fractions: 0.13 is 13 %; n_D of the solvent; DOI)."""

    serializer_class = QYStandardSerializer
    pagination_class = None

    def get_queryset(self):
        return QYStandard.objects.filter(is_retired=False).order_by("name")


urlpatterns = [path("qy-standards/", QYStandardList.as_view(), name="qystandard-list")]
