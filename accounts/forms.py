"""Portal forms: input only; the account services do the work."""

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


def _password(label: Any, autocomplete: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
        strip=False,
        max_length=256,
    )


def _email() -> forms.EmailField:
    return forms.EmailField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class LoginForm(forms.Form):
    email = _email()
    password = _password(_("Password"), "current-password")


class SignupForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = _email()
    password = _password(_("Password"), "new-password")


class ForgotPasswordForm(forms.Form):
    email = _email()


class ResetPasswordForm(forms.Form):
    new_password = _password(_("New password"), "new-password")
    new_password_again = _password(_("New password, again"), "new-password")

    def clean(self):
        data = super().clean()
        if data.get("new_password") != data.get("new_password_again"):
            raise forms.ValidationError(_("The two passwords differ."))
        return data


class ProfileForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    brand_voice = forms.CharField(
        label=_("Brand voice"),
        required=False,
        max_length=2000,
        help_text=_(
            "The tone and style the AI writes in for you, e.g. “friendly, short "
            "sentences, no jargon”."
        ),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    bio = forms.CharField(
        label=_("About you"),
        required=False,
        max_length=2000,
        help_text=_("A few words about you or your business, given to the AI."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class PasswordChangeForm(forms.Form):
    current_password = _password(_("Current password"), "current-password")
    new_password = _password(_("New password"), "new-password")
    new_password_again = _password(_("New password, again"), "new-password")

    def clean(self):
        data = super().clean()
        if data.get("new_password") != data.get("new_password_again"):
            raise forms.ValidationError(_("The two new passwords differ."))
        return data


API_KEY_EXPIRY_CHOICES = [
    ("", _("Never")),
    ("30", _("In 30 days")),
    ("90", _("In 90 days")),
    ("365", _("In a year")),
]


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Key name"),
        max_length=100,
        help_text=_("To tell your keys apart, e.g. “blog automation”."),
    )
    expires_in_days = forms.TypedChoiceField(
        label=_("Expires"),
        choices=API_KEY_EXPIRY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
    )
