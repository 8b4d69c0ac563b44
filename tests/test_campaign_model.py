import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from campaigns.models import Campaign
from tenancy.models import Organization


def campaign(org, skillbase, **fields):
    return Campaign(organization=org, name="Spring", skillbase=skillbase, **fields)


def errors(instance) -> dict:
    with pytest.raises(ValidationError) as raised:
        instance.full_clean()
    return raised.value.message_dict


def test_a_valid_campaign_passes(org, skillbase):
    campaign(org, skillbase).full_clean()


def test_skillbase_of_another_organization_is_refused(org, other_org, skillbase_factory):
    theirs = skillbase_factory(other_org)
    assert errors(campaign(org, theirs)) == {"skillbase": ["The skillbase belongs to another organization."]}


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"default_timezone": "Moscow"}, "default_timezone", "'Moscow' is not a time zone"),
        ({"default_region": "XX"}, "default_region", "'XX' is not a country code"),
        ({"calling_window_start": dt.time(21), "calling_window_end": dt.time(9)}, "calling_window_end", "must end after it starts"),
        ({"calling_days": [0, 8]}, "calling_days", "ISO weekdays"),
        ({"caller_id": "8912"}, "caller_id", "E.164"),
    ],
)
def test_bad_campaign_fields_name_the_field(org, skillbase, fields, field, message):
    found = errors(campaign(org, skillbase, **fields))
    assert message in " ".join(found[field])


@pytest.mark.django_db
def test_organization_time_zone_is_validated():
    with pytest.raises(ValidationError) as raised:
        Organization(name="X", slug="x", timezone="Mars/Base").full_clean()
    assert "timezone" in raised.value.message_dict
