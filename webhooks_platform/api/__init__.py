"""The REST API's wiring: API-key authentication and the URL map. The base classes are in
``platform_core.api``; views and serializers live in each app's ``api`` package."""
