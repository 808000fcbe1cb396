"""Query-parameter filters shared by the API's filter sets."""

from __future__ import annotations

import django_filters
from django import forms

MAX_ID = 2**63 - 1  # the largest primary key any supported database stores (bigint)


class IdFilter(django_filters.NumberFilter):
    """A record id in a query parameter (``?parent=12``): a whole number from 1 to 2⁶³−1.

    Anything else is a 400 naming the parameter ("Enter a whole number.", "Ensure this value
    is less than or equal to …") — never a database integer overflow (HTTP 500), which a
    20-digit number caused with a plain NumberFilter."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)
