"""labdb.lib.records: a record's foreign keys given as rows just read are not looked up again by
validation (issue 16 item 4: fewer queries per stored fit), while every other check still runs —
field checks, unique constraints over those keys, check constraints — with its own message."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from characterization.models import XASFit
from characterization.services import record_xas_fit
from labdb.lib.errors import DomainError
from labdb.lib.records import create_record
from synthesis.models import Chemical, ChemicalLot
from tests.synthesis import builders

pytestmark = pytest.mark.django_db


def _lot(chemical: Chemical, **extra) -> ChemicalLot:
    return create_record(model=ChemicalLot, data={"chemical": chemical, **extra})


def test_a_key_given_as_a_saved_row_is_not_looked_up_again():
    oleic = create_record(model=Chemical, data={"name": "oleic acid"})
    with CaptureQueriesContext(connection) as queries:
        lot = _lot(oleic, lot_number="MKCR-1")
    sql = [q["sql"] for q in queries.captured_queries]
    assert not [s for s in sql if 'FROM "synthesis_chemical"' in s], sql
    assert ChemicalLot.objects.get(pk=lot.pk).chemical_id == oleic.pk


def test_unique_and_check_constraints_over_a_given_key_still_name_the_problem():
    oleic = create_record(model=Chemical, data={"name": "oleic acid"})
    _lot(oleic, lot_number="MKCR-1")
    with pytest.raises(DomainError) as duplicate:
        _lot(oleic, lot_number="MKCR-1")
    assert "already exists" in duplicate.value.message, duplicate.value.message
    assert ChemicalLot.objects.count() == 1


def test_a_check_constraint_is_still_validated_when_the_sample_is_given():
    """XASFit's ``r_factor >= 0`` is a check constraint only (no field validator): the fit's
    sample is given as a row, and the constraint is still checked before anything is written."""
    sample = builders.sample("CHECK-1", material="Cu", morphology="bulk")
    with pytest.raises(DomainError) as negative:
        record_xas_fit(sample=sample, data={"absorber": "Cu", "edge_name": "K", "r_factor": -0.1},
                       paths=[])
    assert "xasfit_r_factor_non_negative" in negative.value.message, negative.value.message
    assert XASFit.objects.count() == 0


def test_field_errors_are_still_reported_with_a_given_key():
    oleic = create_record(model=Chemical, data={"name": "oleic acid"})
    with pytest.raises(DomainError) as missing:
        _lot(oleic, lot_number="")
    assert missing.value.field == "lot_number", missing.value.message


def test_a_race_without_a_savepoint_is_a_domain_error_and_the_whole_transaction_rolls_back():
    """``save_unique(savepoint=False)`` (the upload's writes): a duplicate that validation did
    not look for — as a concurrent twin would be — fails on the unique index as a DomainError,
    and the caller's transaction that it ends leaves nothing written."""
    from django.db import transaction

    from labdb.lib.records import save_unique

    oleic = create_record(model=Chemical, data={"name": "oleic acid"})
    _lot(oleic, lot_number="MKCR-1")
    with pytest.raises(DomainError) as race:
        with transaction.atomic():
            create_record(model=Chemical, data={"name": "toluene"})
            save_unique(ChemicalLot(chemical=oleic, lot_number="MKCR-1"),
                        exclude=("lot_number",), savepoint=False)
    assert "UNIQUE" in race.value.message.upper(), race.value.message
    assert ChemicalLot.objects.count() == 1
    assert not Chemical.objects.filter(name="toluene").exists()
