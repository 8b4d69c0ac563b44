# The call's event log moves from analytics to campaigns, next to the call. Only the migration
# state moves: the table keeps its name (analytics_calllog) and no row is copied.

import django.db.models.deletion
from django.db import migrations, models


def move_content_type(apps, schema_editor):
    # Permissions hang on the content type: renaming it keeps every group's and user's grants.
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="analytics", model="calllog").exclude(
        pk__in=ContentType.objects.filter(app_label="campaigns", model="calllog").values("pk")
    ).update(app_label="campaigns")


def move_content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="campaigns", model="calllog").update(app_label="analytics")


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_engine"),
        ("analytics", "0006_price_currency_code"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("newvoice", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="CallLog",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("seq", models.PositiveIntegerField(verbose_name="sequence")),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("call_started", "Call started"),
                                    ("answered", "Answered"),
                                    ("transcript", "Transcript"),
                                    ("state", "State change"),
                                    ("step", "Step change"),
                                    ("tool_call", "Tool call"),
                                    ("interruption", "Interruption"),
                                    ("metrics", "Turn metrics"),
                                    ("error", "Error"),
                                    ("call_ended", "Call ended"),
                                ],
                                max_length=16,
                                verbose_name="kind",
                            ),
                        ),
                        (
                            "role",
                            models.CharField(
                                blank=True,
                                choices=[("user", "Callee"), ("assistant", "Bot"), ("system", "System")],
                                max_length=16,
                                verbose_name="role",
                            ),
                        ),
                        ("text", models.TextField(blank=True, verbose_name="text")),
                        ("data", models.JSONField(blank=True, default=dict, verbose_name="data")),
                        (
                            "offset_ms",
                            models.PositiveIntegerField(default=0, help_text="Milliseconds since the call was queued.", verbose_name="offset"),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="time")),
                        (
                            "call",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="logs", to="campaigns.call", verbose_name="call"
                            ),
                        ),
                        (
                            "campaign",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="campaigns.campaign",
                                verbose_name="campaign",
                            ),
                        ),
                        (
                            "organization",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="newvoice.organization",
                                verbose_name="organization",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "call event",
                        "verbose_name_plural": "call events",
                        "db_table": "analytics_calllog",
                        "ordering": ["call", "seq"],
                        "indexes": [models.Index(fields=["campaign", "id"], name="calllog_campaign_id_idx")],
                        "constraints": [models.UniqueConstraint(fields=("call", "seq"), name="calllog_unique_seq")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
