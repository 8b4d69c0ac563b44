"""Seeds the providers' list prices (analytics/price_list.py)."""

from django.db import migrations

from analytics.price_list import EFFECTIVE, seed_list_prices


def seed(apps, schema_editor):
    seed_list_prices(apps.get_model("analytics", "Price"))


def unseed(apps, schema_editor):
    apps.get_model("analytics", "Price").objects.filter(organization=None, effective_from=EFFECTIVE).delete()


class Migration(migrations.Migration):
    dependencies = [("analytics", "0002_prices_and_steps")]
    operations = [migrations.RunPython(seed, unseed)]
