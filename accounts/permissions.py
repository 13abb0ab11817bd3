"""Reusable DRF permissions: roles and plan-feature gates.

    permission_classes = [IsAuthenticated, HasPlanFeature(Feature.IMAGES)]

An anonymous caller is refused with 401 (DRF's rule when authenticators exist); an
authenticated one without the role or feature gets a 403 with a stable code.
Whether a user is premium or has a feature is billing's answer (`billing.selectors`).
"""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.errors import AdminRequired, PlanFeatureRequired, PremiumRequired
from accounts.selectors import user_role
from billing import selectors as billing_selectors


def _authenticated(request: Request) -> bool:
    user = getattr(request, "user", None)
    return bool(user and user.is_authenticated)


class IsAdmin(BasePermission):
    """The `admin` role (staff)."""

    def has_permission(self, request: Request, view) -> bool:
        if not _authenticated(request):
            return False
        if not request.user.is_staff:
            raise AdminRequired()
        return True


class IsPremium(BasePermission):
    """The `premium` role: an active paid plan. Admins pass too."""

    def has_permission(self, request: Request, view) -> bool:
        if not _authenticated(request):
            return False
        if user_role(user=request.user) == "user":
            raise PremiumRequired()
        return True


class _PlanFeaturePermission(BasePermission):
    feature = ""

    def has_permission(self, request: Request, view) -> bool:
        if not _authenticated(request):
            return False
        if not billing_selectors.user_has_feature(
            user=request.user, feature=self.feature
        ):
            raise PlanFeatureRequired(
                f"Your plan does not include {self.feature}.",
                details={"feature": self.feature},
            )
        return True


def HasPlanFeature(feature: str) -> type[BasePermission]:
    """A permission class admitting users whose plan includes `feature`."""
    return type(
        f"HasPlanFeature_{feature}",
        (_PlanFeaturePermission,),
        {"feature": feature, "__doc__": f"The plan includes `{feature}`."},
    )
