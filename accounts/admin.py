"""Django admin for users and API keys: search, role filter, deactivate, boost,
export, revoke. Staff changes go through the staff services, which audit them."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import (
    AdminPasswordChangeForm,
    UserChangeForm,
    UserCreationForm,
)
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts import services
from accounts.models import ApiKey, User
from billing import selectors as billing_selectors
from flowmatik.audit import audit_record
from flowmatik.csv_export import csv_response


class RoleFilter(admin.SimpleListFilter):
    """admin = staff; premium/user = billing's answer for non-staff users.

    Premium is billing's to decide: `UserAdmin.get_queryset` annotates it from
    billing's own SQL selector, so filtering is one query, not one per user.
    """

    title = "role"
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return [("admin", "Admin"), ("premium", "Premium"), ("user", "User")]

    def queryset(self, request, queryset: QuerySet[User]):
        value = self.value()
        if value == "admin":
            return queryset.filter(is_staff=True)
        if value in ("premium", "user"):
            return queryset.filter(is_staff=False, is_premium=value == "premium")
        return queryset


class _NormalizedEmailMixin:
    """Staff may type any case: e-mails are stored lower-case (a DB constraint)."""

    def clean_email(self) -> str:
        return User.objects.normalize_email(self.cleaned_data.get("email"))


class UserAddForm(_NormalizedEmailMixin, UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("email",)


class UserEditForm(_NormalizedEmailMixin, UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


class QuotaBoostForm(forms.Form):
    requests = forms.IntegerField(min_value=0, initial=100, label="Extra requests/day")
    tokens = forms.IntegerField(min_value=0, initial=0, label="Extra tokens/day")
    hours = forms.IntegerField(
        min_value=1, max_value=24 * 90, initial=24, label="For how many hours"
    )
    reason = forms.CharField(required=False, max_length=255)

    def clean(self):
        data = super().clean()
        if not data.get("requests") and not data.get("tokens"):
            raise forms.ValidationError("Boost requests or tokens.")
        return data


class StaffPasswordForm(AdminPasswordChangeForm):
    """The admin's "change password" page: the password is set, then the account
    is signed out as after a reset (tokens, sockets), like every other path."""

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=commit)
        if commit:
            services.password_set_by_staff(user=user)
        return user


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserAddForm
    change_password_form = StaffPasswordForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    ordering = ("-date_joined",)
    list_display = ("email", "name", "role", "is_active", "is_staff", "date_joined")
    list_filter = (RoleFilter, "is_active", "is_staff", "date_joined")
    search_fields = ("email", "name", "company")
    actions = ["deactivate_users", "grant_quota_boost", "export_csv"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (
            "Profile",
            {"fields": ("name", "company", "timezone", "language", "avatar_url")},
        ),
        ("AI context", {"fields": ("brand_voice", "bio")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        # One subquery for the whole page instead of a plan lookup per row.
        return (
            super()
            .get_queryset(request)
            .annotate(is_premium=billing_selectors.user_premium_exists())
        )

    @admin.display(description="role")
    def role(self, obj: User) -> str:
        if obj.is_staff:
            return "admin"
        is_premium = getattr(obj, "is_premium", None)
        if is_premium is None:  # an instance not loaded through get_queryset
            is_premium = billing_selectors.user_is_premium(user=obj)
        return "premium" if is_premium else "user"

    @admin.action(description="Deactivate selected users (signs them out everywhere)")
    def deactivate_users(self, request: HttpRequest, queryset: QuerySet[User]):
        from dashboard.services import AdminUserChanges, admin_user_update

        count = 0
        for user in queryset.filter(is_active=True).exclude(pk=request.user.pk):
            admin_user_update(
                actor=request.user, user=user, changes=AdminUserChanges(is_active=False)
            )
            count += 1
        self.message_user(request, f"{count} user(s) deactivated.", messages.SUCCESS)

    @admin.action(description="Grant a temporary quota boost")
    def grant_quota_boost(self, request: HttpRequest, queryset: QuerySet[User]):
        from dashboard.services import AdminUserChanges, admin_user_update

        form = QuotaBoostForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            boost = {
                "requests": form.cleaned_data["requests"],
                "tokens": form.cleaned_data["tokens"],
                "until": timezone.now() + timedelta(hours=form.cleaned_data["hours"]),
                "reason": form.cleaned_data["reason"],
            }
            for user in queryset:
                admin_user_update(
                    actor=request.user, user=user, changes=AdminUserChanges(boost=boost)
                )
            self.message_user(
                request,
                f"Boost granted to {queryset.count()} user(s).",
                messages.SUCCESS,
            )
            return None
        return TemplateResponse(
            request,
            "admin/accounts/user/quota_boost.html",
            {
                **self.admin_site.each_context(request),
                "title": "Grant a temporary quota boost",
                "opts": self.model._meta,
                "form": form,
                "users": queryset,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Export selected users as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[User]):
        users = queryset.annotate(
            plan_slug=billing_selectors.user_plan_slug_expression(),
            provider=billing_selectors.user_provider_expression(),
        ).order_by("pk")
        return csv_response(
            filename="users.csv",
            header=[
                "id",
                "email",
                "name",
                "company",
                "role",
                "plan",
                "provider",
                "is_active",
                "date_joined",
                "last_login",
            ],
            rows=(
                [
                    user.pk,
                    user.email,
                    user.name,
                    user.company,
                    self.role(user),
                    user.plan_slug,
                    user.provider,
                    user.is_active,
                    user.date_joined.isoformat(),
                    user.last_login.isoformat() if user.last_login else "",
                ]
                for user in users.iterator()
            ),
        )

    def save_model(self, request, obj: User, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            services.user_admin_saved(user=obj, changed=set(form.changed_data))


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "user",
        "display_prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = (
        ("revoked_at", admin.EmptyFieldListFilter),
        ("expires_at", admin.EmptyFieldListFilter),
        "created_at",
    )
    search_fields = ("user__email", "name", "prefix")
    list_select_related = ("user",)
    readonly_fields = (
        "user",
        "name",
        "prefix",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "created_at",
    )
    exclude = ("hashed_key",)
    actions = ["revoke_keys"]

    @admin.display(description="prefix")
    def display_prefix(self, obj: ApiKey) -> str:
        return f"fmk_{obj.prefix}…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are created by their owner, who sees the secret once

    @admin.action(description="Revoke selected API keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]):
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(api_key=api_key)
            audit_record(
                actor=request.user,
                action="api_key.revoke",
                target=api_key,
                before={"revoked_at": None},
                after={"revoked_at": api_key.revoked_at.isoformat()},
                details={"user_id": api_key.user_id},
            )
            count += 1
        self.message_user(request, f"{count} key(s) revoked.", messages.SUCCESS)
