"""Portal forms: input only; the account services do the work."""

from typing import Any

from django import forms
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
