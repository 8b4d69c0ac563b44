# The call's event log now belongs to campaigns (its 0003): analytics forgets the model, and the
# table stays where it is.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0006_price_currency_code"),
        ("campaigns", "0003_calllog_moves_here"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="CallLog")], database_operations=[]),
    ]
