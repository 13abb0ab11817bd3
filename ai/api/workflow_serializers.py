"""Serializers of workflows (`/api/ai/workflows`)."""

from rest_framework import serializers

from ai.services.jobs import TEXT_TYPES

_TEXT_TYPES = sorted(str(t) for t in TEXT_TYPES)


class WorkflowStepSerializer(serializers.Serializer):
    name = serializers.RegexField(
        r"^[a-z][a-z0-9_]{0,39}$", help_text="Unique in the workflow (a-z, 0-9, _)."
    )
    prompt = serializers.CharField(
        trim_whitespace=False,
        help_text="A template: `{{ inputs.<name> }}`, `{{ steps.<earlier step> }}`, "
        "filters and if/for/with tags; no other tags, no code.",
    )
    type = serializers.ChoiceField(
        _TEXT_TYPES,
        required=False,
        allow_blank=True,
        help_text="A studio text type whose format the step writes (empty: free text).",
    )
    agent = serializers.SlugField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="An agent whose persona (and model) writes the step.",
    )


class WorkflowInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(
        max_length=500, required=False, allow_blank=True
    )
    inputs = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, default=list
    )
    steps = WorkflowStepSerializer(many=True)


class WorkflowPatchSerializer(WorkflowInputSerializer):
    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        fields["inputs"].default = serializers.empty
        return fields


class WorkflowOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    inputs = serializers.ListField(child=serializers.CharField())
    steps = WorkflowStepSerializer(many=True)
    template = serializers.BooleanField(
        help_text="A public template (read-only: copy it to edit)."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WorkflowRunInputSerializer(serializers.Serializer):
    inputs = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        default=dict,
        help_text="A value for each of the workflow's inputs.",
    )


def workflow_data(workflow) -> dict:
    return {
        "id": workflow.pk,
        "name": workflow.name,
        "description": workflow.description,
        "inputs": workflow.inputs,
        "steps": workflow.steps,
        "template": workflow.owner_id is None,
        "created_at": workflow.created_at,
        "updated_at": workflow.updated_at,
    }
