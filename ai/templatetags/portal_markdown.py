"""`{{ text|markdown }}`: a chat reply or studio text as safe HTML."""

from django import template
from django.utils.safestring import SafeString

from flowmatik.safe_markdown import markdown_to_html

register = template.Library()


@register.filter(name="markdown")
def markdown(value: object) -> SafeString:
    return markdown_to_html(value)
