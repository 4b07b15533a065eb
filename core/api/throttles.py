"""Rate limits for anonymous and authenticated (token or session) requests.

DRF's own classes copy the rates once, at import; these read `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` on
every request, so a changed setting (an environment override, a test) takes effect without a restart.
"""
from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class AnonymousThrottle(AnonRateThrottle):
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class UserThrottle(UserRateThrottle):
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class ThrottleRefusedRequestsMixin:
    """Count refused anonymous requests too (bad or missing tokens), so guessing keys hits the anon limit.

    DRF checks permissions before throttles, so without this an anonymous client would get 401s forever and
    never be slowed down.
    """

    def initial(self, request, *args, **kwargs):
        try:
            super().initial(request, *args, **kwargs)
        except (exceptions.NotAuthenticated, exceptions.AuthenticationFailed):
            self.check_throttles(request)
            raise
