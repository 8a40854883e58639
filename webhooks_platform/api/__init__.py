"""The REST API's shared machinery: API-key authentication, permissions, the one error shape,
cursor pagination and the URL map. Views and serializers live in each app's ``api`` package."""
