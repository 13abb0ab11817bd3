"""Seed the four plans of the design document (prices, daily limits, features)."""

from django.db import migrations

from billing.seed_data import PLANS


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for data in PLANS:
        Plan.objects.update_or_create(slug=data["slug"], defaults=data)


def unseed(apps, schema_editor):
    apps.get_model("billing", "Plan").objects.filter(
        slug__in=[p["slug"] for p in PLANS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
