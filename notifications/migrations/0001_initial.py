"""Notifications move here from `dashboard`: state only, the tables keep their names.

The models are created in this app's migration state over the tables `dashboard`
created (`dashboard_notification`, `dashboard_broadcastreceipt`), and
`dashboard.0003` drops them from that app's state: no table, row, index or
constraint changes. The content types follow the models, so admin permissions and
log entries stay attached.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED_MODELS = ("notification", "broadcastreceipt")


def content_types_to_notifications(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED_MODELS:
        old = content_type.objects.using(db).filter(app_label="dashboard", model=model)
        if not old.exists():
            continue  # a fresh database: post_migrate creates them
        content_type.objects.using(db).filter(
            app_label="notifications", model=model
        ).delete()
        old.update(app_label="notifications")


def content_types_to_dashboard(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED_MODELS:
        new = content_type.objects.using(db).filter(
            app_label="notifications", model=model
        )
        if new.exists():
            content_type.objects.using(db).filter(
                app_label="dashboard", model=model
            ).delete()
            new.update(app_label="dashboard")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("dashboard", "0002_notification_dedupe_key_broadcastreceipt"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Notification",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("quota.warning", "Quota 80%"),
                                    ("quota.exceeded", "Quota 100%"),
                                    ("payment.succeeded", "Payment succeeded"),
                                    ("payment.failed", "Payment failed"),
                                    ("subscription.changed", "Subscription changed"),
                                    ("job.progress", "Content job progress"),
                                    ("job.completed", "Content job completed"),
                                    ("broadcast", "Announcement"),
                                ],
                                max_length=32,
                            ),
                        ),
                        ("title", models.CharField(max_length=200)),
                        ("body", models.TextField(blank=True)),
                        ("data", models.JSONField(blank=True, default=dict)),
                        ("read_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "dedupe_key",
                            models.CharField(
                                blank=True, max_length=191, null=True, unique=True
                            ),
                        ),
                        (
                            "created_at",
                            models.DateTimeField(auto_now_add=True, db_index=True),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="notifications",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "dashboard_notification",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(
                                fields=["user", "created_at"],
                                name="notif_user_created_idx",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="BroadcastReceipt",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("read_at", models.DateTimeField()),
                        (
                            "notification",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="receipts",
                                to="notifications.notification",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="broadcast_receipts",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "dashboard_broadcastreceipt",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("notification", "user"),
                                name="broadcast_receipt_once",
                            )
                        ],
                    },
                ),
            ],
        ),
        migrations.RunPython(content_types_to_notifications, content_types_to_dashboard),
    ]
