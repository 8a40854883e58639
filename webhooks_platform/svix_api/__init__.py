"""A Svix-compatible REST API over the platform's services, so the official Svix SDKs work by
changing their server URL. A thin adapter: its own serializers, views and URL map; every rule
lives in the services the native API uses."""
