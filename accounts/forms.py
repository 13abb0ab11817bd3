"""Portal forms: input only; the account services do the work."""

from django import forms


class LoginForm(forms.Form):
    email = forms.EmailField(max_length=254)
    password = forms.CharField(widget=forms.PasswordInput, strip=False, max_length=256)


class SignupForm(forms.Form):
    name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(max_length=254)
    password = forms.CharField(widget=forms.PasswordInput, strip=False, max_length=256)


class ForgotPasswordForm(forms.Form):
    email = forms.EmailField(max_length=254)


class ResetPasswordForm(forms.Form):
    new_password = forms.CharField(
        widget=forms.PasswordInput, strip=False, max_length=256
    )
    new_password_again = forms.CharField(
        widget=forms.PasswordInput, strip=False, max_length=256
    )

    def clean(self):
        data = super().clean()
        if data.get("new_password") != data.get("new_password_again"):
            raise forms.ValidationError("The two passwords differ.")
        return data
