"""Seed the model catalogue: SiliconFlow, Doubao 1.5 Pro 32k and the local demo."""

from django.db import migrations

from ai.seed_data import MODELS, seed_models


def seed(apps, schema_editor):
    seed_models(apps.get_model("ai", "AIModel"))


def unseed(apps, schema_editor):
    apps.get_model("ai", "AIModel").objects.filter(
        model_id__in=[m["model_id"] for m in MODELS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("ai", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
