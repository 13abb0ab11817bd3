"""`manage.py seed`: create missing seed rows (plans, AI models, agents); idempotent."""

from importlib import import_module

from django.core.management.base import BaseCommand

# (module, function) pairs; each returns how many rows it created.
SEEDERS = [
    ("billing.services", "plan_seed_defaults"),
    ("ai.services", "model_seed_defaults"),
    ("ai.services", "agent_seed_defaults"),
    ("ai.services.workflows", "workflow_seed_defaults"),
]


class Command(BaseCommand):
    help = "Create missing seed data (plans, AI models, agents). Safe to run again."

    def handle(self, *args, **options) -> None:
        for module_name, function_name in SEEDERS:
            try:
                seeder = getattr(import_module(module_name), function_name)
            except (ImportError, AttributeError):
                continue
            created = seeder()
            self.stdout.write(f"{module_name}.{function_name}: {created} created")
