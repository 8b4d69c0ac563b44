# The organization model now lives in the tenancy app, in the same table: the foreign keys
# change their target in the migration state only.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0007_calllog_moves_to_campaigns'),
        ('tenancy', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='callmetrics',
                    name='organization',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.organization', verbose_name='organization'),
                ),
                migrations.AlterField(
                    model_name='dailycallstats',
                    name='organization',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.organization', verbose_name='organization'),
                ),
                migrations.AlterField(
                    model_name='dailystepstats',
                    name='organization',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.organization', verbose_name='organization'),
                ),
                migrations.AlterField(
                    model_name='price',
                    name='organization',
                    field=models.ForeignKey(blank=True, help_text='Leave empty for the list price every organization pays.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.organization', verbose_name='organization'),
                ),
                migrations.AlterField(
                    model_name='stepreached',
                    name='organization',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.organization'),
                ),
            ],
            database_operations=[],
        ),
    ]
