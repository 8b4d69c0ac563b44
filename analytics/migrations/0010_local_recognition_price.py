"""Adds the list price of local speech recognition (no provider charge) to existing installs."""

from django.db import migrations

from analytics.price_list import seed_list_prices


def seed(apps, schema_editor):
    seed_list_prices(apps.get_model("analytics", "Price"))


class Migration(migrations.Migration):
    dependencies = [("analytics", "0009_local_voice_price")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
