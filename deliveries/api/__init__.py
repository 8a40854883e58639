"""REST API views and serializers for events, deliveries, attempts and jobs.

The routes are mapped in ``webhooks_platform.api.urls``.
"""
