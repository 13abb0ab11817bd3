"""Portal forms of the staff pages: input only; dashboard's selectors and services
do the work."""

from django import forms
from django.utils.translation import gettext_lazy as _

from dashboard.models import AnnouncementAudience, AnnouncementLevel


class UserSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search by e-mail or name"), required=False, max_length=254
    )
    role = forms.ChoiceField(
        label=_("Role"),
        required=False,
        choices=[
            ("", _("Any role")),
            ("admin", _("Admin")),
            ("premium", _("Premium")),
            ("user", _("User")),
        ],
    )


class AnnouncementForm(forms.Form):
    audience = forms.ChoiceField(
        label=_("Send to"),
        choices=[
            (AnnouncementAudience.ALL, _("Everyone")),
            (AnnouncementAudience.PLAN, _("Everyone on a plan")),
            (AnnouncementAudience.USER, _("One user")),
        ],
    )
    plan = forms.SlugField(
        label=_("Plan (for “Everyone on a plan”)"), required=False, max_length=32
    )
    user_id = forms.IntegerField(
        label=_("User id (for “One user”)"), required=False, min_value=1
    )
    title = forms.CharField(label=_("Title"), max_length=200)
    body = forms.CharField(
        label=_("Message"), required=False, max_length=10_000, widget=forms.Textarea
    )
    level = forms.ChoiceField(
        label=_("Level"),
        choices=[
            (AnnouncementLevel.INFO, _("Info")),
            (AnnouncementLevel.WARNING, _("Warning")),
            (AnnouncementLevel.CRITICAL, _("Critical")),
        ],
    )
    email = forms.BooleanField(label=_("Also send by e-mail"), required=False)

    def clean(self):
        data = super().clean()
        audience = data.get("audience")
        if audience == AnnouncementAudience.USER and not data.get("user_id"):
            self.add_error("user_id", _("Give the id of the user to notify."))
        if audience == AnnouncementAudience.PLAN and not data.get("plan"):
            self.add_error("plan", _("Give the plan whose users to notify."))
        return data


class WebhookRetryForm(forms.Form):
    event = forms.IntegerField(min_value=1)
