"""Adds the list prices added since 0003 (the local voices: no provider charge) to existing installs."""

from django.db import migrations

from analytics.price_list import seed_list_prices


def seed(apps, schema_editor):
    seed_list_prices(apps.get_model("analytics", "Price"))


class Migration(migrations.Migration):
    dependencies = [("analytics", "0008_organization_moves_to_tenancy")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
