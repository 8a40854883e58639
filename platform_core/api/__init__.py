"""The REST API's shared machinery: the base view, permissions, the one error shape, parsers,
throttling and cursor pagination. The authentication (it reads the endpoints app's keys) and the
URL map are in ``webhooks_platform.api``; views and serializers live in each app's ``api``
package."""
