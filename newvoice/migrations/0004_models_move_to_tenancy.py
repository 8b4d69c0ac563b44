# The project package forgets the models that moved to the tenancy app (its 0001); their tables
# stay, now owned by tenancy. Runs after every app's foreign keys point there.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('tenancy', '0001_initial'),
        ('analytics', '0008_organization_moves_to_tenancy'),
        ('campaigns', '0005_organization_moves_to_tenancy'),
        ('skillbases', '0002_organization_moves_to_tenancy'),
        ('newvoice', '0003_audit_log'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='auditentry',
                    name='actor',
                ),
                migrations.RemoveField(
                    model_name='auditentry',
                    name='organization',
                ),
                migrations.RemoveField(
                    model_name='auditentry',
                    name='subject_user',
                ),
                migrations.RemoveField(
                    model_name='membership',
                    name='organization',
                ),
                migrations.RemoveField(
                    model_name='membership',
                    name='user',
                ),
                migrations.DeleteModel(
                    name='ApiToken',
                ),
                migrations.DeleteModel(
                    name='AuditEntry',
                ),
                migrations.DeleteModel(
                    name='Organization',
                ),
                migrations.DeleteModel(
                    name='Membership',
                ),
            ],
            database_operations=[],
        ),
    ]
