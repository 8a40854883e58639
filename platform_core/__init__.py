"""The plumbing under both apps: settings access (``conf``), database helpers (``db``,
``replica``, ``pagination``), ids, the shared errors, the Celery app and its embedded broker,
logging formats, metrics, the process supervisor, and the API's base classes (``api``).

It imports neither app nor ``webhooks_platform``: ``endpoints`` and ``deliveries`` build on it,
and the project package (``webhooks_platform``: settings, URL maps, the Svix adapter) wires them
together. Where plumbing needs an app's model it is told at start-up (see
``api.permissions.api_key_type_register``)."""
