"""REST API views and serializers for tenants, event types and endpoints.

The routes are mapped in ``webhooks_platform.api.urls``.
"""
