"""Notifications moved to the `notifications` app (see its 0001): state only."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0002_notification_dedupe_key_broadcastreceipt"),
        ("notifications", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="BroadcastReceipt"),
                migrations.DeleteModel(name="Notification"),
            ],
        )
    ]
