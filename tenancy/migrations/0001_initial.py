# Organizations, memberships, API tokens and the audit log move from the project package
# (newvoice) to this app. Only the migration state moves: the tables keep their names
# (newvoice_*) and no row is copied.

import django.core.serializers.json
import django.db.models.deletion
import django.utils.timezone
import tenancy.validators
from django.conf import settings
from django.db import migrations, models


MODELS = ("organization", "membership", "apitoken", "auditentry")


def move_content_types(apps, schema_editor):
    # Permissions hang on the content type: renaming it keeps every group's and user's grants.
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label="tenancy", model=model).exists():
            ContentType.objects.filter(app_label="newvoice", model=model).update(app_label="tenancy")


def move_content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="tenancy", model__in=MODELS).update(app_label="newvoice")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('newvoice', '0003_audit_log'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Organization',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200, unique=True, verbose_name='name')),
                        ('slug', models.SlugField(max_length=100, unique=True, verbose_name='slug')),
                        ('timezone', models.CharField(default='UTC', help_text='Used for reports and as the campaign default.', max_length=64, validators=[tenancy.validators.validate_timezone], verbose_name='time zone')),
                        ('max_concurrent_calls', models.PositiveIntegerField(default=20, help_text='Across all campaigns of the organization.', verbose_name='max concurrent calls')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                    ],
                    options={
                        'verbose_name': 'organization',
                        'verbose_name_plural': 'organizations',
                        'db_table': 'newvoice_organization',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='ApiToken',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('digest', models.CharField(editable=False, max_length=128, unique=True, verbose_name='digest')),
                        ('token_key', models.CharField(db_index=True, editable=False, max_length=25, verbose_name='lookup key')),
                        ('created', models.DateTimeField(auto_now_add=True, verbose_name='issued')),
                        ('expiry', models.DateTimeField(blank=True, null=True, verbose_name='expires')),
                        ('name', models.CharField(blank=True, help_text='What the token is for, e.g. “CRM sync”.', max_length=100, verbose_name='name')),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='issued by')),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='auth_token_set', to=settings.AUTH_USER_MODEL, verbose_name='user')),
                    ],
                    options={
                        'verbose_name': 'API token',
                        'verbose_name_plural': 'API tokens',
                        'db_table': 'newvoice_apitoken',
                        'ordering': ['-created'],
                    },
                ),
                migrations.CreateModel(
                    name='Membership',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('role', models.CharField(choices=[('viewer', 'Viewer'), ('operator', 'Operator'), ('admin', 'Admin')], default='viewer', max_length=16, verbose_name='role')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to=settings.AUTH_USER_MODEL, verbose_name='user')),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='tenancy.organization', verbose_name='organization')),
                    ],
                    options={
                        'verbose_name': 'membership',
                        'verbose_name_plural': 'memberships',
                        'db_table': 'newvoice_membership',
                        'constraints': [models.UniqueConstraint(fields=('organization', 'user'), name='membership_unique_user')],
                    },
                ),
                migrations.CreateModel(
                    name='AuditEntry',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('actor_name', models.CharField(blank=True, help_text='Kept when the account is deleted.', max_length=150, verbose_name='who (username)')),
                        ('action', models.CharField(choices=[('skillbase_created', 'Skillbase created'), ('skillbase_changed', 'Skillbase changed'), ('campaign_started', 'Campaign started'), ('campaign_paused', 'Campaign paused'), ('campaign_resumed', 'Campaign resumed'), ('campaign_cancelled', 'Campaign cancelled'), ('campaign_completed', 'Campaign completed'), ('dnc_added', 'Do-not-call number added'), ('dnc_changed', 'Do-not-call entry changed'), ('dnc_removed', 'Do-not-call number removed'), ('dnc_imported', 'Do-not-call list imported'), ('token_issued', 'API token issued'), ('token_revoked', 'API token revoked'), ('member_added', 'Member added'), ('member_role_changed', "Member's role changed"), ('member_removed', 'Member removed')], max_length=32, verbose_name='action')),
                        ('object_type', models.CharField(blank=True, max_length=100, verbose_name='object type')),
                        ('object_id', models.CharField(blank=True, max_length=64, verbose_name='object id')),
                        ('object_repr', models.CharField(blank=True, max_length=200, verbose_name='object')),
                        ('before', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder, verbose_name='before')),
                        ('after', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder, verbose_name='after')),
                        ('reason', models.CharField(blank=True, max_length=500, verbose_name='reason')),
                        ('source', models.CharField(choices=[('admin', 'Admin'), ('api', 'API'), ('command', 'Command'), ('system', 'System')], max_length=16, verbose_name='source')),
                        ('ip', models.GenericIPAddressField(blank=True, null=True, verbose_name='IP address')),
                        ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name='when')),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='who')),
                        ('subject_user', models.ForeignKey(blank=True, help_text='The owner of the token, or the member.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='account concerned')),
                        ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='tenancy.organization', verbose_name='organization')),
                    ],
                    options={
                        'verbose_name': 'audit entry',
                        'verbose_name_plural': 'audit log',
                        'db_table': 'newvoice_auditentry',
                        'ordering': ['-created_at', '-id'],
                        'indexes': [models.Index(fields=['organization', '-created_at'], name='audit_org_created_idx'), models.Index(fields=['object_type', 'object_id'], name='audit_object_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
