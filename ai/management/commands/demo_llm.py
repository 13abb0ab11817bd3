"""`manage.py demo_llm`: serve the local demo model (OpenAI-compatible) with uvicorn."""

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand

from ai.demo.app import create_app


class Command(BaseCommand):
    help = "Run the local demo AI model server (AI_DEMO_HOST:AI_DEMO_PORT)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=settings.AI_DEMO_HOST)
        parser.add_argument("--port", type=int, default=settings.AI_DEMO_PORT)

    def handle(self, *args, host: str, port: int, **options) -> None:
        self.stdout.write(
            f"Local demo model (not a real LLM) on http://{host}:{port}/v1"
        )
        uvicorn.run(
            create_app(tokens_per_second=settings.AI_DEMO_TOKENS_PER_SECOND),
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
        )
