import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webhooks_platform.settings")

from webhooks_platform.middleware import ChunkedBody  # noqa: E402  (after the settings module)

application = ChunkedBody(get_wsgi_application())
