"""Django admin for users and API keys: search, role filter, deactivate, revoke."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import services
from accounts.models import ApiKey, User
from billing import selectors as billing_selectors


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


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserAddForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    ordering = ("-date_joined",)
    list_display = ("email", "name", "role", "is_active", "is_staff", "date_joined")
    list_filter = (RoleFilter, "is_active", "is_staff", "date_joined")
    search_fields = ("email", "name", "company")
    actions = ["deactivate_users"]
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
        count = 0
        for user in queryset.filter(is_active=True):
            services.user_deactivate(user=user)
            count += 1
        self.message_user(request, f"{count} user(s) deactivated.", messages.SUCCESS)

    def save_model(self, request, obj: User, form, change) -> None:
        deactivating = change and "is_active" in form.changed_data and not obj.is_active
        super().save_model(request, obj, form, change)
        if deactivating:
            services.user_deactivate(user=obj)


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
            count += 1
        self.message_user(request, f"{count} key(s) revoked.", messages.SUCCESS)
